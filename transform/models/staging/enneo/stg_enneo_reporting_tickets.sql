{{ config(enabled=helpdesk_provider_enabled('enneo')) }}
-- One reporting row per Enneo ticket (GET /api/mind/export/reporting_tickets). Times are UTC.
select
    cast(id as bigint) as ticket_id,
    "status" as status,
    "priority" as priority,
    "channel" as channel,
    "direction" as direction,
    "email" as email,
    "contractId" as contract_id,
    "customerId" as customer_id,
    "topic" as topic,
    "subTopic" as sub_topic,
    "allTags" as all_tags,
    cast("incomingMessages" as bigint) as incoming_messages,
    cast("outgoingMessages" as bigint) as outgoing_messages,
    cast("internalMessages" as bigint) as internal_messages,
    cast("secondsToClose" as bigint) as seconds_to_close,
    "createdAt" as created_at,
    "modifiedAt" as modified_at,
    "closedAt" as closed_at,
    {{ helpdesk_json('"rawData"') }} as raw_data
from {{ source('enneo', 'enneo_reporting_tickets') }}
