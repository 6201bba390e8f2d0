-- Staging: owner ids and their market (the ledger copy holds no names or addresses).
{{ config(tags=['outreach']) }}

select
    owner_id,
    market_code,
    created_at
from {{ source('ledger', 'owners') }}
