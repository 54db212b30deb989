{{ config(enabled=helpdesk_provider_enabled('teamwork_desk')) }}
select
    cast(id as bigint) as company_id,
    "name" as name,
    "website" as website,
    "industry" as industry,
    "createdAt" as created_at,
    "updatedAt" as updated_at
from {{ source('teamwork_desk', 'teamwork_desk_companies') }}
