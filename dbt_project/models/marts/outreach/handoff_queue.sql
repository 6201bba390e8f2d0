-- Mart: open handoffs (waiting for a closer, or claimed) with the lead's property, tier and
-- score and the owner's last reply.

with

handoffs as (

    select * from {{ ref('stg_ledger__handoffs') }} where is_open

),

latest_enrollments as (

    select * from (
        select
            enrollments.*,
            campaigns.campaign_name,
            row_number() over (partition by enrollments.owner_id
                               order by enrollments.enrolled_on desc, enrollments.enrollment_id desc)
                as enrollment_rank
        from {{ ref('stg_ledger__enrollments') }} as enrollments
        left join {{ ref('stg_ledger__campaigns') }} as campaigns
            on campaigns.campaign_id = enrollments.campaign_id
    ) as ranked
    where enrollment_rank = 1

),

last_replies as (

    select * from (
        select
            owner_id,
            message_at,
            body,
            intent,
            sentiment,
            contact_id,
            row_number() over (partition by owner_id order by message_at desc, message_id desc)
                as reply_rank
        from {{ ref('stg_ledger__messages') }}
        where direction = 'inbound'
    ) as ranked
    where reply_rank = 1

)

select
    handoffs.handoff_id,
    handoffs.owner_id,
    handoffs.market_code,
    handoffs.status,
    handoffs.reason,
    handoffs.closer,
    handoffs.claimed_by,
    handoffs.created_at,
    handoffs.claimed_at,
    -- epoch() of a naive timestamp reads it as UTC, as the ledger stores it
    (epoch(current_timestamp) - epoch(handoffs.created_at)) / 3600.0 as hours_waiting,
    latest_enrollments.parcel_id,
    latest_enrollments.property_id,
    properties.situs_address,
    properties.situs_city,
    properties.owner_name,
    latest_enrollments.tier,
    latest_enrollments.score,
    latest_enrollments.campaign_name,
    last_replies.message_at as last_reply_at,
    last_replies.body as last_reply_body,
    last_replies.intent as last_reply_intent,
    last_replies.sentiment as last_reply_sentiment,
    contacts.contact_hint,
    coalesce(states.is_human_takeover, false) as is_human_takeover
from handoffs
left join latest_enrollments on latest_enrollments.owner_id = handoffs.owner_id
left join {{ ref('properties') }} as properties
    on properties.property_id = latest_enrollments.property_id
left join last_replies on last_replies.owner_id = handoffs.owner_id
left join {{ ref('stg_ledger__contacts') }} as contacts
    on contacts.contact_id = last_replies.contact_id
left join {{ ref('stg_ledger__conversation_states') }} as states
    on states.owner_id = handoffs.owner_id
