-- Mart: each deal attributed to the campaign, touch number and template of the outbound touch
-- that drew the owner's first reply (first_reply); an owner who never replied in writing is
-- attributed to the first touch that reached them (first_touch); none without any touch.

select
    deals.deal_id,
    deals.owner_id,
    deals.market_code,
    deals.status,
    coalesce(attributions.attribution_method, 'none') as attribution_method,
    attributions.attributed_message_id,
    attributions.enrollment_id,
    attributions.campaign_name,
    attributions.channel,
    attributions.touch_number,
    attributions.template,
    attributions.touch_sent_at,
    attributions.first_reply_message_id,
    attributions.first_reply_at,
    deals.revenue_usd
from {{ ref('stg_ledger__deals') }} as deals
left join {{ ref('int_owner_attributions') }} as attributions
    on attributions.owner_id = deals.owner_id
