-- Staging: one row per lis pendens filing (case) and parcel.
with

source as (

    select * from {{ source('county_records', 'lis_pendens') }}

),

renamed as (

    select
        market_code,
        {{ clean_text('parcel_id') }} as parcel_id,
        {{ property_id('parcel_id') }} as property_id,
        {{ clean_text('case_number') }} as case_number,
        {{ clean_upper('document_type') }} as document_type,
        filed_date,
        {{ clean_upper('plaintiff') }} as plaintiff,
        amount,
        source_file
    from source
    where {{ clean_text('parcel_id') }} is not null

),

keyed as (

    -- the case / application number, or the date when a county leaves it blank
    select
        *,
        coalesce(
            case_number,
            'no-number-' || coalesce(cast(filed_date as {{ dbt.type_string() }}), 'undated')
        ) as record_key
    from renamed

),

deduplicated as (

    select
        *,
        coalesce(document_type like '%FORECLOS%', false) as is_foreclosure,
        row_number() over (
            partition by property_id, record_key
            order by filed_date desc, document_type, plaintiff, amount desc, source_file
        ) as duplicate_number
    from keyed

)

select
    property_id || '-' || record_key as lis_pendens_id,
    market_code,
    parcel_id,
    property_id,
    case_number,
    document_type,
    is_foreclosure,
    filed_date,
    plaintiff,
    amount,
    source_file
from deduplicated
where duplicate_number = 1
