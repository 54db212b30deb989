{{ config(enabled=helpdesk_provider_enabled('teamwork_desk')) }}
-- Teamwork Desk messages in the unified shape (see helpdesk_messages). A "message" thread
-- written by a customer is inbound, one written by an agent (a user) outbound; notes,
-- forwards (to a third party, not the customer) and eventInfo (system events) are
-- internal. The channel is the ticket's source (email, phone, ...). Deleted threads are
-- left out.
select
    'teamwork_desk' as provider,
    cast(m.ticket_id as {{ dbt.type_string() }}) as ticket_id,
    cast(m.message_id as {{ dbt.type_string() }}) as message_id,
    m.created_at,
    case
        when m.thread_type = 'message' and m.author_type = 'customers' then 'inbound'
        when m.thread_type = 'message' then 'outbound'
        else 'internal'
    end as direction,
    m.thread_type as message_type,
    case when m.author_type = 'customers' then c.email else u.email end as author,
    lower(s.name) as channel
from {{ ref('stg_teamwork_desk_messages') }} as m
left join {{ ref('stg_teamwork_desk_tickets') }} as t on t.ticket_id = m.ticket_id
left join {{ ref('stg_teamwork_desk_sources') }} as s on s.source_id = t.source_id
left join {{ ref('stg_teamwork_desk_customers') }} as c
    on m.author_type = 'customers' and c.customer_id = m.author_id
left join {{ ref('stg_teamwork_desk_users') }} as u
    on m.author_type = 'users' and u.user_id = m.author_id
where coalesce(m.state, 'active') <> 'deleted'
