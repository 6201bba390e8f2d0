-- Staging: each market's outreach prices (markets/*.yaml `costs`).
{{ config(tags=['outreach']) }}

select
    market_code,
    sms_segment_usd,
    email_usd,
    skip_trace_usd,
    lookup_usd
from {{ source('config', 'market_costs') }}
