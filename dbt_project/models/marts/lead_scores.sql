-- Mart: one row per scored residential parcel: distress score 0-100 as the sum of named signal
-- points (one column per signal), the signals that fired, and the tier (A / B+ / B / C).
{%- set signals = lead_signal_names() %}

with

signals as (

    select * from {{ ref('int_lead_signals') }}
    where {{ market_filter() }}

),

scored as (

    select
        *,
        cast(
            {% for signal in signals -%}
            {{ signal }}_points{{ ' + ' if not loop.last }}
            {%- endfor %}
            as decimal(7, 2)
        ) as score,
        {% for signal in signals -%}
        case when {{ signal }}_points > 0 then '{{ signal }}, ' else '' end
        {{- ' ||' if not loop.last }}
        {% endfor -%}
        as reason_list
    from signals

)

select
    property_id,
    market_code,
    parcel_id,
    as_of_month,
    score,
    {{ score_tier('score') }} as tier,
    score >= {{ var('tier_b_plus_min') }} as is_outreach_candidate,
    score >= {{ comps_min_score() }} as is_comp_subject,
    case
        when reason_list <> '' then substr(reason_list, 1, length(reason_list) - 2)
    end as reasons,
    {% for signal in signals -%}
    {{ signal }}_points,
    {% endfor -%}
    dor_use_code,
    use_family,
    living_area_sqft,
    year_built,
    neighborhood_code,
    market_area_code,
    situs_zip,
    years_owned,
    estimated_equity_ratio,
    last_sale_qualification_code,
    '{{ var("engine_version") }}' as engine_version
from scored
