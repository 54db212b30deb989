{{ config(enabled=helpdesk_provider_enabled('filum')) }}
-- One row per Filum CX ticket (POST /external/tickets/export). Times are UTC.
select
    cast(ticket_id as bigint) as ticket_id,
    "subject" as subject,
    "description" as description,
    "status" as status,
    "priority" as priority,
    "customer_name" as customer_name,
    "customer_email" as customer_email,
    "customer_phone" as customer_phone,
    "assignee_name" as assignee_name,
    "assignee_email" as assignee_email,
    "creator_name" as creator_name,
    "creator_email" as creator_email,
    cast("installed_source_id" as bigint) as installed_source_id,
    "installed_source_name" as installed_source_name,
    "created_at" as created_at,
    "updated_at" as updated_at,
    "due_date" as due_date,
    {{ helpdesk_json('"custom_fields"') }} as custom_fields
from {{ source('filum', 'filum_tickets') }}
