-- Mart: one row per (lead, comparable sale): for every lead with score >= comps_min_score, up to
-- comp_max_count most similar qualified sales, searched neighborhood -> market area -> ZIP; each
-- level is only searched for subjects the previous one left with fewer than comp_min_count comps.
{%- set levels = [
    (1, 'neighborhood', 'neighborhood_code'),
    (2, 'market_area', 'market_area_code'),
    (3, 'zip', 'situs_zip'),
] %}
{%- set min_count = var('comp_min_count') %}
{%- set sqft_tolerance = var('comp_sqft_tolerance') %}
{%- set year_tolerance = var('comp_year_built_tolerance') %}

with

subjects as (

    select
        property_id,
        market_code,
        as_of_month,
        use_family,
        living_area_sqft,
        year_built,
        neighborhood_code,
        market_area_code,
        situs_zip
    from {{ ref('lead_scores') }}
    where {{ market_filter() }}
        and is_comp_subject
        and living_area_sqft is not null

),

comp_sales as (

    select * from {{ ref('int_comp_sales') }}
    where {{ market_filter() }}

),

trends as (

    select * from {{ ref('int_market_price_trends') }}
    where {{ market_filter() }}

),

{% for level, level_name, column in levels %}
pending_level_{{ level }} as (

    {%- if level == 1 %}
    select * from subjects
    {%- else %}
    -- subjects the previous level left with fewer than comp_min_count comps in either window
    select pending.*
    from pending_level_{{ level - 1 }} as pending
    inner join counts_level_{{ level - 1 }} as counts
        on pending.property_id = counts.subject_property_id
    where counts.window_count < {{ min_count }}
    {%- endif %}

),

candidates_level_{{ level }} as (

    select
        subjects.property_id as subject_property_id,
        subjects.market_code,
        subjects.as_of_month,
        subjects.use_family,
        subjects.living_area_sqft as subject_living_area_sqft,
        subjects.year_built as subject_year_built,
        comp_sales.comp_sale_id,
        comp_sales.property_id as comp_property_id,
        comp_sales.living_area_sqft,
        comp_sales.year_built,
        comp_sales.sale_month,
        comp_sales.months_before_as_of,
        comp_sales.sale_price,
        comp_sales.price_per_sqft,
        {{ level }} as comp_level,
        '{{ level_name }}' as comp_level_name
    from pending_level_{{ level }} as subjects
    inner join comp_sales
        on subjects.market_code = comp_sales.market_code
        and subjects.use_family = comp_sales.use_family
        and subjects.{{ column }} = comp_sales.{{ column }}
        and subjects.property_id <> comp_sales.property_id
        and comp_sales.living_area_sqft
            between subjects.living_area_sqft * (1 - {{ sqft_tolerance }})
            and subjects.living_area_sqft * (1 + {{ sqft_tolerance }})
        and (
            subjects.year_built is null
            or comp_sales.year_built
                between subjects.year_built - {{ year_tolerance }}
                and subjects.year_built + {{ year_tolerance }}
        )

),

counts_level_{{ level }} as (

    select
        pending.property_id as subject_property_id,
        {{ level }} as comp_level,
        sum(
            case when candidates.months_before_as_of < {{ var('comp_months') }} then 1 else 0 end
        ) as recent_count,
        count(candidates.comp_sale_id) as window_count
    from pending_level_{{ level }} as pending
    left join candidates_level_{{ level }} as candidates
        on pending.property_id = candidates.subject_property_id
    group by pending.property_id

),
{% endfor %}

level_counts as (

    {% for level, level_name, column in levels -%}
    select * from counts_level_{{ level }}
    {{ 'union all' if not loop.last }}
    {% endfor %}

),

chosen_levels as (

    -- the first level with enough comps; when none has enough, the level with the most
    -- (ties: the narrower level). Its window: comp_months when that alone has enough.
    select
        subject_property_id,
        comp_level,
        case
            when recent_count >= {{ min_count }} then {{ var('comp_months') }}
            else {{ var('comp_fallback_months') }}
        end as window_months
    from (
        select
            *,
            row_number() over (
                partition by subject_property_id
                order by
                    case when window_count >= {{ min_count }} then 0 else 1 end,
                    case when window_count >= {{ min_count }} then 0 else window_count end desc,
                    comp_level
            ) as level_rank
        from level_counts
        where window_count > 0
    ) as ranked_levels
    where level_rank = 1

),

candidates as (

    {% for level, level_name, column in levels -%}
    select * from candidates_level_{{ level }}
    {{ 'union all' if not loop.last }}
    {% endfor %}

),

adjusted as (

    select
        candidates.*,
        -- time: the market's monthly trend compounded over the months since the sale
        exp(coalesce(trends.monthly_trend, 0) * candidates.months_before_as_of) as time_adjustment_factor,
        -- size: larger houses sell for less per sq ft; scale to the subject's size
        power(
            cast(candidates.living_area_sqft as {{ type_double() }}) / candidates.subject_living_area_sqft,
            {{ var('comp_size_exponent') }}
        ) as size_adjustment_factor,
        -- 0 = identical; each term is at most 1 (area and year within tolerance, age of the sale)
        round(
            abs(candidates.living_area_sqft - candidates.subject_living_area_sqft)
                / (candidates.subject_living_area_sqft * {{ sqft_tolerance }})
            {%- if year_tolerance > 0 %}
            + coalesce(
                abs(candidates.year_built - candidates.subject_year_built) / {{ year_tolerance * 1.0 }},
                1
            )
            {%- else %}
            + case when candidates.subject_year_built is null then 1 else 0 end
            {%- endif %}
            + candidates.months_before_as_of / {{ var('comp_fallback_months') * 1.0 }},
            6
        ) as similarity_distance
    from candidates
    inner join chosen_levels
        on candidates.subject_property_id = chosen_levels.subject_property_id
        and candidates.comp_level = chosen_levels.comp_level
        and candidates.months_before_as_of < chosen_levels.window_months
    left join trends
        on candidates.market_code = trends.market_code
        and candidates.use_family = trends.use_family

),

ranked as (

    select
        *,
        row_number() over (
            partition by subject_property_id
            order by similarity_distance, months_before_as_of, comp_sale_id
        ) as similarity_rank
    from adjusted

)

select
    subject_property_id || '|' || comp_sale_id as comp_id,
    market_code,
    subject_property_id,
    comp_sale_id,
    comp_property_id,
    comp_level,
    comp_level_name,
    similarity_rank,
    similarity_distance,
    as_of_month,
    sale_month,
    months_before_as_of,
    sale_price,
    living_area_sqft,
    subject_living_area_sqft,
    year_built,
    subject_year_built,
    price_per_sqft,
    round(time_adjustment_factor, 4) as time_adjustment_factor,
    round(size_adjustment_factor, 4) as size_adjustment_factor,
    round(price_per_sqft * round(time_adjustment_factor, 4) * round(size_adjustment_factor, 4), 2)
        as adjusted_price_per_sqft
from ranked
where similarity_rank <= {{ var('comp_max_count') }}
