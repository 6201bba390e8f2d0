-- Staging: where the conversation with one owner stands.
{{ config(tags=['outreach']) }}

select
    owner_id,
    state as conversation_state,
    coalesce(is_human_takeover, false) as is_human_takeover,
    updated_at
from {{ source('ledger', 'conversation_states') }}
