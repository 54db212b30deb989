{#- Fails for each row whose `columns` match no row of `to` on `to_columns` (dbt's
    relationships test over several columns: (provider, ticket_id) pairs). -#}
{% test relationships_combination(model, columns, to, to_columns) %}
select {% for column in columns %}child.{{ column }}{{ ', ' if not loop.last }}{% endfor %}
from {{ model }} as child
left join {{ to }} as parent
    on {% for column in columns %}parent.{{ to_columns[loop.index0] }} = child.{{ column }}{{ ' and ' if not loop.last }}{% endfor %}
where parent.{{ to_columns[0] }} is null
{% endtest %}
