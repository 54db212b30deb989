{{ config(enabled=helpdesk_provider_enabled('filum')) }}
-- Filum CX tickets in the unified shape (see helpdesk_tickets); status 'deleted' is a
-- deleted ticket. The export has no closing time: closed_at stays null.
select
    'filum' as provider,
    cast(ticket_id as {{ dbt.type_string() }}) as ticket_id,
    subject,
    status as provider_status,
    priority as provider_priority,
    coalesce(lower(status) = 'deleted', false) as is_deleted,
    created_at,
    updated_at,
    cast(null as {{ dbt.type_timestamp() }}) as closed_at,
    customer_email,
    assignee_email,
    custom_fields
from {{ ref('stg_filum_tickets') }}
