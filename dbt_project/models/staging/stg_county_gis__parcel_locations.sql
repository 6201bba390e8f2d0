-- Staging: one row per located parcel (the centroid of its geometry, WGS84 degrees), keyed
-- like the roll (property_id). The ingest already set aside parcels off the roll, locations
-- outside the market's bounds and repeated parcel ids; this view only cleans and keys.
with

source as (

    select * from {{ source('county_gis', 'parcel_locations') }}

)

select
    market_code,
    {{ clean_text('parcel_id') }} as parcel_id,
    {{ property_id('parcel_id') }} as property_id,
    latitude,
    longitude,
    source_file
from source
where {{ clean_text('parcel_id') }} is not null
    and latitude is not null
    and longitude is not null
