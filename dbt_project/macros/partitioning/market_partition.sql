{#- Market partitions: the one place that says which market a run processes.

    var('market_code') null  -> every market in the warehouse;
    var('market_code') "x"   -> only market x.

    Every intermediate and mart model filters what it reads with market_filter(); every
    market-partitioned table deletes its in-scope rows first with clear_market_partition()
    (a pre-hook), then delete+insert adds the new rows. A run for market X therefore replaces
    exactly X's rows, also when X's new result is empty, and never touches other markets. -#}

{% macro market_code_var() -%}
    {%- set market_code = var('market_code', none) -%}
    {%- if market_code is none or market_code == '' -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if market_code is not string or not modules.re.fullmatch('[a-z0-9_]+', market_code) -%}
        {{ exceptions.raise_compiler_error(
            "var market_code must be null or a lower-case code like 'orange_fl', got: " ~ market_code) }}
    {%- endif -%}
    {{ return(market_code) }}
{%- endmacro %}


{% macro market_filter(column='market_code') -%}
    {%- set market_code = market_code_var() -%}
    {%- if market_code is none -%}
        (1 = 1)
    {%- else -%}
        ({{ column }} = '{{ market_code }}')
    {%- endif -%}
{%- endmacro %}


{% macro clear_market_partition() -%}
    {%- if flags.FULL_REFRESH and market_code_var() is not none -%}
        {{ exceptions.raise_compiler_error(
            "--full-refresh rebuilds the market-partitioned tables from scratch: with var "
            ~ "market_code set they would keep only that market's rows. Run --full-refresh "
            ~ "without market_code (all markets).") }}
    {%- endif -%}
    {%- if is_incremental() -%}
        delete from {{ this }} where {{ market_filter('market_code') }}
    {%- else -%}
        select 1 as nothing_to_clear
    {%- endif -%}
{%- endmacro %}
