-- Intermediate: one row per sale usable as a comparable (qualified 01/02, improved, single
-- parcel, priced, with a known living area) within comp_fallback_months of the as-of month,
-- with the sold property's current roll attributes. Market-partitioned table.
{{ config(materialized='market_partitioned') }}

with

sales as (

    select * from {{ ref('stg_fl_dor__sales') }}
    where {{ market_filter() }}
        and is_qualified
        and is_improved
        and not is_multi_parcel_sale
        and sale_price > 0
        and sale_month is not null

),

parcels as (

    select * from {{ ref('stg_fl_dor__parcels') }}
    where {{ market_filter() }}
        and living_area_sqft is not null

),

as_of as (

    select * from {{ ref('int_market_as_of_months') }}

),

joined as (

    select
        sales.sale_id as comp_sale_id,
        sales.market_code,
        sales.property_id,
        parcels.use_family,
        parcels.neighborhood_code,
        parcels.market_area_code,
        parcels.situs_zip,
        parcels.living_area_sqft,
        parcels.year_built,
        sales.sale_month,
        as_of.as_of_month,
        {{ dbt.datediff('sales.sale_month', 'as_of.as_of_month', 'month') }} as months_before_as_of,
        sales.sale_price,
        sales.qualification_code
    from sales
    inner join parcels
        on sales.market_code = parcels.market_code
        and sales.parcel_id = parcels.parcel_id
    inner join as_of
        on sales.market_code = as_of.market_code

)

select
    *,
    round(cast(sale_price as {{ type_double() }}) / living_area_sqft, 2) as price_per_sqft
from joined
where months_before_as_of >= 0
    and months_before_as_of < {{ var('comp_fallback_months') }}
