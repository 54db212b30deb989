{{ config(enabled=helpdesk_provider_enabled('enneo')) }}
-- One row per Enneo message (GET /api/mind/export/reporting_messages): the conversation
-- entry, its ticket, channel and direction (in / out / internal). Times are UTC. Empty when
-- the stream is not loaded.
select
    cast("conversationId" as bigint) as conversation_id,
    cast("ticketId" as bigint) as ticket_id,
    "channel" as channel,
    "direction" as direction,
    "createdAt" as created_at
from {{ helpdesk_source_or_empty('enneo', 'enneo_reporting_messages', [
    ('conversationId', 'bigint'),
    ('ticketId', 'bigint'),
    ('channel', dbt.type_string()),
    ('direction', dbt.type_string()),
    ('createdAt', dbt.type_timestamp()),
]) }} as m
