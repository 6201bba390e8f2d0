-- Staging: permanent stops (no lookup hashes in the warehouse).
{{ config(tags=['outreach']) }}

select
    suppression_id,
    owner_id,
    channel,
    reason,
    message_id,
    created_at,
    lifted_at,
    lifted_at is not null as is_lifted
from {{ source('ledger', 'suppressions') }}
