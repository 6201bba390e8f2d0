-- Mart: outreach by day, market, campaign, tier, channel, touch and template. What a touch drew
-- (replies, interest, opt-outs, deals) is counted on the touch's own row (by its send date),
-- so every rate is within one row.

select
    sent_on,
    market_code,
    campaign_name,
    tier,
    channel,
    touch_number,
    template,
    count(*) filter (where is_sent) as sent,
    count(*) filter (where is_delivered) as delivered,
    count(*) filter (where is_failed) as failed,
    count(*) filter (where is_refused) as refused,
    sum(segments) as segments,
    count(*) filter (where has_response) as responses,
    count(*) filter (where has_interest) as interested,
    count(*) filter (where has_opt_out) as opt_outs,
    sum(deals) as deals,
    count(*) filter (where has_response) / nullif(count(*) filter (where is_sent), 0)
        as response_rate,
    count(*) filter (where has_interest) / nullif(count(*) filter (where is_sent), 0)
        as interest_rate,
    count(*) filter (where has_opt_out) / nullif(count(*) filter (where is_sent), 0)
        as opt_out_rate,
    sum(deals) / nullif(count(*) filter (where is_sent), 0) as conversion_rate,
    sum(cost_usd) as cost_usd
from {{ ref('int_touch_outcomes') }}
where is_sent or is_failed or is_refused
group by sent_on, market_code, campaign_name, tier, channel, touch_number, template
