{#- Fails for each combination of `columns` that occurs more than once (like dbt_utils'
    unique_combination_of_columns, without a package download). -#}
{% test unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as occurrences
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
