-- Staging: paid line-type lookups (the cost ledger of lookups), with the phone's market.
{{ config(tags=['outreach']) }}

select
    phone_lookup_id,
    provider,
    market_code,
    coalesce(cost_usd, 0.0) as cost_usd,
    looked_up_at
from {{ source('ledger', 'phone_lookups') }}
