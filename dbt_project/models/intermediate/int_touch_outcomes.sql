-- Intermediate: one row per outbound touch with what it drew: a reply, interest, an opt-out,
-- and the deals attributed to it (through the owner's first reply).
{{ config(materialized='table', tags=['outreach']) }}

with

replies as (

    select
        touch_message_id,
        count(*) as replies,
        count(*) filter (where intent = 'interested') as interested_replies,
        count(*) filter (where is_opt_out) as opt_out_replies
    from {{ ref('int_reply_attributions') }}
    where touch_message_id is not null
    group by touch_message_id

),

deals as (

    select
        attribution.attributed_message_id,
        count(*) filter (where deals.is_contracted) as deals
    from {{ ref('stg_ledger__deals') }} as deals
    inner join {{ ref('int_owner_attributions') }} as attribution
        on attribution.owner_id = deals.owner_id
    where attribution.attributed_message_id is not null
    group by attribution.attributed_message_id

)

select
    touches.*,
    coalesce(replies.replies, 0) > 0 as has_response,
    coalesce(replies.interested_replies, 0) > 0 as has_interest,
    coalesce(replies.opt_out_replies, 0) > 0 as has_opt_out,
    coalesce(deals.deals, 0) as deals
from {{ ref('int_outbound_touches') }} as touches
left join replies on replies.touch_message_id = touches.message_id
left join deals on deals.attributed_message_id = touches.message_id
