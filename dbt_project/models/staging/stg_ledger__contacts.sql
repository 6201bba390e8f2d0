-- Staging: contacts with their masked hint only (never the value).
{{ config(tags=['outreach']) }}

select
    contact_id,
    owner_id,
    channel,
    value_hint as contact_hint,
    number_type,
    line_type,
    coalesce(is_valid, false) as is_valid,
    coalesce(is_wrong_number, false) as is_wrong_number,
    created_at,
    updated_at
from {{ source('ledger', 'contacts') }}
