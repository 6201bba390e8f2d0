-- Staging: a lead's status over time (append-only; the newest row is the current status).
{{ config(tags=['outreach']) }}

select
    lead_status_change_id,
    owner_id,
    market_code,
    status,
    changed_by,
    changed_at
from {{ source('ledger', 'lead_status_changes') }}
