-- Staging: contact-file imports (skip-trace deliveries): each row read is a billed record.
{{ config(tags=['outreach']) }}

select
    contact_import_id,
    source_name,
    market_code,
    coalesce(rows_read, 0) as rows_read,
    coalesce(imported, 0) as imported,
    coalesce(rejected, 0) as rejected,
    started_at,
    finished_at
from {{ source('ledger', 'contact_imports') }}
