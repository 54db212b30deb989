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
