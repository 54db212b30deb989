{{ config(enabled=helpdesk_provider_enabled('teamwork_desk')) }}
select
    cast(id as bigint) as priority_id,
    "name" as name,
    "isCustom" as is_custom,
    cast("displayOrder" as bigint) as display_order
from {{ source('teamwork_desk', 'teamwork_desk_priorities') }}
