{#- Generic test: the SQL boolean `expression` holds on every row (rows where it is false or
    null fail). On a column, the column name is put in front of the expression
    (`expression: ">= 0"`). Mirrors dbt_utils.expression_is_true. -#}
{% test expression_is_true(model, expression, column_name=none) %}
select *
from {{ model }}
where not coalesce(({{ column_name ~ ' ' if column_name is not none else '' }}{{ expression }}), false)
{% endtest %}
