{#- Market partitions: the one place that says which market a run processes.

    var('market_code') null  -> every market in the warehouse;
    var('market_code') "x"   -> only market x.

    Every intermediate and mart model filters what it reads with market_filter(). Every
    market-partitioned table uses the `market_partitioned` materialization below: on the first
    build (or --full-refresh) it creates the table from the query; afterwards it deletes the
    in-scope market's rows and inserts the query's rows, in one transaction. A run for market X
    therefore replaces exactly X's rows, also when X's new result is empty, and never touches
    other markets. Unlike dbt's incremental materialization, it writes each row once (no
    temporary copy of the result), which matters on multi-million-row counties. -#}

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


{% macro refuse_full_refresh_of_one_market() -%}
    {%- if flags.FULL_REFRESH and market_code_var() is not none -%}
        {{ exceptions.raise_compiler_error(
            "--full-refresh rebuilds the market-partitioned tables from scratch: with var "
            ~ "market_code set they would keep only that market's rows. Run --full-refresh "
            ~ "without market_code (all markets).") }}
    {%- endif -%}
{%- endmacro %}


{% materialization market_partitioned, adapter='duckdb' %}
    {%- set target_relation = this.incorporate(type='table') -%}
    {%- set existing_relation = load_cached_relation(this) -%}
    {%- do refuse_full_refresh_of_one_market() -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {%- if existing_relation is none or existing_relation.type != 'table'
          or should_full_refresh() -%}
        {%- if existing_relation is not none -%}
            {%- do adapter.drop_relation(existing_relation) -%}
        {%- endif -%}
        {%- call statement('main') -%}
            {{ create_table_as(False, target_relation, sql) }}
        {%- endcall -%}
    {%- else -%}
        {#- The columns must not change under existing rows (dbt's on_schema_change: fail). -#}
        {%- set probe_relation = make_temp_relation(this, '__columns_probe').incorporate(type='view') -%}
        {%- call statement('probe') -%}
            create or replace temporary view {{ probe_relation.identifier }} as
            select * from ({{ sql }}) as model_query limit 0
        {%- endcall -%}
        {%- set new_columns = adapter.get_columns_in_relation(probe_relation)
                              | map(attribute='name') | map('lower') | list -%}
        {%- set old_columns = adapter.get_columns_in_relation(existing_relation)
                              | map(attribute='name') | map('lower') | list -%}
        {%- call statement('drop_probe') -%}
            drop view if exists {{ probe_relation.identifier }}
        {%- endcall -%}
        {%- if new_columns != old_columns -%}
            {{ exceptions.raise_compiler_error(
                "The columns of " ~ this ~ " changed; existing markets' rows would not match. "
                ~ "Rebuild every market: dbt build --full-refresh (without market_code).") }}
        {%- endif -%}
        {%- call statement('main') -%}
            delete from {{ target_relation }} where {{ market_filter('market_code') }};
            insert into {{ target_relation }} by name {{ sql }}
        {%- endcall -%}
    {%- endif -%}

    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {{ adapter.commit() }}
    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {%- do persist_docs(target_relation, model) -%}
    {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}


{#- dbt's hook for what a generic data test reads (here: the test's `where` config, if any,
    and the market in scope). A partition build tests only its own market's rows, so a build's
    test time stays proportional to the market, not to the whole warehouse; a build without
    market_code tests every market. Every tested model and source carries market_code. -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if market_code_var() is not none -%}
        {%- set in_market = market_filter('market_code') -%}
        {%- set where = in_market if not where else '(' ~ where ~ ') and ' ~ in_market -%}
    {%- endif -%}
    {%- if where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
