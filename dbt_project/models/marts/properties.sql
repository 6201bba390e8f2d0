-- Mart: one row per parcel (every use code), descriptive: location, building, values, owner,
-- last sales, owner flags and distress-list counts as of the market's as-of month.
-- A view over the market-partitioned int_parcels_enriched table, which already holds every
-- row once: materializing the same 2 M rows x 79 columns a second time cost ~7 s per large
-- county (docs/benchmarks.md). No market filter here: the view serves every market loaded.
{{ config(materialized='view') }}
select
    property_id,
    market_code,
    parcel_id,
    county_number,
    alternate_key,
    assessment_year,
    as_of_month,

    dor_use_code,
    use_family,
    appraiser_use_code,
    is_scored_residential,
    living_area_sqft,
    year_built,
    effective_year_built,
    quality_code,
    construction_class,
    building_count,
    residential_unit_count,

    just_value,
    land_value,

    situs_address,
    situs_address_line_2,
    situs_city,
    situs_zip,
    neighborhood_code,
    market_area_code,
    census_block,

    owner_name,
    owner_address_line_1,
    owner_address_line_2,
    owner_city,
    owner_state,
    owner_zip,
    owner_domicile_state,
    fiduciary_name,
    fiduciary_address_line_1,
    fiduciary_address_line_2,
    fiduciary_city,
    fiduciary_state,
    fiduciary_zip,
    fiduciary_code,
    is_homestead,
    is_absentee_owner,
    is_out_of_state_owner,
    is_estate_owner,
    is_trust_owner,
    is_entity_owner,

    last_sale_price,
    last_sale_month,
    last_sale_qualification_code,
    last_sale_vacant_improved_code,
    previous_sale_price,
    previous_sale_month,
    previous_sale_qualification_code,
    previous_sale_vacant_improved_code,
    years_owned,
    estimated_loan_balance,
    estimated_equity_ratio,

    code_violation_count,
    open_code_violation_count,
    recent_code_violation_count,
    vacancy_code_violation_count,
    lis_pendens_count,
    recent_lis_pendens_count,
    tax_deed_application_count,
    active_tax_deed_application_count,

    source_file

from {{ ref('int_parcels_enriched') }}
