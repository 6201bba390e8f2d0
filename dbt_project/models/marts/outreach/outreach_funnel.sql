-- Mart: the outreach funnel per market, campaign, tier and channel: enrolled -> contacted ->
-- responded -> interested -> under contract -> closed (enrollments). Channel rows credit what
-- followed the contact to the channel of the touch that drew the first reply (else the first
-- contact's); `all` rows count each enrollment once.

with

outcomes as (

    select * from {{ ref('int_enrollment_outcomes') }}

),

all_channels as (

    select
        market_code,
        campaign_name,
        tier,
        'all' as channel,
        count(*) as enrolled,
        count(*) filter (where is_contacted) as contacted,
        count(*) filter (where is_contacted and is_responded) as responded,
        count(*) filter (where is_contacted and is_interested) as interested,
        count(*) filter (where is_contacted and is_under_contract) as under_contract,
        count(*) filter (where is_contacted and is_closed) as closed,
        count(*) filter (where is_contacted and is_opted_out) as opted_out
    from outcomes
    group by market_code, campaign_name, tier

),

per_channel as (

    select
        market_code,
        campaign_name,
        tier,
        channels.channel,
        0 as enrolled,
        count(*) filter (where (channels.channel = 'sms' and is_contacted_sms)
                            or (channels.channel = 'email' and is_contacted_email)) as contacted,
        count(*) filter (where is_responded and outcome_channel = channels.channel) as responded,
        count(*) filter (where is_contacted and is_interested
                              and outcome_channel = channels.channel) as interested,
        count(*) filter (where is_contacted and is_under_contract
                              and outcome_channel = channels.channel) as under_contract,
        count(*) filter (where is_contacted and is_closed
                              and outcome_channel = channels.channel) as closed,
        count(*) filter (where is_contacted and is_opted_out
                              and outcome_channel = channels.channel) as opted_out
    from outcomes
    cross join (select 'sms' as channel union all select 'email') as channels
    group by market_code, campaign_name, tier, channels.channel

),

unioned as (

    select * from all_channels
    union all
    select * from per_channel

)

select
    market_code,
    campaign_name,
    tier,
    channel,
    enrolled,
    contacted,
    responded,
    interested,
    under_contract,
    closed,
    opted_out,
    responded / nullif(contacted, 0) as response_rate,
    interested / nullif(contacted, 0) as interest_rate,
    under_contract / nullif(contacted, 0) as contract_rate,
    closed / nullif(contacted, 0) as close_rate
from unioned
