-- Intermediate: lis pendens filings per parcel (all on file, and those filed within the lookback
-- before the as-of month or later).
with

as_of as (

    select * from {{ ref('int_market_as_of_months') }}

),

filings as (

    select
        filings.*,
        as_of.events_before_date,
        {{ dbt.datediff('filings.filed_date', 'as_of.as_of_month', 'month') }} as filed_months_before_as_of
    from {{ ref('stg_county_records__lis_pendens') }} as filings
    inner join as_of
        on filings.market_code = as_of.market_code
    where {{ market_filter('filings.market_code') }}

),

known_at_as_of as (

    select
        *,
        coalesce(
            filed_months_before_as_of < {{ var('signal_distress_lookback_months') }},
            false
        ) as is_recent
    from filings
    -- in a backtest (events_before_date set) later events do not exist yet
    where events_before_date is null or filed_date is null or filed_date < events_before_date

)

select
    property_id,
    market_code,
    count(*) as lis_pendens_count,
    sum(case when is_recent then 1 else 0 end) as recent_lis_pendens_count,
    sum(case when is_recent and is_foreclosure then 1 else 0 end) as recent_foreclosure_count,
    max(filed_date) as last_lis_pendens_filed_date
from known_at_as_of
group by property_id, market_code
