-- Staging: every message in and out, with the status flags the marts count and the inbound
-- classification unpacked. Bodies are already redacted by the copy; NULL once purged.
{{ config(tags=['outreach']) }}

with

source as (

    select * from {{ source('ledger', 'messages') }}

),

renamed as (

    select
        message_id,
        direction,
        channel,
        enrollment_id,
        touch_number,
        owner_id,
        contact_id,
        template,
        template_version,
        subject,
        body,
        coalesce(segments, 0) as segments,
        provider,
        status,
        error_code,
        coalesce(cost_usd, 0.0) as cost_usd,
        planned_at,
        attempted_at,
        sent_at,
        body_purged_at,
        body_purged_at is not null as is_body_purged,
        -- rows written before migration 0006 have no purpose: a campaign message is a touch
        coalesce(purpose, case when direction = 'outbound' and enrollment_id is not null
                               then 'touch' end) as purpose,
        in_reply_to_id,
        json_extract_string(classification, '$.intent') as intent,
        try_cast(json_extract_string(classification, '$.sentiment') as double) as sentiment,
        try_cast(json_extract_string(classification, '$.confidence') as double)
            as intent_confidence,
        json_extract_string(classification, '$.method') as classification_method,
        coalesce(try_cast(json_extract_string(classification, '$.opt_out') as boolean), false)
            or coalesce(json_extract_string(classification, '$.intent') = 'opt_out', false)
            as is_opt_out,
        decision,
        processed_at,
        created_at,
        updated_at
    from source

),

final as (

    select
        *,
        -- an outbound message's time is when it was handed to the provider (attempted_at):
        -- a delivery report may set sent_at after the owner already answered
        case when direction = 'outbound'
             then coalesce(attempted_at, sent_at, planned_at, created_at)
             else created_at end as message_at,
        direction = 'outbound'
            and status in ('queued', 'sent', 'delivered', 'undelivered', 'outboxed') as is_sent,
        direction = 'outbound'
            and (status = 'delivered' or (channel = 'email' and status = 'sent')) as is_delivered,
        direction = 'outbound' and status in ('failed', 'undelivered') as is_failed,
        direction = 'outbound' and status = 'refused' as is_refused
    from renamed

)

select * from final
