{#- Lead-score helpers: the signal list, points, tiers. docs/scoring.md explains each signal. -#}

{#- The scored signals, in the fixed order used for `reasons` and for the score sum. Each
    signal <s> has a weight var score_<s> and a column <s>_points in int_lead_signals. -#}
{% macro lead_signal_names() -%}
    {{ return([
        'lis_pendens',
        'tax_deed',
        'code_violation',
        'vacancy',
        'estate_trust',
        'distressed_sale',
        'absentee',
        'out_of_state',
        'no_homestead',
        'long_ownership',
        'equity',
    ]) }}
{%- endmacro %}


{#- Points of one signal: the full weight when `full_condition` holds, half of it when
    `half_condition` holds, else 0. Exact decimals so sums and tier cut-offs are exact. -#}
{% macro signal_points(signal, full_condition, half_condition=none) -%}
    cast(
        case
            when {{ full_condition }} then {{ var('score_' ~ signal) }}
            {%- if half_condition is not none %}
            when {{ half_condition }} then {{ var('score_' ~ signal) }} * 0.5
            {%- endif %}
            else 0
        end
        as decimal(7, 2)
    )
{%- endmacro %}


{#- Tier of a score: A >= tier_a_min, B+ >= tier_b_plus_min, B >= tier_b_min, else C. -#}
{% macro score_tier(score_column) -%}
    case
        when {{ score_column }} >= {{ var('tier_a_min') }} then 'A'
        when {{ score_column }} >= {{ var('tier_b_plus_min') }} then 'B+'
        when {{ score_column }} >= {{ var('tier_b_min') }} then 'B'
        else 'C'
    end
{%- endmacro %}


{#- The minimum score that earns comps, a valuation and an offer (null var = the B+ cut-off). -#}
{% macro comps_min_score() -%}
    {%- set value = var('comps_min_score', none) -%}
    {{- var('tier_b_plus_min') if value is none else value -}}
{%- endmacro %}
