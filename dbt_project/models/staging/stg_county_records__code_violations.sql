-- Staging: one row per code-enforcement case and parcel, with open/closed and vacancy flags.
with

source as (

    select * from {{ source('county_records', 'code_violations') }}

),

renamed as (

    select
        market_code,
        {{ clean_text('parcel_id') }} as parcel_id,
        {{ property_id('parcel_id') }} as property_id,
        {{ clean_text('case_number') }} as case_number,
        {{ clean_upper('violation_type') }} as violation_type,
        opened_date,
        {{ clean_upper('status') }} as status,
        closed_date,
        fine_amount,
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
            'no-number-' || coalesce(cast(opened_date as {{ dbt.type_string() }}), 'undated')
        ) as record_key
    from renamed

),

flagged as (

    select
        *,
        coalesce(
            closed_date is not null
            or status in (
                'CLOSED', 'RESOLVED', 'COMPLIED', 'IN COMPLIANCE', 'COMPLIANCE', 'DISMISSED',
                'VOID', 'CANCELLED', 'CANCELED', 'WITHDRAWN'
            ),
            false
        ) as is_closed,
        -- violation types that suggest nobody lives in or looks after the house
        coalesce(
            violation_type like '%VACANT%'
            or violation_type like '%UNSECURED%'
            or violation_type like '%BOARDED%'
            or violation_type like '%ABANDON%'
            or violation_type like '%OVERGROWN%'
            or violation_type like '%UNSAFE STRUCTURE%',
            false
        ) as is_vacancy_indicator,
        -- violation types that point at the building itself (repairs, not upkeep)
        coalesce(
            violation_type like '%UNSECURED%'
            or violation_type like '%BOARDED%'
            or violation_type like '%UNSAFE%'
            or violation_type like '%STRUCTUR%'
            or violation_type like '%ROOF%'
            or violation_type like '%DISREPAIR%'
            or violation_type like '%MINIMUM HOUSING%'
            or violation_type like '%CONDEMN%'
            or violation_type like '%FIRE DAMAGE%',
            false
        ) as is_structural_indicator
    from keyed

),

deduplicated as (

    select
        *,
        row_number() over (
            partition by property_id, record_key
            order by opened_date desc, closed_date desc, status, violation_type, fine_amount desc, source_file
        ) as duplicate_number
    from flagged

)

select
    property_id || '-' || record_key as code_violation_id,
    market_code,
    parcel_id,
    property_id,
    case_number,
    violation_type,
    opened_date,
    status,
    closed_date,
    is_closed,
    is_vacancy_indicator,
    is_structural_indicator,
    fine_amount,
    source_file
from deduplicated
where duplicate_number = 1
