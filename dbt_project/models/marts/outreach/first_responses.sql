-- Mart: time to first response, one row per enrollment that got a reply.

select
    enrollment_id,
    owner_id,
    market_code,
    campaign_name,
    tier,
    channel,
    touch_number,
    template,
    touch_sent_at,
    first_reply_at,
    first_contact_at,
    hours_to_first_response,
    hours_from_first_contact,
    first_reply_intent
from {{ ref('int_first_responses') }}
