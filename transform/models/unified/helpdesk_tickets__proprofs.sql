{{ config(enabled=helpdesk_provider_enabled('proprofs')) }}
-- ProProfs Help Desk tickets in the unified shape (see helpdesk_tickets): the staff member
-- is the assignee. The list has no closing time: closed_at stays null.
select
    'proprofs' as provider,
    ticket_id,
    subject,
    status as provider_status,
    priority as provider_priority,
    is_deleted,
    created_at,
    modified_at as updated_at,
    cast(null as {{ dbt.type_timestamp() }}) as closed_at,
    customer_email,
    staff_email as assignee_email,
    custom_fields
from {{ ref('stg_proprofs_tickets') }}
