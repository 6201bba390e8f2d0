-- Intermediate: code-enforcement history per parcel (open cases, cases opened within the
-- lookback before the as-of month or later, vacancy-type cases).
with

as_of as (

    select * from {{ ref('int_market_as_of_months') }}

),

violations as (

    select
        violations.*,
        as_of.as_of_month,
        as_of.events_before_date,
        {{ dbt.datediff('violations.opened_date', 'as_of.as_of_month', 'month') }} as opened_months_before_as_of
    from {{ ref('stg_county_records__code_violations') }} as violations
    inner join as_of
        on violations.market_code = as_of.market_code
    where {{ market_filter('violations.market_code') }}

),

known_at_as_of as (

    -- in a backtest (events_before_date set) later cases do not exist yet
    select
        *,
        -- open: not closed (a closed status without a date counts as closed); in a backtest,
        -- a case closed on or after events_before_date was still open then
        case
            when closed_date is not null
                then coalesce(closed_date >= events_before_date, false)
            else not is_closed
        end as is_open_at_as_of,
        coalesce(
            opened_months_before_as_of < {{ var('signal_distress_lookback_months') }},
            false
        ) as is_recent
    from violations
    where events_before_date is null or opened_date is null or opened_date < events_before_date

)

select
    property_id,
    market_code,
    count(*) as code_violation_count,
    sum(case when is_open_at_as_of then 1 else 0 end) as open_code_violation_count,
    sum(case when is_recent then 1 else 0 end) as recent_code_violation_count,
    sum(
        case when is_vacancy_indicator and (is_open_at_as_of or is_recent) then 1 else 0 end
    ) as vacancy_code_violation_count,
    sum(
        case when is_structural_indicator and (is_open_at_as_of or is_recent) then 1 else 0 end
    ) as structural_code_violation_count,
    sum(case when is_open_at_as_of then coalesce(fine_amount, 0) else 0 end) as open_code_violation_fine_amount,
    max(opened_date) as last_code_violation_opened_date
from known_at_as_of
group by property_id, market_code
