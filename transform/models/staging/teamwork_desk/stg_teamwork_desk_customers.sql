{{ config(enabled=helpdesk_provider_enabled('teamwork_desk')) }}
select
    cast(id as bigint) as customer_id,
    "firstName" as first_name,
    "lastName" as last_name,
    "email" as email,
    "phone" as phone,
    "organization" as organization,
    cast({{ helpdesk_json_text('"company"', 'id') }} as bigint) as company_id,
    "createdAt" as created_at,
    "updatedAt" as updated_at
from {{ source('teamwork_desk', 'teamwork_desk_customers') }}
