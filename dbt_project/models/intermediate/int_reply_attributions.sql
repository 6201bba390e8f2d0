-- Intermediate: one row per inbound reply, attributed to the outbound touch that drew it: the
-- touch named by in_reply_to_id, else the owner's latest touch that went out before the reply.
{{ config(materialized='table', tags=['outreach']) }}

with

replies as (

    select
        message_id,
        owner_id,
        channel as reply_channel,
        message_at as received_at,
        in_reply_to_id,
        body,
        intent,
        sentiment,
        intent_confidence,
        is_opt_out,
        decision
    from {{ ref('stg_ledger__messages') }}
    where direction = 'inbound' and owner_id is not null

),

touches as (

    select * from {{ ref('int_outbound_touches') }}
    where is_sent

),

timeline as (

    -- the owner's touches and replies in time order; a touch sorts before a reply at the
    -- same instant
    select owner_id, sent_at as event_at, 0 as kind, message_id as touch_id,
           cast(null as bigint) as reply_id
    from touches
    union all
    select owner_id, received_at as event_at, 1 as kind, cast(null as bigint) as touch_id,
           message_id as reply_id
    from replies

),

latest_touch as (

    select
        reply_id,
        last_value(touch_id ignore nulls) over (
            partition by owner_id order by event_at, kind, coalesce(touch_id, reply_id)
            rows between unbounded preceding and current row
        ) as touch_id
    from timeline

),

attributed as (

    select
        replies.*,
        case
            when direct.message_id is not null then direct.message_id
            else latest_touch.touch_id
        end as touch_message_id,
        case
            when direct.message_id is not null then 'in_reply_to'
            when latest_touch.touch_id is not null then 'last_touch'
            else 'none'
        end as attribution_method
    from replies
    left join touches as direct
        on direct.message_id = replies.in_reply_to_id
        and direct.owner_id = replies.owner_id
    left join latest_touch on latest_touch.reply_id = replies.message_id

)

select
    attributed.*,
    touches.enrollment_id,
    touches.campaign_name,
    coalesce(touches.market_code, owners.market_code) as market_code,
    touches.tier,
    touches.channel as touch_channel,
    touches.touch_number,
    touches.template,
    touches.sent_at as touch_sent_at
from attributed
left join touches on touches.message_id = attributed.touch_message_id
left join {{ ref('stg_ledger__owners') }} as owners on owners.owner_id = attributed.owner_id
