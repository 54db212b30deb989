-- One row per ticket of helpdesk_tickets: first response, closing and resolution, message
-- counts. Figures computed from helpdesk_messages sit next to the provider's own figures
-- (provider_*) where the provider has them: Teamwork Desk's responseTimeMins and
-- resolutionTimeMins, Enneo's secondsToClose and message counts. Minutes are fractional.
--
-- closed_at: the provider's closing time where it tells one (closed_at_basis 'provider');
-- else, for a ticket solved or closed now, its last update ('last_update': the provider
-- exports no closing time, and the last change of a solved ticket is at the latest its
-- solving). Which columns each provider fills: transform/README.md.
{%- set figures = [] %}
{%- if 'teamwork_desk' in helpdesk_providers() %}{% do figures.append('teamwork_desk') %}{% endif %}
{%- if 'enneo' in helpdesk_providers() %}{% do figures.append('enneo') %}{% endif %}

with tickets as (
    select provider, ticket_id, status, is_deleted, created_at, updated_at, closed_at
    from {{ ref('helpdesk_tickets') }}
),

message_counts as (
    select
        provider,
        ticket_id,
        min(case when direction = 'outbound' then created_at end) as first_response_at,
        sum(case when direction = 'inbound' then 1 else 0 end) as inbound_messages,
        sum(case when direction = 'outbound' then 1 else 0 end) as outbound_messages,
        sum(case when direction = 'internal' then 1 else 0 end) as internal_messages
    from {{ ref('helpdesk_messages') }}
    group by provider, ticket_id
),

providers_with_messages as (
    select distinct provider from message_counts
),

provider_figures as (
    {%- for provider in figures %}
    {%- if provider == 'teamwork_desk' %}
    select
        'teamwork_desk' as provider,
        cast(ticket_id as {{ dbt.type_string() }}) as ticket_id,
        cast(response_time_mins as {{ dbt.type_float() }}) as provider_first_response_minutes,
        cast(resolution_time_mins as {{ dbt.type_float() }}) as provider_resolution_minutes,
        cast(null as bigint) as provider_inbound_messages,
        cast(null as bigint) as provider_outbound_messages,
        cast(null as bigint) as provider_internal_messages
    from {{ ref('stg_teamwork_desk_tickets') }}
    {%- else %}
    select
        'enneo' as provider,
        cast(ticket_id as {{ dbt.type_string() }}) as ticket_id,
        cast(null as {{ dbt.type_float() }}) as provider_first_response_minutes,
        cast(seconds_to_close as {{ dbt.type_float() }}) / 60.0 as provider_resolution_minutes,
        incoming_messages as provider_inbound_messages,
        outgoing_messages as provider_outbound_messages,
        internal_messages as provider_internal_messages
    from {{ ref('stg_enneo_reporting_tickets') }}
    {%- endif %}
    union all
    {%- endfor %}
    select
        cast(null as {{ dbt.type_string() }}) as provider,
        cast(null as {{ dbt.type_string() }}) as ticket_id,
        cast(null as {{ dbt.type_float() }}) as provider_first_response_minutes,
        cast(null as {{ dbt.type_float() }}) as provider_resolution_minutes,
        cast(null as bigint) as provider_inbound_messages,
        cast(null as bigint) as provider_outbound_messages,
        cast(null as bigint) as provider_internal_messages
    where 1 = 0
),

closing as (
    select
        *,
        case
            when closed_at is not null then closed_at
            when status in ('solved', 'closed') then updated_at
        end as closed_at_or_last_update,
        case
            when closed_at is not null then 'provider'
            when status in ('solved', 'closed') then 'last_update'
        end as closed_at_basis
    from tickets
)

select
    t.provider,
    t.ticket_id,
    t.status,
    t.is_deleted,
    t.status in ('open', 'pending') as is_open,
    t.created_at,
    m.first_response_at,
    {{ helpdesk_minutes_between('t.created_at', 'm.first_response_at') }} as first_response_minutes,
    f.provider_first_response_minutes,
    t.closed_at_or_last_update as closed_at,
    t.closed_at_basis,
    {{ helpdesk_minutes_between('t.created_at', 't.closed_at_or_last_update') }} as resolution_minutes,
    f.provider_resolution_minutes,
    {#- 0 for a ticket without messages of a provider that has some; null for a provider
        without any (no message API, or its message stream not loaded) #}
    {%- for kind in ['inbound', 'outbound', 'internal'] %}
    case
        when p.provider is not null then coalesce(m.{{ kind }}_messages, 0)
    end as {{ kind }}_messages,
    {%- endfor %}
    f.provider_inbound_messages,
    f.provider_outbound_messages,
    f.provider_internal_messages
from closing as t
left join message_counts as m on m.provider = t.provider and m.ticket_id = t.ticket_id
left join providers_with_messages as p on p.provider = t.provider
left join provider_figures as f on f.provider = t.provider and f.ticket_id = t.ticket_id
