-- Staging: campaigns the ledger knows.
{{ config(tags=['outreach']) }}

select
    campaign_id,
    name as campaign_name,
    coalesce(is_paused, false) as is_paused,
    paused_at,
    created_at
from {{ source('ledger', 'campaigns') }}
