{#- Text clean-up used by the staging models. -#}

{#- Trimmed text, null when blank. -#}
{% macro clean_text(column) -%}
    nullif(trim({{ column }}), '')
{%- endmacro %}

{#- Upper-cased, trimmed text, null when blank. -#}
{% macro clean_upper(column) -%}
    nullif(upper(trim({{ column }})), '')
{%- endmacro %}

{#- The 5-digit ZIP of a ZIP / ZIP+4 value ("32801", "328011234", "32801-1234"), else null. -#}
{% macro zip5(column) -%}
    case
        when length(trim({{ column }})) >= 5
            and translate(substr(trim({{ column }}), 1, 5), '0123456789', '') = ''
            then substr(trim({{ column }}), 1, 5)
    end
{%- endmacro %}

{#- A zero-padded code ("1" -> "001"), null when blank. -#}
{% macro padded_code(column, width) -%}
    lpad(nullif(trim({{ column }}), ''), {{ width }}, '0')
{%- endmacro %}

{#- Florida DOR use code (3 characters) -> use family. -#}
{% macro use_family(dor_use_code) -%}
    case
        when {{ dor_use_code }} = '001' then 'single_family'
        when {{ dor_use_code }} = '002' then 'mobile_home'
        when {{ dor_use_code }} in ('004', '005') then 'condo'
        when {{ dor_use_code }} in ('003', '008') then 'multi_family'
        when {{ dor_use_code }} in ('000', '010') then 'vacant'
        else 'other'
    end
{%- endmacro %}

{#- The owner name reads as a trust or trustee (TR, TRS, TRUST, TRUSTEE, TTEE). -#}
{% macro trust_name(column) -%}
    (
        {{ column }} like '% TR'
        or {{ column }} like '% TRS'
        or {{ column }} like '% TR %'
        or {{ column }} like '%TRUST%'
        or {{ column }} like '%TTEE%'
    )
{%- endmacro %}

{#- The key of a parcel across markets: the one place that builds property_id, so roll, sales
    and distress rows of the same parcel always join. -#}
{% macro property_id(parcel_id_column='parcel_id', market_code_column='market_code') -%}
    {{ market_code_column }} || '-' || {{ clean_text(parcel_id_column) }}
{%- endmacro %}
