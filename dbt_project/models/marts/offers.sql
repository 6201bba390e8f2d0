-- Mart: one row per valued lead (ARV not null): repair tier and estimate, offer range
-- offer_min .. offer_max where MAO = ARV x arv_factor - repairs - wholesale_fee, floored at 0.
with

valuations as (

    select * from {{ ref('valuations') }}
    where {{ market_filter() }}
        and arv is not null

),

repairs as (

    select * from {{ ref('int_repair_estimates') }}
    where {{ market_filter() }}

),

priced as (

    select
        valuations.property_id,
        valuations.market_code,
        valuations.as_of_month,
        valuations.score,
        valuations.tier,
        valuations.living_area_sqft,
        valuations.arv,
        valuations.arv_low,
        valuations.arv_high,
        valuations.comp_count,
        valuations.confidence,
        repairs.repair_tier,
        repairs.repair_per_sqft,
        repairs.repair_estimate,
        valuations.arv * {{ var('arv_factor') }}
            - repairs.repair_estimate - {{ var('wholesale_fee') }} as offer_max_raw,
        valuations.arv * {{ var('offer_low_factor') }}
            - repairs.repair_estimate - {{ var('wholesale_fee') }} as offer_min_raw
    from valuations
    inner join repairs
        on valuations.property_id = repairs.property_id

),

floored as (

    select
        *,
        -- never negative, never above the ARV
        greatest(0, least(arv, cast(round(offer_max_raw, 0) as {{ dbt.type_bigint() }}))) as offer_max
    from priced

)

select
    property_id,
    market_code,
    as_of_month,
    score,
    tier,
    living_area_sqft,
    arv,
    arv_low,
    arv_high,
    comp_count,
    confidence,
    repair_tier,
    repair_per_sqft,
    repair_estimate,
    {{ var('arv_factor') }} as arv_factor,
    {{ var('offer_low_factor') }} as offer_low_factor,
    {{ var('wholesale_fee') }} as wholesale_fee,
    cast(offer_max as {{ dbt.type_bigint() }}) as offer_max,
    cast(
        greatest(0, least(offer_max, cast(round(offer_min_raw, 0) as {{ dbt.type_bigint() }})))
        as {{ dbt.type_bigint() }}
    ) as offer_min,
    offer_max_raw > 0 as is_viable,
    '{{ var("engine_version") }}' as engine_version
from floored
