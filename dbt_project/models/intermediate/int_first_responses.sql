-- Intermediate: one row per enrollment that got a reply: its first reply, the touch that drew
-- it, and the time to first response.
{{ config(materialized='table', tags=['outreach']) }}

with

ranked as (

    select
        *,
        row_number() over (partition by enrollment_id order by received_at, message_id)
            as reply_rank
    from {{ ref('int_reply_attributions') }}
    where enrollment_id is not null

),

first_contacts as (

    select enrollment_id, min(sent_at) as first_contact_at
    from {{ ref('int_outbound_touches') }}
    where is_sent
    group by enrollment_id

)

select
    ranked.enrollment_id,
    ranked.owner_id,
    ranked.market_code,
    ranked.campaign_name,
    ranked.tier,
    ranked.touch_channel as channel,
    ranked.touch_number,
    ranked.template,
    ranked.touch_message_id,
    ranked.message_id as first_reply_message_id,
    ranked.touch_sent_at,
    ranked.received_at as first_reply_at,
    first_contacts.first_contact_at,
    {{ dbt.datediff('ranked.touch_sent_at', 'ranked.received_at', 'second') }} / 3600.0
        as hours_to_first_response,
    {{ dbt.datediff('first_contacts.first_contact_at', 'ranked.received_at', 'second') }} / 3600.0
        as hours_from_first_contact,
    ranked.intent as first_reply_intent
from ranked
left join first_contacts on first_contacts.enrollment_id = ranked.enrollment_id
where ranked.reply_rank = 1
