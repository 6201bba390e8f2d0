-- Mart: one row per lead with score >= comps_min_score: ARV = living area x median comp adjusted
-- $/sqft (low / high at the 25th / 75th percentile) and a 0-1 confidence. Leads without comps
-- (or without a living area) get a row with null ARV and confidence 0.
with

subjects as (

    select
        property_id,
        market_code,
        as_of_month,
        score,
        tier,
        living_area_sqft
    from {{ ref('lead_scores') }}
    where {{ market_filter() }}
        and is_comp_subject

),

comp_stats as (

    select
        subject_property_id,
        count(*) as comp_count,
        min(comp_level) as comp_level,
        min(comp_level_name) as comp_level_name,
        min(sale_month) as oldest_comp_sale_month,
        max(sale_month) as newest_comp_sale_month,
        percentile_cont(0.25) within group (order by adjusted_price_per_sqft) as price_per_sqft_p25,
        percentile_cont(0.50) within group (order by adjusted_price_per_sqft) as price_per_sqft_p50,
        percentile_cont(0.75) within group (order by adjusted_price_per_sqft) as price_per_sqft_p75,
        percentile_cont(0.50) within group (order by months_before_as_of) as median_months_before_as_of
    from {{ ref('comps') }}
    where {{ market_filter() }}
    group by subject_property_id

),

valued as (

    select
        subjects.*,
        coalesce(comp_stats.comp_count, 0) as comp_count,
        comp_stats.comp_level,
        comp_stats.comp_level_name,
        comp_stats.oldest_comp_sale_month,
        comp_stats.newest_comp_sale_month,
        comp_stats.median_months_before_as_of,
        comp_stats.price_per_sqft_p25,
        comp_stats.price_per_sqft_p50,
        comp_stats.price_per_sqft_p75,
        -- confidence factors, each 0..1 (docs/scoring.md)
        sqrt(
            least(comp_stats.comp_count, {{ var('comp_max_count') }}) / {{ var('comp_max_count') * 1.0 }}
        ) as count_factor,
        greatest(
            0,
            1 - (comp_stats.price_per_sqft_p75 - comp_stats.price_per_sqft_p25)
                / nullif(comp_stats.price_per_sqft_p50, 0)
        ) as dispersion_factor,
        1 - 0.5 * comp_stats.median_months_before_as_of / {{ var('comp_fallback_months') * 1.0 }}
            as recency_factor,
        case comp_stats.comp_level
            when 1 then 1.0
            when 2 then {{ var('confidence_market_area_factor') }}
            when 3 then {{ var('confidence_zip_factor') }}
        end as level_factor
    from subjects
    left join comp_stats
        on subjects.property_id = comp_stats.subject_property_id

)

select
    property_id,
    market_code,
    as_of_month,
    score,
    tier,
    living_area_sqft,
    comp_count,
    comp_count >= {{ var('comp_min_count') }} as has_min_comps,
    comp_level,
    comp_level_name,
    oldest_comp_sale_month,
    newest_comp_sale_month,
    round(price_per_sqft_p50, 2) as arv_price_per_sqft,
    cast(round(living_area_sqft * price_per_sqft_p50, 0) as {{ dbt.type_bigint() }}) as arv,
    cast(round(living_area_sqft * price_per_sqft_p25, 0) as {{ dbt.type_bigint() }}) as arv_low,
    cast(round(living_area_sqft * price_per_sqft_p75, 0) as {{ dbt.type_bigint() }}) as arv_high,
    round(count_factor, 4) as count_factor,
    round(dispersion_factor, 4) as dispersion_factor,
    round(recency_factor, 4) as recency_factor,
    level_factor,
    case
        when living_area_sqft is null or price_per_sqft_p50 is null then 0
        else round(count_factor * dispersion_factor * recency_factor * level_factor, 4)
    end as confidence,
    '{{ var("engine_version") }}' as engine_version
from valued
