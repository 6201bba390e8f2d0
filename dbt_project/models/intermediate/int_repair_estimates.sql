-- Intermediate: one row per scored residential parcel with its repair tier (light / medium /
-- heavy from effective age, quality code and code violations) and repair estimate.
with

parcels as (

    select * from {{ ref('int_parcels_enriched') }}
    where {{ market_filter() }}
        and is_scored_residential

),

conditions as (

    select
        property_id,
        market_code,
        as_of_month,
        living_area_sqft,
        year_built,
        effective_year_built,
        quality_code,
        extract(year from as_of_month) - coalesce(effective_year_built, year_built) as effective_age_years,
        {{ dbt.safe_cast('quality_code', api.Column.translate_type('integer')) }} as quality_rank,
        open_code_violation_count,
        recent_code_violation_count,
        structural_code_violation_count
    from parcels

),

tiered as (

    select
        *,
        case
            when structural_code_violation_count > 0
                or effective_age_years >= {{ var('repair_heavy_min_age') }}
                or (
                    quality_rank <= {{ var('repair_low_quality_max') }}
                    and effective_age_years >= {{ var('repair_medium_min_age') }}
                )
                or (
                    open_code_violation_count > 0
                    and effective_age_years >= {{ var('repair_medium_min_age') }}
                )
                then 'heavy'
            when effective_age_years is null
                or effective_age_years >= {{ var('repair_medium_min_age') }}
                or quality_rank <= {{ var('repair_low_quality_max') }}
                or open_code_violation_count > 0
                or recent_code_violation_count > 0
                then 'medium'
            else 'light'
        end as repair_tier
    from conditions

),

priced as (

    select
        *,
        case repair_tier
            when 'heavy' then {{ var('repair_heavy_per_sqft') }}
            when 'medium' then {{ var('repair_medium_per_sqft') }}
            else {{ var('repair_light_per_sqft') }}
        end as repair_per_sqft
    from tiered

)

select
    property_id,
    market_code,
    as_of_month,
    living_area_sqft,
    year_built,
    effective_year_built,
    effective_age_years,
    quality_code,
    quality_rank,
    open_code_violation_count,
    recent_code_violation_count,
    structural_code_violation_count,
    repair_tier,
    repair_per_sqft,
    cast(round(living_area_sqft * repair_per_sqft, 0) as {{ dbt.type_bigint() }}) as repair_estimate
from priced
