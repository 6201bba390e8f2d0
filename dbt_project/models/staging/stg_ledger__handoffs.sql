-- Staging: interested sellers handed to a human closer.
{{ config(tags=['outreach']) }}

select
    handoff_id,
    owner_id,
    market_code,
    trigger_message_id,
    reason,
    status,
    status in ('waiting', 'claimed') as is_open,
    closer,
    claimed_by,
    claimed_at,
    closed_at,
    created_at
from {{ source('ledger', 'handoffs') }}
