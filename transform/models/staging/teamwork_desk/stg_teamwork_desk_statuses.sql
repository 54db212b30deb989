{{ config(enabled=helpdesk_provider_enabled('teamwork_desk')) }}
-- Ticket statuses; `code` (active, waiting, onhold, solved, closed, spam or a custom code)
-- is what seeds/helpdesk_status_map.csv maps.
select
    cast(id as bigint) as status_id,
    "code" as code,
    "name" as name,
    "isCustom" as is_custom,
    cast("displayOrder" as bigint) as display_order
from {{ source('teamwork_desk', 'teamwork_desk_statuses') }}
