-- Staging: one row per parcel per market from the Florida DOR NAL roll, renamed and typed.
with

source as (

    select * from {{ source('fl_dor', 'nal_parcels') }}

),

coded as (

    select
        *,
        {{ padded_code('dor_uc', 3) }} as dor_use_code,
        {{ padded_code('qual_cd1', 2) }} as qual_code_1,
        {{ padded_code('qual_cd2', 2) }} as qual_code_2
    from source

),

renamed as (

    select
        -- ids
        {{ property_id('parcel_id') }} as property_id,
        {{ clean_text('parcel_id') }} as parcel_id,
        market_code,
        co_no as county_number,
        {{ clean_text('alt_key') }} as alternate_key,
        asmnt_yr as assessment_year,

        -- use
        dor_use_code,
        {{ use_family('dor_use_code') }} as use_family,
        {{ clean_text('pa_uc') }} as appraiser_use_code,

        -- values
        jv as just_value,
        lnd_val as land_value,
        jv_hmstd as homestead_just_value,
        exmpt_01 as homestead_exemption_amount,

        -- building
        case when tot_lvg_area > 0 then tot_lvg_area end as living_area_sqft,
        case when act_yr_blt > 0 then act_yr_blt end as year_built,
        case when eff_yr_blt > 0 then eff_yr_blt end as effective_year_built,
        {{ clean_text('imp_qual') }} as quality_code,
        {{ clean_text('const_class') }} as construction_class,
        no_buldng as building_count,
        no_res_unts as residential_unit_count,

        -- location
        {{ clean_text('nbrhd_cd') }} as neighborhood_code,
        {{ clean_text('mkt_ar') }} as market_area_code,
        {{ clean_text('census_bk') }} as census_block,
        {{ clean_upper('phy_addr1') }} as situs_address,
        {{ clean_upper('phy_addr2') }} as situs_address_line_2,
        {{ clean_upper('phy_city') }} as situs_city,
        {{ zip5('phy_zipcd') }} as situs_zip,

        -- owner (mailing)
        {{ clean_upper('own_name') }} as owner_name,
        {{ clean_upper('own_addr1') }} as owner_address_line_1,
        {{ clean_upper('own_addr2') }} as owner_address_line_2,
        {{ clean_upper('own_city') }} as owner_city,
        {{ clean_upper('own_state') }} as owner_state,
        {{ zip5('own_zipcd') }} as owner_zip,
        {{ clean_upper('own_zipcd') }} as owner_zip_raw,
        {{ clean_upper('own_state_dom') }} as owner_domicile_state,

        -- fiduciary
        {{ clean_upper('fidu_name') }} as fiduciary_name,
        {{ clean_upper('fidu_addr1') }} as fiduciary_address_line_1,
        {{ clean_upper('fidu_addr2') }} as fiduciary_address_line_2,
        {{ clean_upper('fidu_city') }} as fiduciary_city,
        {{ clean_upper('fidu_state') }} as fiduciary_state,
        {{ zip5('fidu_zipcd') }} as fiduciary_zip,
        {{ clean_text('fidu_cd') }} as fiduciary_code,

        -- homestead
        (coalesce(jv_hmstd, 0) > 0 or coalesce(exmpt_01, 0) > 0) as is_homestead,

        -- last sale (sale 1) and the one before (sale 2)
        sale_prc1 as last_sale_price,
        {{ month_start_date('sale_yr1', 'sale_mo1') }} as last_sale_month,
        qual_code_1 as last_sale_qualification_code,
        {{ clean_upper('vi_cd1') }} as last_sale_vacant_improved_code,
        sale_prc2 as previous_sale_price,
        {{ month_start_date('sale_yr2', 'sale_mo2') }} as previous_sale_month,
        qual_code_2 as previous_sale_qualification_code,
        {{ clean_upper('vi_cd2') }} as previous_sale_vacant_improved_code,

        source_file

    from coded

)

select * from renamed
