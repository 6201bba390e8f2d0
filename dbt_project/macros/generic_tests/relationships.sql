{#- dbt's relationships test with the parent side scoped like the child side: in a partition
    build both read only the market in scope (keys embed the market code, so a row can only
    have its parent in its own market). Without this, each build re-read every market's parent
    rows, and builds slowed as markets accumulated. -#}
{% macro default__test_relationships(model, column_name, to, field) %}

with child as (
    select {{ column_name }} as from_field
    from {{ model }}
    where {{ column_name }} is not null
),

parent as (
    select {{ field }} as to_field
    from {{ to }}
    {%- if market_code_var() is not none %}
    where {{ market_filter('market_code') }}
    {%- endif %}
)

select from_field
from child
left join parent
    on child.from_field = parent.to_field
where parent.to_field is null

{% endmacro %}
