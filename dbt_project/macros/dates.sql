{#- Date helpers. -#}

{#- First day of a month from integer year and month columns; null when either is missing or
    out of range (the rolls carry 0 for "no sale"). -#}
{% macro month_start_date(year_column, month_column) -%}
    case
        when {{ year_column }} between 1800 and 2200 and {{ month_column }} between 1 and 12
            then {{ adapter.dispatch('make_month_start', 'wholesaler')(year_column, month_column) }}
    end
{%- endmacro %}

{% macro default__make_month_start(year_column, month_column) -%}
    cast(
        cast({{ year_column }} as {{ dbt.type_string() }}) || '-'
        || lpad(cast({{ month_column }} as {{ dbt.type_string() }}), 2, '0') || '-01'
        as date
    )
{%- endmacro %}

{% macro duckdb__make_month_start(year_column, month_column) -%}
    make_date({{ year_column }}, {{ month_column }}, 1)
{%- endmacro %}


{#- var('as_of_month') ('YYYY-MM') as a SQL date literal, or the SQL null when unset. -#}
{% macro as_of_month_var_date() -%}
    {%- set as_of = var('as_of_month', none) -%}
    {%- if as_of is none or as_of == '' -%}
        cast(null as date)
    {%- else -%}
        {%- if not modules.re.fullmatch('[0-9]{4}-(0[1-9]|1[0-2])', as_of | string) -%}
            {{ exceptions.raise_compiler_error("var as_of_month must be 'YYYY-MM', got: " ~ as_of) }}
        {%- endif -%}
        cast('{{ as_of }}-01' as date)
    {%- endif -%}
{%- endmacro %}
