-- Staging: one row per recorded sale from the Florida DOR SDF file (exact duplicate rows dropped).
with

source as (

    select * from {{ source('fl_dor', 'sdf_sales') }}

),

renamed as (

    select
        market_code,
        {{ clean_text('parcel_id') }} as parcel_id,
        {{ property_id('parcel_id') }} as property_id,
        co_no as county_number,
        asmnt_yr as assessment_year,
        {{ padded_code('dor_uc', 3) }} as dor_use_code,
        {{ clean_text('nbrhd_cd') }} as neighborhood_code,
        {{ clean_text('mkt_ar') }} as market_area_code,
        {{ clean_text('census_bk') }} as census_block,
        {{ clean_text('sale_id_cd') }} as sale_identification_code,
        {{ clean_text('sal_chg_cd') }} as sale_change_code,
        {{ clean_upper('vi_cd') }} as vacant_improved_code,
        {{ clean_text('or_book') }} as official_record_book,
        {{ clean_text('or_page') }} as official_record_page,
        {{ clean_text('clerk_no') }} as clerk_number,
        {{ padded_code('qual_cd', 2) }} as qualification_code,
        sale_yr as sale_year,
        sale_mo as sale_month_number,
        {{ month_start_date('sale_yr', 'sale_mo') }} as sale_month,
        sale_prc as sale_price,
        {{ clean_upper('multi_par_sal') }} as multi_parcel_sale_code,
        source_file
    from source

),

deduplicated as (

    select
        *,
        row_number() over (
            partition by
                market_code, parcel_id, sale_year, sale_month_number, official_record_book,
                official_record_page, clerk_number, sale_price, qualification_code,
                vacant_improved_code, multi_parcel_sale_code, sale_change_code,
                sale_identification_code, dor_use_code, neighborhood_code, market_area_code
            order by source_file
        ) as duplicate_number
    from renamed

),

numbered as (

    -- several sales of one parcel in one month get a sequence number, in a fixed order
    select
        *,
        row_number() over (
            partition by market_code, parcel_id, sale_year, sale_month_number
            order by
                clerk_number, official_record_book, official_record_page, sale_price,
                qualification_code, vacant_improved_code, multi_parcel_sale_code,
                sale_change_code, sale_identification_code, dor_use_code,
                neighborhood_code, market_area_code
        ) as sale_sequence
    from deduplicated
    where duplicate_number = 1

),

final as (

    select
        property_id || '-'
            || cast(coalesce(sale_year, 0) * 100 + coalesce(sale_month_number, 0) as {{ dbt.type_string() }})
            || '-' || cast(sale_sequence as {{ dbt.type_string() }}) as sale_id,
        property_id,
        parcel_id,
        market_code,
        county_number,
        assessment_year,
        dor_use_code,
        {{ use_family('dor_use_code') }} as use_family_at_sale,
        neighborhood_code,
        market_area_code,
        census_block,
        sale_year,
        sale_month_number,
        sale_month,
        sale_price,
        qualification_code,
        coalesce(qualification_code in ('01', '02'), false) as is_qualified,
        vacant_improved_code,
        coalesce(vacant_improved_code = 'I', false) as is_improved,
        multi_parcel_sale_code,
        coalesce(multi_parcel_sale_code not in ('N', '0', 'NO'), false) as is_multi_parcel_sale,
        sale_identification_code,
        sale_change_code,
        official_record_book,
        official_record_page,
        clerk_number,
        source_file
    from numbered

)

select * from final
