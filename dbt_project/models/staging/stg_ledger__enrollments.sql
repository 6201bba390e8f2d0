-- Staging: one owner (lead) in one campaign, and where its drip stands.
{{ config(tags=['outreach']) }}

select
    enrollment_id,
    campaign_id,
    owner_id,
    market_code,
    parcel_id,
    market_code || '-' || parcel_id as property_id,
    tier,
    score,
    status,
    coalesce(touches_sent, 0) as touches_sent,
    enrolled_on,
    last_sent_on,
    stop_reason,
    status = 'completed' as is_completed,
    status like 'stopped%' as is_stopped,
    created_at,
    updated_at
from {{ source('ledger', 'enrollments') }}
