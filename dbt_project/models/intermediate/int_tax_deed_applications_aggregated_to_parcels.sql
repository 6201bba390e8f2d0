-- Intermediate: tax-deed applications per parcel (pending ones, and those of any status dated
-- within the lookback before the as-of month or later).
with

as_of as (

    select * from {{ ref('int_market_as_of_months') }}

),

applications as (

    select
        applications.*,
        as_of.events_before_date,
        {{ dbt.datediff('applications.application_date', 'as_of.as_of_month', 'month') }} as applied_months_before_as_of
    from {{ ref('stg_county_records__tax_deed_applications') }} as applications
    inner join as_of
        on applications.market_code = as_of.market_code
    where {{ market_filter('applications.market_code') }}

),

known_at_as_of as (

    select
        *,
        coalesce(
            applied_months_before_as_of < {{ var('signal_distress_lookback_months') }},
            false
        ) as is_recent
    from applications
    -- in a backtest (events_before_date set) later events do not exist yet
    where events_before_date is null or application_date is null or application_date < events_before_date

)

select
    property_id,
    market_code,
    count(*) as tax_deed_application_count,
    sum(case when is_active then 1 else 0 end) as active_tax_deed_application_count,
    sum(case when is_recent then 1 else 0 end) as recent_tax_deed_application_count,
    sum(case when is_active then coalesce(opening_bid, 0) else 0 end) as active_opening_bid_amount,
    max(application_date) as last_tax_deed_application_date
from known_at_as_of
group by property_id, market_code
