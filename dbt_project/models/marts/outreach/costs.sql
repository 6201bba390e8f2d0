-- Mart: what outreach cost, per month, market and kind: SMS segments and emails (the billed
-- cost the ledger holds per message; the outbox costs nothing), skip traces (records read from
-- contact files x the market's price per skip-traced record), phone lookups (billed per
-- lookup), and compute (a configured monthly figure split evenly over the markets active that
-- month; var compute_monthly_usd, default 0 and not a market setting, so not declared in
-- dbt_project.yml; the analytics asset passes WHOLESALER_COMPUTE_MONTHLY_USD).

with

messages as (

    select
        cast({{ dbt.date_trunc('month', 'messages.message_at') }} as date) as month,
        coalesce(enrollments.market_code, owners.market_code) as market_code,
        messages.channel,
        messages.segments,
        messages.cost_usd
    from {{ ref('stg_ledger__messages') }} as messages
    left join {{ ref('stg_ledger__enrollments') }} as enrollments
        on enrollments.enrollment_id = messages.enrollment_id
    left join {{ ref('stg_ledger__owners') }} as owners on owners.owner_id = messages.owner_id
    where messages.is_sent

),

message_costs as (

    select
        month,
        market_code,
        channel as cost_type,
        cast(case when channel = 'sms' then sum(segments) else count(*) end as double) as units,
        cast(null as double) as unit_cost_usd,
        sum(cost_usd) as cost_usd,
        case when channel = 'sms'
             then 'SMS segments that went out; billed cost per message (outbox: 0)'
             else 'emails that went out; billed cost per message (outbox: 0)' end as note
    from messages
    where market_code is not null
    group by month, market_code, channel

),

skip_traces as (

    select
        cast({{ dbt.date_trunc('month', 'imports.started_at') }} as date) as month,
        imports.market_code,
        'skip_trace' as cost_type,
        cast(sum(imports.rows_read) as double) as units,
        max(prices.skip_trace_usd) as unit_cost_usd,
        sum(imports.rows_read) * coalesce(max(prices.skip_trace_usd), 0.0) as cost_usd,
        'records read from contact files x the market''s costs.skip_trace_usd' as note
    from {{ ref('stg_ledger__contact_imports') }} as imports
    left join {{ ref('stg_config__market_costs') }} as prices
        on prices.market_code = imports.market_code
    where imports.market_code is not null
    group by 1, 2

),

lookups as (

    select
        cast({{ dbt.date_trunc('month', 'looked_up_at') }} as date) as month,
        coalesce(market_code, 'unassigned') as market_code,
        'phone_lookup' as cost_type,
        cast(count(*) as double) as units,
        cast(null as double) as unit_cost_usd,
        sum(cost_usd) as cost_usd,
        'line-type lookups; billed cost per lookup' as note
    from {{ ref('stg_ledger__phone_lookups') }}
    group by 1, 2

),

active_markets as (

    select distinct month, market_code from message_costs

),

compute as (

    select
        month,
        market_code,
        'compute' as cost_type,
        1.0 / count(*) over (partition by month) as units,
        cast({{ var('compute_monthly_usd', 0) }} as double) as unit_cost_usd,
        cast({{ var('compute_monthly_usd', 0) }} as double) / count(*) over (partition by month)
            as cost_usd,
        {% if var('compute_monthly_usd', 0) | float > 0 -%}
        'configured monthly compute cost (WHOLESALER_COMPUTE_MONTHLY_USD), split evenly over the markets active that month'
        {%- else -%}
        'compute not configured (WHOLESALER_COMPUTE_MONTHLY_USD unset): counted as 0'
        {%- endif %} as note
    from active_markets

)

select * from message_costs
union all
select * from skip_traces
union all
select * from lookups
union all
select * from compute
