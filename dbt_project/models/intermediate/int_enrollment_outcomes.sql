-- Intermediate: one row per enrollment with how far it went: contacted (per channel),
-- responded, interested, under contract, closed, opted out, and when.
{{ config(materialized='table', tags=['outreach']) }}

with

enrollments as (

    select enrollments.*, campaigns.campaign_name
    from {{ ref('stg_ledger__enrollments') }} as enrollments
    left join {{ ref('stg_ledger__campaigns') }} as campaigns
        on campaigns.campaign_id = enrollments.campaign_id

),

contacts as (

    select
        enrollment_id,
        min(sent_at) filter (where is_sent) as first_contact_at,
        coalesce(bool_or(is_sent), false) as is_contacted,
        coalesce(bool_or(is_sent and channel = 'sms'), false) as is_contacted_sms,
        coalesce(bool_or(is_sent and channel = 'email'), false) as is_contacted_email,
        arg_min(channel, sent_at) filter (where is_sent) as first_contact_channel
    from {{ ref('int_outbound_touches') }}
    group by enrollment_id

),

replies as (

    select
        enrollment_id,
        min(received_at) filter (where intent = 'interested') as interested_reply_at,
        coalesce(bool_or(is_opt_out), false) as is_opted_out
    from {{ ref('int_reply_attributions') }}
    where enrollment_id is not null
    group by enrollment_id

),

-- owner-level signs of interest, credited to the enrollment the owner is attributed to
owner_interest as (

    select owner_id, min(signal_at) as interested_at
    from (
        select owner_id, created_at as signal_at from {{ ref('stg_ledger__handoffs') }}
        union all
        select owner_id, changed_at from {{ ref('stg_ledger__lead_status_changes') }}
        where status in ('interested', 'negotiating', 'under_contract', 'closed')
        union all
        select owner_id, cast(coalesce(contracted_on, closed_on, cast(created_at as date))
                              as timestamp)
        from {{ ref('stg_ledger__deals') }} where is_contracted
    ) as signals
    group by owner_id

),

owner_deals as (

    select
        owner_id,
        coalesce(bool_or(is_contracted), false) as is_under_contract,
        coalesce(bool_or(is_closed), false) as is_closed
    from {{ ref('stg_ledger__deals') }}
    group by owner_id

),

attributions as (

    select owner_id, enrollment_id from {{ ref('int_owner_attributions') }}

)

select
    enrollments.enrollment_id,
    enrollments.owner_id,
    enrollments.campaign_id,
    enrollments.campaign_name,
    enrollments.market_code,
    enrollments.tier,
    enrollments.parcel_id,
    enrollments.status,
    enrollments.touches_sent,
    enrollments.enrolled_on,
    coalesce(contacts.is_contacted, false) as is_contacted,
    coalesce(contacts.is_contacted_sms, false) as is_contacted_sms,
    coalesce(contacts.is_contacted_email, false) as is_contacted_email,
    contacts.first_contact_at,
    first_responses.first_reply_at,
    first_responses.first_reply_message_id,
    first_responses.channel as first_reply_channel,
    first_responses.first_reply_at is not null as is_responded,
    -- the channel credited with what followed the contact: the first reply's touch, else the
    -- first contact's
    coalesce(first_responses.channel, contacts.first_contact_channel) as outcome_channel,
    case
        when replies.interested_reply_at is not null
            or (attributions.enrollment_id is not null and owner_interest.interested_at is not null)
        then true else false
    end as is_interested,
    least(replies.interested_reply_at,
          case when attributions.enrollment_id is not null
               then owner_interest.interested_at end) as interested_at,
    coalesce(replies.is_opted_out, false) as is_opted_out,
    coalesce(attributions.enrollment_id is not null and owner_deals.is_under_contract, false)
        as is_under_contract,
    coalesce(attributions.enrollment_id is not null and owner_deals.is_closed, false)
        as is_closed
from enrollments
left join contacts on contacts.enrollment_id = enrollments.enrollment_id
left join {{ ref('int_first_responses') }} as first_responses
    on first_responses.enrollment_id = enrollments.enrollment_id
left join replies on replies.enrollment_id = enrollments.enrollment_id
left join attributions on attributions.enrollment_id = enrollments.enrollment_id
    and attributions.owner_id = enrollments.owner_id
left join owner_interest on owner_interest.owner_id = enrollments.owner_id
left join owner_deals on owner_deals.owner_id = enrollments.owner_id
