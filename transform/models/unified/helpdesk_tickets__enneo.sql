{{ config(enabled=helpdesk_provider_enabled('enneo')) }}
-- Enneo tickets in the unified shape (see helpdesk_tickets). The customer's e-mail is the
-- reporting export's `email`, else the ticket's sender; the export names no assignee
-- e-mail (only agentId, kept in custom_fields).
select
    'enneo' as provider,
    cast(t.ticket_id as {{ dbt.type_string() }}) as ticket_id,
    t.subject,
    t.status as provider_status,
    t.priority as provider_priority,
    false as is_deleted,
    t.created_at,
    t.modified_at as updated_at,
    t.closed_at,
    coalesce(r.email, t.from_email) as customer_email,
    cast(null as {{ dbt.type_string() }}) as assignee_email,
    {{ helpdesk_json_object([
        ('channel', 't.channel'),
        ('direction', 't.direction'),
        ('contractId', 't.contract_id'),
        ('customerId', 't.customer_id'),
        ('agentId', 't.agent_id'),
        ('topic', 'r.topic'),
        ('subTopic', 'r.sub_topic'),
    ]) }} as custom_fields
from {{ ref('stg_enneo_tickets') }} as t
left join {{ ref('stg_enneo_reporting_tickets') }} as r
    on r.ticket_id = t.ticket_id
