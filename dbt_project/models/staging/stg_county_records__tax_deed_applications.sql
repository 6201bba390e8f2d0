-- Staging: one row per tax-deed application and parcel, with an is_active flag.
with

source as (

    select * from {{ source('county_records', 'tax_deed_applications') }}

),

renamed as (

    select
        market_code,
        {{ clean_text('parcel_id') }} as parcel_id,
        {{ property_id('parcel_id') }} as property_id,
        {{ clean_text('application_number') }} as application_number,
        {{ clean_text('certificate_number') }} as certificate_number,
        certificate_year,
        application_date,
        opening_bid,
        {{ clean_upper('status') }} as status,
        source_file
    from source
    where {{ clean_text('parcel_id') }} is not null

),

keyed as (

    -- the case / application number, or the date when a county leaves it blank
    select
        *,
        coalesce(
            application_number,
            'no-number-' || coalesce(cast(application_date as {{ dbt.type_string() }}), 'undated')
        ) as record_key
    from renamed

),

deduplicated as (

    select
        *,
        -- still pending: not redeemed by the owner, cancelled or already sold at auction
        coalesce(
            status is null
            or status not in (
                'REDEEMED', 'CANCELLED', 'CANCELED', 'SOLD', 'STRUCK OFF', 'WITHDRAWN', 'CLOSED'
            ),
            true
        ) as is_active,
        coalesce(status = 'REDEEMED', false) as is_redeemed,
        row_number() over (
            partition by property_id, record_key
            order by application_date desc, status, certificate_number, opening_bid desc, source_file
        ) as duplicate_number
    from keyed

)

select
    property_id || '-' || record_key as tax_deed_application_id,
    market_code,
    parcel_id,
    property_id,
    application_number,
    certificate_number,
    certificate_year,
    application_date,
    opening_bid,
    status,
    is_active,
    is_redeemed,
    source_file
from deduplicated
where duplicate_number = 1
