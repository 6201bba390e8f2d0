-- Intermediate: one row per scored residential parcel with the points of every distress signal
-- (weights score_<signal>, rules signal_*; docs/scoring.md). Does not depend on ARV.
with

parcels as (

    select * from {{ ref('int_parcels_enriched') }}
    where {{ market_filter() }}
        and is_scored_residential

),

signals as (

    select
        property_id,
        market_code,
        parcel_id,
        as_of_month,
        dor_use_code,
        use_family,
        living_area_sqft,
        year_built,
        neighborhood_code,
        market_area_code,
        situs_zip,
        years_owned,
        estimated_equity_ratio,
        last_sale_qualification_code,

        {{ signal_points('lis_pendens', 'recent_lis_pendens_count > 0') }} as lis_pendens_points,

        {{ signal_points(
            'tax_deed',
            'active_tax_deed_application_count > 0',
            'recent_tax_deed_application_count > 0',
        ) }} as tax_deed_points,

        {{ signal_points(
            'code_violation',
            'open_code_violation_count > 0',
            'recent_code_violation_count > 0',
        ) }} as code_violation_points,

        {{ signal_points('vacancy', 'vacancy_code_violation_count > 0') }} as vacancy_points,

        {{ signal_points('estate_trust', 'is_estate_owner', 'is_trust_owner') }} as estate_trust_points,

        {{ signal_points(
            'distressed_sale',
            "last_sale_qualification_code in ('19', '38') and months_owned < "
                ~ var('signal_distressed_sale_max_years') * 12,
            "last_sale_qualification_code in ('11', '30') and months_owned < "
                ~ var('signal_distressed_sale_max_years') * 12,
        ) }} as distressed_sale_points,

        {{ signal_points('absentee', 'is_absentee_owner') }} as absentee_points,

        {{ signal_points('out_of_state', 'is_out_of_state_owner') }} as out_of_state_points,

        {{ signal_points('no_homestead', 'not is_homestead') }} as no_homestead_points,

        {{ signal_points(
            'long_ownership',
            'months_owned >= ' ~ var('signal_long_ownership_full_years') * 12,
            'months_owned >= ' ~ var('signal_long_ownership_half_years') * 12,
        ) }} as long_ownership_points,

        {{ signal_points(
            'equity',
            'estimated_equity_ratio >= ' ~ var('signal_equity_full_min'),
            'estimated_equity_ratio >= ' ~ var('signal_equity_half_min'),
        ) }} as equity_points

    from parcels

)

select * from signals
