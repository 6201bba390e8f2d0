-- Intermediate: one row per outbound campaign touch (every attempt the send path recorded),
-- with its enrollment's campaign, market and tier, and the status flags the marts count.
{{ config(materialized='table', tags=['outreach']) }}

with

messages as (

    select * from {{ ref('stg_ledger__messages') }}
    where direction = 'outbound' and purpose = 'touch' and enrollment_id is not null

),

enrollments as (

    select * from {{ ref('stg_ledger__enrollments') }}

),

campaigns as (

    select * from {{ ref('stg_ledger__campaigns') }}

)

select
    messages.message_id,
    messages.enrollment_id,
    coalesce(messages.owner_id, enrollments.owner_id) as owner_id,
    enrollments.campaign_id,
    campaigns.campaign_name,
    enrollments.market_code,
    enrollments.tier,
    enrollments.parcel_id,
    messages.channel,
    messages.touch_number,
    messages.template,
    messages.template_version,
    messages.status,
    messages.is_sent,
    messages.is_delivered,
    messages.is_failed,
    messages.is_refused,
    messages.message_at as sent_at,
    cast(messages.message_at as date) as sent_on,
    case when messages.is_sent and messages.channel = 'sms' then messages.segments else 0 end
        as segments,
    messages.cost_usd
from messages
inner join enrollments on enrollments.enrollment_id = messages.enrollment_id
left join campaigns on campaigns.campaign_id = enrollments.campaign_id
