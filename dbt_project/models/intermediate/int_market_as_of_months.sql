-- Intermediate: one row per market in scope with the month it is scored and valued as of
-- (var as_of_month, else the market's latest SDF sale month, else December before the roll year)
-- and the date from which distress-list events are ignored (only when as_of_month is set).
-- A market-partitioned table: one row per market, but computing it scans the market's parcels
-- and sales, and almost every intermediate model (and its tests) joins it.
{{ config(materialized='market_partitioned') }}

with

parcels as (

    select
        market_code,
        max(assessment_year) as assessment_year
    from {{ ref('stg_fl_dor__parcels') }}
    where {{ market_filter() }}
    group by market_code

),

sales as (

    -- a sale dated after its own roll year is a typo, not the latest month
    select
        market_code,
        max(sale_month) as latest_sale_month
    from {{ ref('stg_fl_dor__sales') }}
    where {{ market_filter() }}
        and sale_month is not null
        and (assessment_year is null or sale_year <= assessment_year)
    group by market_code

),

as_of as (

    select
        parcels.market_code,
        coalesce(
            {{ as_of_month_var_date() }},
            sales.latest_sale_month,
            {{ month_start_date('parcels.assessment_year - 1', '12') }}
        ) as as_of_month,
        sales.latest_sale_month,
        parcels.assessment_year
    from parcels
    left join sales
        on parcels.market_code = sales.market_code

)

select
    market_code,
    as_of_month,
    -- first day after the as-of month: events on or after it are in the future
    cast({{ dbt.dateadd('month', 1, 'as_of_month') }} as date) as as_of_month_end,
    -- distress lists are scraped fresher than the SDF: without an explicit as_of_month every
    -- event on file counts (a filing after the last sale month is the newest, not the future);
    -- with one (a backtest) events dated on or after the as-of month's end are ignored
    {%- if var('as_of_month', none) in (none, '') %}
    cast(null as date) as events_before_date,
    {%- else %}
    cast({{ dbt.dateadd('month', 1, 'as_of_month') }} as date) as events_before_date,
    {%- endif %}
    latest_sale_month,
    assessment_year
from as_of
