-- Intermediate: one row per parcel in scope with owner flags, ownership length, an equity
-- estimate and the distress-list history, as of the market's as-of month. A market-partitioned
-- table: properties, lead signals and repair estimates all read it, and computing it (name
-- patterns, address comparison, loan amortisation over every parcel) once instead of three
-- times is the largest saving at county scale (see docs/benchmarks.md).
{{ config(materialized='market_partitioned') }}
{% set ltv = var('signal_equity_ltv') -%}
{%- set term_months = var('signal_equity_loan_years') * 12 -%}
{%- set monthly_rate = var('signal_equity_rate') / 12 -%}

with

parcels as (

    select * from {{ ref('stg_fl_dor__parcels') }}
    where {{ market_filter() }}

),

as_of as (

    select * from {{ ref('int_market_as_of_months') }}

),

code_violations as (

    select * from {{ ref('int_code_violations_aggregated_to_parcels') }}

),

lis_pendens as (

    select * from {{ ref('int_lis_pendens_aggregated_to_parcels') }}

),

tax_deeds as (

    select * from {{ ref('int_tax_deed_applications_aggregated_to_parcels') }}

),

-- centroid of the parcel's geometry (county GIS), when the market has a locations source
locations as (

    select property_id, latitude, longitude
    from {{ ref('stg_county_gis__parcel_locations') }}
    where {{ market_filter() }}

),

owner_flags as (

    select
        parcels.*,
        as_of.as_of_month,

        -- mailing address differs from the house (punctuation and case ignored)
        coalesce(
            replace(replace(owner_address_line_1, '.', ''), ',', '')
                <> replace(replace(situs_address, '.', ''), ',', '')
            or owner_zip <> situs_zip,
            false
        ) as is_mailing_elsewhere,

        coalesce(coalesce(owner_state, owner_domicile_state) not in ('FL', 'FLORIDA'), false)
            as is_out_of_state_owner,

        coalesce(
            owner_name like 'ESTATE OF %'
            or owner_name like '% ESTATE OF %'
            or owner_name like '% EST'
            or owner_name like '% EST OF %'
            or owner_name like '%HEIRS%'
            or owner_name like '%DECEASED%'
            or owner_name like '% DECD%'
            or owner_name like '%PERS REP%'
            or owner_name like '%PERSONAL REPRESENTATIVE%'
            or owner_name like '%LIFE EST%'
            or owner_name like '% L/E%'
            -- a fiduciary (personal representative, guardian) on an owner that is not a trust
            or (fiduciary_name is not null and not {{ trust_name('owner_name') }}),
            false
        ) as is_estate_owner,

        coalesce({{ trust_name('owner_name') }}, false) as is_trust_owner,

        coalesce(
            owner_name like '% LLC%'
            or owner_name like '% INC%'
            or owner_name like '% CORP%'
            or owner_name like '% LTD%'
            or owner_name like '% LP'
            or owner_name like '% LLLP'
            or owner_name like '% CO'
            or owner_name like '% COMPANY%'
            or owner_name like '%BANK%'
            or owner_name like '%ASSOCIATION%',
            false
        ) as is_entity_owner,

        -- the most recent sale with a real price (not a nominal $100 deed), for the loan estimate
        case
            when last_sale_month is not null and last_sale_price >= 1000 then last_sale_price
            when previous_sale_month is not null and previous_sale_price >= 1000 then previous_sale_price
        end as priced_sale_price,
        case
            when last_sale_month is not null and last_sale_price >= 1000 then last_sale_month
            when previous_sale_month is not null and previous_sale_price >= 1000 then previous_sale_month
        end as priced_sale_month

    from parcels
    inner join as_of
        on parcels.market_code = as_of.market_code

),

ownership as (

    select
        *,
        -- absentee: mails elsewhere and claims no homestead here
        (is_mailing_elsewhere and not is_homestead) as is_absentee_owner,
        case
            when last_sale_month is not null
                then greatest(0, {{ dbt.datediff('last_sale_month', 'as_of_month', 'month') }})
        end as months_owned,
        case
            when priced_sale_month is not null
                then least(
                    {{ term_months }},
                    greatest(0, {{ dbt.datediff('priced_sale_month', 'as_of_month', 'month') }})
                )
        end as loan_months_paid
    from owner_flags

),

equity as (

    select
        *,
        -- remaining balance of an assumed loan (signal_equity_ltv of the last priced sale,
        -- signal_equity_loan_years, signal_equity_rate): 0 when the only transfers were nominal,
        -- null when no transfer is on the roll at all
        case
            when last_sale_month is null and previous_sale_month is null then null
            when priced_sale_price is null then 0
            {%- if monthly_rate > 0 %}
            else {{ ltv }} * priced_sale_price
                * (power(1 + {{ monthly_rate }}, {{ term_months }}) - power(1 + {{ monthly_rate }}, loan_months_paid))
                / (power(1 + {{ monthly_rate }}, {{ term_months }}) - 1)
            {%- else %}
            else {{ ltv }} * priced_sale_price * ({{ term_months }} - loan_months_paid) / {{ term_months }}
            {%- endif %}
        end as estimated_loan_balance_raw
    from ownership

),

