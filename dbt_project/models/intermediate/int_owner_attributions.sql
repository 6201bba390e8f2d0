-- Intermediate: one row per owner with a touch that went out: the touch their deals are
-- attributed to. The touch that drew the owner's first reply (any campaign), else the
-- owner's first touch that went out.
{{ config(materialized='table', tags=['outreach']) }}

with

first_replies as (

    select owner_id, touch_message_id, message_id as first_reply_message_id,
           received_at as first_reply_at
    from (
        select
            *,
            row_number() over (partition by owner_id order by received_at, message_id)
                as reply_rank
        from {{ ref('int_reply_attributions') }}
        where touch_message_id is not null
    ) as ranked
    where reply_rank = 1

),

first_touches as (

    select owner_id, message_id
    from (
        select
            owner_id,
            message_id,
            row_number() over (partition by owner_id order by sent_at, message_id)
                as touch_rank
        from {{ ref('int_outbound_touches') }}
        where is_sent
    ) as ranked
    where touch_rank = 1

),

owners as (

    select
        coalesce(first_replies.owner_id, first_touches.owner_id) as owner_id,
        coalesce(first_replies.touch_message_id, first_touches.message_id)
            as attributed_message_id,
        case when first_replies.touch_message_id is not null then 'first_reply'
             else 'first_touch' end as attribution_method,
        first_replies.first_reply_message_id,
        first_replies.first_reply_at
    from first_replies
    full outer join first_touches on first_touches.owner_id = first_replies.owner_id

)

select
    owners.*,
    touches.enrollment_id,
    touches.campaign_name,
    touches.market_code,
    touches.channel,
    touches.touch_number,
    touches.template,
    touches.sent_at as touch_sent_at
from owners
inner join {{ ref('int_outbound_touches') }} as touches
    on touches.message_id = owners.attributed_message_id
