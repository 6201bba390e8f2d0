-- Mart: one row per message of a conversation (inbound, and outbound that went out or
-- failed), with the owner as the thread key, the reply's intent, sentiment and decision, the
-- takeover flag, and the contact's masked hint only. Bodies are redacted; NULL once purged.

with

messages as (

    select * from {{ ref('stg_ledger__messages') }}
    where direction = 'inbound'
       or status not in ('planning', 'sending', 'deferred', 'refused')

),

latest_enrollments as (

    select * from (
        select
            enrollments.*,
            row_number() over (partition by owner_id order by enrolled_on desc, enrollment_id desc)
                as enrollment_rank
        from {{ ref('stg_ledger__enrollments') }} as enrollments
    ) as ranked
    where enrollment_rank = 1

),

replies as (

    select message_id, campaign_name from {{ ref('int_reply_attributions') }}

)

select
    messages.message_id,
    messages.owner_id,
    coalesce(enrollments.market_code, owners.market_code) as market_code,
    coalesce(campaigns.campaign_name, replies.campaign_name) as campaign_name,
    latest_enrollments.parcel_id,
    latest_enrollments.tier,
    messages.direction,
    messages.channel,
    messages.purpose,
    messages.touch_number,
    messages.template,
    messages.status,
    messages.message_at as "at",  -- quoted: AT is a keyword
    messages.subject,
    messages.body,
    messages.is_body_purged,
    messages.in_reply_to_id,
    messages.intent,
    messages.sentiment,
    messages.intent_confidence,
    messages.is_opt_out,
    messages.decision,
    coalesce(states.is_human_takeover, false) as is_human_takeover,
    states.conversation_state,
    contacts.contact_hint
from messages
left join {{ ref('stg_ledger__enrollments') }} as enrollments
    on enrollments.enrollment_id = messages.enrollment_id
left join {{ ref('stg_ledger__campaigns') }} as campaigns
    on campaigns.campaign_id = enrollments.campaign_id
left join replies on replies.message_id = messages.message_id
left join {{ ref('stg_ledger__owners') }} as owners on owners.owner_id = messages.owner_id
left join latest_enrollments on latest_enrollments.owner_id = messages.owner_id
left join {{ ref('stg_ledger__conversation_states') }} as states
    on states.owner_id = messages.owner_id
left join {{ ref('stg_ledger__contacts') }} as contacts
    on contacts.contact_id = messages.contact_id
