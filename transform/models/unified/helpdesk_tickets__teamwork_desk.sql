{{ config(enabled=helpdesk_provider_enabled('teamwork_desk')) }}
-- Teamwork Desk tickets in the unified shape (see helpdesk_tickets): status from the
-- ticket status's code, priority from its name, e-mails from the sideloaded customer
-- and agent. Teamwork Desk exports no closing time: closed_at stays null.
select
    'teamwork_desk' as provider,
    cast(t.ticket_id as {{ dbt.type_string() }}) as ticket_id,
    t.subject,
    s.code as provider_status,
    p.name as provider_priority,
    (t.deleted_at is not null or lower(coalesce(t.state, '')) in ('deleted', 'trash')) as is_deleted,
    t.created_at,
    t.updated_at,
    cast(null as {{ dbt.type_timestamp() }}) as closed_at,
    c.email as customer_email,
    u.email as assignee_email,
    t.custom_fields
from {{ ref('stg_teamwork_desk_tickets') }} as t
left join {{ ref('stg_teamwork_desk_statuses') }} as s on s.status_id = t.status_id
left join {{ ref('stg_teamwork_desk_priorities') }} as p on p.priority_id = t.priority_id
left join {{ ref('stg_teamwork_desk_customers') }} as c on c.customer_id = t.customer_id
left join {{ ref('stg_teamwork_desk_users') }} as u on u.user_id = t.agent_id
