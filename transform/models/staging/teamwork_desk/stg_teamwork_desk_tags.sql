{{ config(enabled=helpdesk_provider_enabled('teamwork_desk')) }}
select
    cast(id as bigint) as tag_id,
    "name" as name,
    "color" as color
from {{ source('teamwork_desk', 'teamwork_desk_tags') }}
