{{ config(enabled=helpdesk_provider_enabled('teamwork_desk')) }}
-- Agents.
select
    cast(id as bigint) as user_id,
    "firstName" as first_name,
    "lastName" as last_name,
    "email" as email,
    "role" as role,
    "createdAt" as created_at,
    "updatedAt" as updated_at
from {{ source('teamwork_desk', 'teamwork_desk_users') }}
