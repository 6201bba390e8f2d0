-- Mart: per campaign, market and touch: how many enrollments reached the touch (completion),
-- what was sent and what it drew.

with

enrollments as (

    select campaign_name, market_code, touches_sent
    from {{ ref('int_enrollment_outcomes') }}

),

touches as (

    select
        campaign_name,
        market_code,
        touch_number,
        mode(channel) as channel,
        mode(template) as template,
        count(*) filter (where is_sent) as sent,
        count(*) filter (where is_delivered) as delivered,
        count(*) filter (where is_failed) as failed,
        count(*) filter (where is_refused) as refused,
        count(*) filter (where has_response) as responses,
        count(*) filter (where has_interest) as interested,
        count(*) filter (where has_opt_out) as opt_outs,
        sum(cost_usd) as cost_usd
    from {{ ref('int_touch_outcomes') }}
    group by campaign_name, market_code, touch_number

)

select
    touches.campaign_name,
    touches.market_code,
    touches.touch_number,
    touches.channel,
    touches.template,
    (select count(*) from enrollments
     where enrollments.campaign_name = touches.campaign_name
       and enrollments.market_code = touches.market_code) as enrollments,
    (select count(*) from enrollments
     where enrollments.campaign_name = touches.campaign_name
       and enrollments.market_code = touches.market_code
       and enrollments.touches_sent >= touches.touch_number) as reached,
    (select count(*) filter (where enrollments.touches_sent >= touches.touch_number)
            / nullif(count(*), 0)
     from enrollments
     where enrollments.campaign_name = touches.campaign_name
       and enrollments.market_code = touches.market_code) as completion_rate,
    touches.sent,
    touches.delivered,
    touches.failed,
    touches.refused,
    touches.responses,
    touches.interested,
    touches.opt_outs,
    touches.responses / nullif(touches.sent, 0) as response_rate,
    touches.interested / nullif(touches.sent, 0) as interest_rate,
    touches.cost_usd
from touches
