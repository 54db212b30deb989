{{ config(enabled=helpdesk_provider_enabled('teamwork_desk')) }}
-- Ticket sources (Email, Phone, ...).
select
    cast(id as bigint) as source_id,
    "name" as name,
    cast("displayOrder" as bigint) as display_order
from {{ source('teamwork_desk', 'teamwork_desk_sources') }}
