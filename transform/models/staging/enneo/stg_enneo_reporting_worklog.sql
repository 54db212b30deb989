{{ config(enabled=helpdesk_provider_enabled('enneo')) }}
-- One row per agent or AI action on an Enneo ticket (GET /api/mind/export/reporting_worklog):
-- closeAction, readAction, statusAction, writeAction or autoProcessAction, its time and
-- duration (seconds). Times are UTC. Empty when the stream is not loaded.
select
    cast("userWorklogId" as bigint) as worklog_id,
    cast("ticketId" as bigint) as ticket_id,
    cast("conversationId" as bigint) as conversation_id,
    cast("userId" as bigint) as user_id,
    "name" as user_name,
    "action" as action,
    "status" as status,
    "channel" as channel,
    "department" as department,
    "duration" as duration_seconds,
    "date" as acted_at
from {{ helpdesk_source_or_empty('enneo', 'enneo_reporting_worklog', [
    ('userWorklogId', 'bigint'),
    ('ticketId', 'bigint'),
    ('conversationId', 'bigint'),
    ('userId', 'bigint'),
    ('name', dbt.type_string()),
    ('action', dbt.type_string()),
    ('status', dbt.type_string()),
    ('channel', dbt.type_string()),
    ('department', dbt.type_string()),
    ('duration', dbt.type_float()),
    ('date', dbt.type_timestamp()),
]) }} as w
