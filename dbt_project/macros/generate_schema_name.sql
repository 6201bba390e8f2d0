{#- Schemas are exactly staging / intermediate / marts: use the folder's +schema as is,
    without dbt's default "<target schema>_" prefix. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
