-- Staging: deals (under contract, closed with the assignment fee, or cancelled).
{{ config(tags=['outreach']) }}

select
    deal_id,
    owner_id,
    market_code,
    parcel_id,
    market_code || '-' || parcel_id as property_id,
    status,
    contract_price_usd,
    assignment_fee_usd,
    case when status = 'closed' then coalesce(assignment_fee_usd, 0.0) else 0.0 end
        as revenue_usd,
    contracted_on,
    closed_on,
    status = 'closed' as is_closed,
    status = 'cancelled' as is_cancelled,
    status in ('under_contract', 'closed') as is_contracted,
    recorded_by,
    created_at,
    updated_at
from {{ source('ledger', 'deals') }}
