-- Mart: one row per deal with its revenue (the assignment fee once closed) and attribution.

select
    deals.deal_id,
    deals.owner_id,
    deals.market_code,
    deals.parcel_id,
    deals.property_id,
    deals.status,
    deals.contract_price_usd,
    deals.assignment_fee_usd,
    deals.revenue_usd,
    deals.contracted_on,
    deals.closed_on,
    deals.is_closed,
    deals.is_cancelled,
    deals.recorded_by,
    attribution.campaign_name,
    attribution.channel,
    attribution.template,
    attribution.touch_number,
    deals.created_at,
    deals.updated_at
from {{ ref('stg_ledger__deals') }} as deals
left join {{ ref('deal_attribution') }} as attribution on attribution.deal_id = deals.deal_id
