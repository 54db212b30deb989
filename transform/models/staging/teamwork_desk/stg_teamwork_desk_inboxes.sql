{{ config(enabled=helpdesk_provider_enabled('teamwork_desk')) }}
select
    cast(id as bigint) as inbox_id,
    "name" as name,
    "email" as email,
    "type" as type,
    "createdAt" as created_at,
    "updatedAt" as updated_at
from {{ source('teamwork_desk', 'teamwork_desk_inboxes') }}