final as (

    select
        -- ids
        equity.property_id,
        equity.parcel_id,
        equity.market_code,
        equity.county_number,
        equity.alternate_key,
        equity.assessment_year,
        equity.as_of_month,

        -- use and building
        equity.dor_use_code,
        equity.use_family,
        equity.appraiser_use_code,
        -- the scored universe: residential (001, 002, 004, 005, 008) with a building on it
        coalesce(
            equity.dor_use_code in ('001', '002', '004', '005', '008')
            and (equity.living_area_sqft is not null or equity.year_built is not null),
            false
        ) as is_scored_residential,
        equity.living_area_sqft,
        equity.year_built,
        equity.effective_year_built,
        equity.quality_code,
        equity.construction_class,
        equity.building_count,
        equity.residential_unit_count,

        -- values
        equity.just_value,
        equity.land_value,
        equity.homestead_just_value,
        equity.homestead_exemption_amount,

        -- location
        equity.neighborhood_code,
        equity.market_area_code,
        equity.census_block,
        equity.situs_address,
        equity.situs_address_line_2,
        equity.situs_city,
        equity.situs_zip,
        locations.latitude,
        locations.longitude,
        locations.property_id is not null as has_location,

        -- owner
        equity.owner_name,
        equity.owner_address_line_1,
        equity.owner_address_line_2,
        equity.owner_city,
        equity.owner_state,
        equity.owner_zip,
        equity.owner_domicile_state,
        equity.fiduciary_name,
        equity.fiduciary_address_line_1,
        equity.fiduciary_address_line_2,
        equity.fiduciary_city,
        equity.fiduciary_state,
        equity.fiduciary_zip,
        equity.fiduciary_code,
        equity.is_homestead,
        equity.is_mailing_elsewhere,
        equity.is_absentee_owner,
        equity.is_out_of_state_owner,
        equity.is_estate_owner,
        equity.is_trust_owner,
        equity.is_entity_owner,

        -- sales and ownership length
        equity.last_sale_price,
        equity.last_sale_month,
        equity.last_sale_qualification_code,
        equity.last_sale_vacant_improved_code,
        equity.previous_sale_price,
        equity.previous_sale_month,
        equity.previous_sale_qualification_code,
        equity.previous_sale_vacant_improved_code,
        equity.months_owned,
        round(equity.months_owned / 12.0, 2) as years_owned,

        -- equity proxy (does not use ARV: just value and the roll's sale history only)
        cast(round(equity.estimated_loan_balance_raw, 0) as {{ dbt.type_bigint() }}) as estimated_loan_balance,
        case
            when equity.just_value > 0 and equity.estimated_loan_balance_raw is not null
                then round(
                    (equity.just_value - equity.estimated_loan_balance_raw) / equity.just_value, 4
                )
        end as estimated_equity_ratio,

        -- distress lists
        coalesce(code_violations.code_violation_count, 0) as code_violation_count,
        coalesce(code_violations.open_code_violation_count, 0) as open_code_violation_count,
        coalesce(code_violations.recent_code_violation_count, 0) as recent_code_violation_count,
        coalesce(code_violations.vacancy_code_violation_count, 0) as vacancy_code_violation_count,
        coalesce(code_violations.structural_code_violation_count, 0) as structural_code_violation_count,
        coalesce(code_violations.open_code_violation_fine_amount, 0) as open_code_violation_fine_amount,
        code_violations.last_code_violation_opened_date,
        coalesce(lis_pendens.lis_pendens_count, 0) as lis_pendens_count,
        coalesce(lis_pendens.recent_lis_pendens_count, 0) as recent_lis_pendens_count,
        coalesce(lis_pendens.recent_foreclosure_count, 0) as recent_foreclosure_count,
        lis_pendens.last_lis_pendens_filed_date,
        coalesce(tax_deeds.tax_deed_application_count, 0) as tax_deed_application_count,
        coalesce(tax_deeds.active_tax_deed_application_count, 0) as active_tax_deed_application_count,
        coalesce(tax_deeds.recent_tax_deed_application_count, 0) as recent_tax_deed_application_count,
        coalesce(tax_deeds.active_opening_bid_amount, 0) as active_opening_bid_amount,
        tax_deeds.last_tax_deed_application_date,

        equity.source_file

    from equity
    left join code_violations
        on equity.property_id = code_violations.property_id
    left join lis_pendens
        on equity.property_id = lis_pendens.property_id
    left join tax_deeds
        on equity.property_id = tax_deeds.property_id
    left join locations
        on equity.property_id = locations.property_id

)

select * from final
