-- Mart: return on outreach per market and month: leads contacted, responses, deals, revenue
-- (assignment fees of deals closed that month), every cost, cost per lead and per deal, ROI,
-- break-even deals, and running totals.

with

outcomes as (

    select * from {{ ref('int_enrollment_outcomes') }}

),

contacted as (

    select market_code, cast({{ dbt.date_trunc('month', 'first_contact_at') }} as date) as month,
           count(*) as leads_contacted
    from outcomes where is_contacted group by 1, 2

),

responded as (

    select market_code, cast({{ dbt.date_trunc('month', 'first_reply_at') }} as date) as month,
           count(*) as responses
    from outcomes where is_responded group by 1, 2

),

interested as (

    select market_code, cast({{ dbt.date_trunc('month', 'interested_at') }} as date) as month,
           count(*) as interested
    from outcomes where is_interested and interested_at is not null group by 1, 2

),

deals as (

    select * from {{ ref('stg_ledger__deals') }}

),

contracts as (

    select market_code, cast({{ dbt.date_trunc('month', 'contracted_on') }} as date) as month,
           count(*) as deals_under_contract
    from deals where contracted_on is not null and not is_cancelled group by 1, 2

),

closings as (

    select market_code, cast({{ dbt.date_trunc('month', 'closed_on') }} as date) as month,
           count(*) as deals_closed, sum(revenue_usd) as revenue_usd
    from deals where is_closed and closed_on is not null group by 1, 2

),

costs as (

    select
        market_code,
        month,
        sum(cost_usd) filter (where cost_type = 'sms') as sms_cost_usd,
        sum(cost_usd) filter (where cost_type = 'email') as email_cost_usd,
        sum(cost_usd) filter (where cost_type = 'skip_trace') as skip_trace_cost_usd,
        sum(cost_usd) filter (where cost_type = 'phone_lookup') as phone_lookup_cost_usd,
        sum(cost_usd) filter (where cost_type = 'compute') as compute_cost_usd,
        sum(cost_usd) as cost_usd
    from {{ ref('costs') }}
    group by market_code, month

),

spine as (

    select market_code, month from contacted
    union select market_code, month from responded
    union select market_code, month from interested
    union select market_code, month from contracts
    union select market_code, month from closings
    union select market_code, month from costs

),

fees as (

    select market_code, avg(assignment_fee_usd) as market_fee
    from deals
    where is_closed and assignment_fee_usd > 0
    group by market_code

),

monthly as (

    select
        spine.month,
        spine.market_code,
        coalesce(contacted.leads_contacted, 0) as leads_contacted,
        coalesce(responded.responses, 0) as responses,
        coalesce(interested.interested, 0) as interested,
        coalesce(contracts.deals_under_contract, 0) as deals_under_contract,
        coalesce(closings.deals_closed, 0) as deals_closed,
        coalesce(closings.revenue_usd, 0.0) as revenue_usd,
        coalesce(costs.sms_cost_usd, 0.0) as sms_cost_usd,
        coalesce(costs.email_cost_usd, 0.0) as email_cost_usd,
        coalesce(costs.skip_trace_cost_usd, 0.0) as skip_trace_cost_usd,
        coalesce(costs.phone_lookup_cost_usd, 0.0) as phone_lookup_cost_usd,
        coalesce(costs.compute_cost_usd, 0.0) as compute_cost_usd,
        coalesce(costs.cost_usd, 0.0) as cost_usd,
        coalesce(fees.market_fee,
                 (select avg(assignment_fee_usd) from deals
                  where is_closed and assignment_fee_usd > 0),
                 {{ var('wholesale_fee') }}) as average_assignment_fee_usd
    from spine
    left join contacted using (market_code, month)
    left join responded using (market_code, month)
    left join interested using (market_code, month)
    left join contracts using (market_code, month)
    left join closings using (market_code, month)
    left join costs using (market_code, month)
    left join fees using (market_code)

),

final as (

    select
        *,
        cost_usd / nullif(leads_contacted, 0) as cost_per_lead_usd,
        cost_usd / nullif(deals_closed, 0) as cost_per_deal_usd,
        (revenue_usd - cost_usd) / nullif(cost_usd, 0) as roi,
        ceil(cost_usd / nullif(average_assignment_fee_usd, 0)) as break_even_deals,
        sum(cost_usd) over (partition by market_code order by month
                            rows between unbounded preceding and current row)
            as cumulative_cost_usd,
        sum(revenue_usd) over (partition by market_code order by month
                               rows between unbounded preceding and current row)
            as cumulative_revenue_usd
    from monthly

)

select
    *,
    (cumulative_revenue_usd - cumulative_cost_usd) / nullif(cumulative_cost_usd, 0)
        as cumulative_roi
from final
