{#- Helpers shared by the models: which providers are built, and JSON across adapters.
    DuckDB (target-duckdb) stores objects and arrays as JSON; PostgreSQL (target-postgres)
    as jsonb, arrays as jsonb[] / text[]. -#}

{% macro helpdesk_providers() -%}
    {%- set raw = env_var('HELPDESK_PROVIDERS', '') or var('helpdesk_providers') -%}
    {%- set items = raw if raw is not string else raw.split(',') -%}
    {{- return(items | map('trim') | reject('equalto', '') | list) -}}
{%- endmacro %}

{#- config(enabled=...) of a provider's models: built only when the provider is listed. -#}
{% macro helpdesk_provider_enabled(provider) -%}
    {{- return(provider in helpdesk_providers()) -}}
{%- endmacro %}

{#- The SQL type of JSON values. -#}
{% macro helpdesk_json_type() -%}
    {{- return(adapter.dispatch('helpdesk_json_type')()) -}}
{%- endmacro %}
{% macro default__helpdesk_json_type() %}json{% endmacro %}
{% macro postgres__helpdesk_json_type() %}jsonb{% endmacro %}

{#- A loaded JSON column (object or array) as a JSON value; JSON null becomes SQL NULL. -#}
{% macro helpdesk_json(column) -%}
    {{- return(adapter.dispatch('helpdesk_json')(column)) -}}
{%- endmacro %}
{% macro default__helpdesk_json(column) -%}
    case when json_type(cast({{ column }} as json)) = 'NULL' then null
         else cast({{ column }} as json) end
{%- endmacro %}
{% macro postgres__helpdesk_json(column) -%}
    {#- objects arrive as jsonb, arrays as jsonb[] or text[]: to_jsonb handles each -#}
    case when jsonb_typeof(to_jsonb({{ column }})) = 'null' then null
         else to_jsonb({{ column }}) end
{%- endmacro %}

{#- Text of a key of a JSON object (NULL when absent). -#}
{% macro helpdesk_json_text(column, key) -%}
    {{- return(adapter.dispatch('helpdesk_json_text')(column, key)) -}}
{%- endmacro %}
{% macro default__helpdesk_json_text(column, key) -%}
    json_extract_string({{ column }}, '$.{{ key }}')
{%- endmacro %}
{% macro postgres__helpdesk_json_text(column, key) -%}
    ({{ column }} ->> '{{ key }}')
{%- endmacro %}

{#- A JSON object from (key, SQL expression) pairs; NULL values are kept as JSON null. -#}
{% macro helpdesk_json_object(pairs) -%}
    {{- return(adapter.dispatch('helpdesk_json_object')(pairs)) -}}
{%- endmacro %}
{% macro default__helpdesk_json_object(pairs) -%}
    json_object({% for key, expr in pairs %}'{{ key }}', {{ expr }}{% if not loop.last %}, {% endif %}{% endfor %})
{%- endmacro %}
{% macro postgres__helpdesk_json_object(pairs) -%}
    jsonb_build_object({% for key, expr in pairs %}'{{ key }}', {{ expr }}{% if not loop.last %}, {% endif %}{% endfor %})
{%- endmacro %}

{#- A source table, or an empty relation of the given (column, SQL type) pairs when the table
    is not there: a stream that was deselected (or has not been loaded yet) leaves its models
    empty instead of breaking the build. source() is always called, so lineage shows it. -#}
{% macro helpdesk_source_or_empty(source_name, table_name, columns) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- if execute and adapter.get_relation(
            database=relation.database, schema=relation.schema, identifier=relation.identifier
        ) is none -%}
        (select
        {%- for name, type in columns %}
            cast(null as {{ type }}) as {{ adapter.quote(name) }}{{ ',' if not loop.last }}
        {%- endfor %}
        where 1 = 0)
    {%- else -%}
        {{ relation }}
    {%- endif -%}
{%- endmacro %}

{#- Minutes from one timestamp to another (fractional; NULL when either is NULL). -#}
{% macro helpdesk_minutes_between(start, end) -%}
    {{- return(adapter.dispatch('helpdesk_minutes_between')(start, end)) -}}
{%- endmacro %}
{% macro default__helpdesk_minutes_between(start, end) -%}
    cast((epoch(cast({{ end }} as timestamp)) - epoch(cast({{ start }} as timestamp))) / 60.0 as {{ dbt.type_float() }})
{%- endmacro %}
{% macro postgres__helpdesk_minutes_between(start, end) -%}
    cast(extract(epoch from (cast({{ end }} as timestamp) - cast({{ start }} as timestamp))) / 60.0 as {{ dbt.type_float() }})
{%- endmacro %}

{#- A timestamp plus a number of minutes. -#}
{% macro helpdesk_add_minutes(moment, minutes) -%}
    {{- return(adapter.dispatch('helpdesk_add_minutes')(moment, minutes)) -}}
{%- endmacro %}
{% macro default__helpdesk_add_minutes(moment, minutes) -%}
    (cast({{ moment }} as timestamp) + to_minutes(cast({{ minutes }} as bigint)))
{%- endmacro %}
{% macro postgres__helpdesk_add_minutes(moment, minutes) -%}
    (cast({{ moment }} as timestamp) + make_interval(mins => cast({{ minutes }} as integer)))
{%- endmacro %}

{#- Every day from `first_day` to `last_day` (dates), one row each: a set-returning
    expression for a select list. -#}
{% macro helpdesk_days(first_day, last_day) -%}
    {{- return(adapter.dispatch('helpdesk_days')(first_day, last_day)) -}}
{%- endmacro %}
{% macro default__helpdesk_days(first_day, last_day) -%}
    cast(unnest(generate_series(cast({{ first_day }} as timestamp), cast({{ last_day }} as timestamp), interval 1 day)) as date)
{%- endmacro %}
{% macro postgres__helpdesk_days(first_day, last_day) -%}
    cast(generate_series(cast({{ first_day }} as timestamp), cast({{ last_day }} as timestamp), interval '1 day') as date)
{%- endmacro %}

{#- The address inside "Name <address>", else the text itself. -#}
{% macro helpdesk_email_of(text) -%}
    {{- return(adapter.dispatch('helpdesk_email_of')(text)) -}}
{%- endmacro %}
{% macro default__helpdesk_email_of(text) -%}
    coalesce(nullif(regexp_extract({{ text }}, '<([^>]+)>', 1), ''), {{ text }})
{%- endmacro %}
{% macro postgres__helpdesk_email_of(text) -%}
    coalesce(substring({{ text }} from '<([^>]+)>'), {{ text }})
{%- endmacro %}

{#- Providers among those built whose API gives messages (a helpdesk_messages__<provider>
    branch exists for each). -#}
{% macro helpdesk_message_providers() -%}
    {{- return(helpdesk_providers() | select('in', ['proprofs', 'teamwork_desk', 'enneo']) | list) -}}
{%- endmacro %}
