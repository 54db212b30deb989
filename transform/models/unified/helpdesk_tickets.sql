-- Tickets of every provider in one shape. Each provider contributes one branch model,
-- helpdesk_tickets__<provider>, with the columns below (provider_status / provider_priority
-- as the provider names them, is_deleted where the provider says so); status and priority
-- are mapped to one vocabulary by seeds/helpdesk_status_map.csv and
-- seeds/helpdesk_priority_map.csv. A value with no mapping row passes through lower-cased,
-- so the accepted_values tests name it.
{%- set columns = [
    'provider', 'ticket_id', 'subject', 'provider_status', 'provider_priority', 'is_deleted',
    'created_at', 'updated_at', 'closed_at', 'customer_email', 'assignee_email', 'custom_fields',
] %}

with unioned as (
    {%- for provider in helpdesk_providers() %}
    select
        {%- for column in columns %}
        {% if column == 'custom_fields' -%}
        cast(custom_fields as {{ helpdesk_json_type() }}) as custom_fields
        {%- else -%}
        {{ column }}
        {%- endif -%}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ ref('helpdesk_tickets__' ~ provider) }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
)

select
    u.provider,
    u.ticket_id,
    u.subject,
    case
        when u.is_deleted then 'deleted'
        else coalesce(sm.status, lower(u.provider_status))
    end as status,
    coalesce(pm.priority, lower(u.provider_priority)) as priority,
    u.is_deleted,
    u.provider_status,
    u.provider_priority,
    u.created_at,
    u.updated_at,
    u.closed_at,
    u.customer_email,
    u.assignee_email,
    u.custom_fields
from unioned as u
left join {{ ref('helpdesk_status_map') }} as sm
    on sm.provider = u.provider and sm.provider_status = lower(u.provider_status)
left join {{ ref('helpdesk_priority_map') }} as pm
    on pm.provider = u.provider and pm.provider_priority = lower(u.provider_priority)
