{{ config(enabled=helpdesk_provider_enabled('proprofs')) }}
-- One row per ProProfs Help Desk ticket (POST /app/api/v1/list/ticket/). Times are UTC.
select
    cast(ticket_id as {{ dbt.type_string() }}) as ticket_id,
    "ticket_subject" as subject,
    "ticket_status" as status,
    "priority" as priority,
    "customer_email" as customer_email,
    "customer_name" as customer_name,
    "customer_phone" as customer_phone,
    {{ helpdesk_json_text('"staff"', 'email') }} as staff_email,
    {{ helpdesk_json_text('"staff"', 'name') }} as staff_name,
    {{ helpdesk_json_text('"inbox"', 'name') }} as inbox_name,
    coalesce("deleted", false) as is_deleted,
    "created_date_time" as created_at,
    "modified_date_time" as modified_at,
    "ticket_due_date" as due_at,
    {{ helpdesk_json('"custom_fields"') }} as custom_fields,
    {{ helpdesk_json('"labels"') }} as labels
from {{ source('proprofs', 'proprofs_tickets') }}
