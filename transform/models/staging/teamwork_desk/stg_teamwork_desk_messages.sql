{{ config(enabled=helpdesk_provider_enabled('teamwork_desk')) }}
-- One row per Teamwork Desk message (thread) of the loaded tickets (the ticket pages'
-- included.messages). thread_type: message (the customer's, or an agent's reply), forward,
-- note (internal) or eventInfo (a system event); author_type: customers or users (agents).
-- Times are UTC. Empty when the stream is not loaded.
select
    cast(id as bigint) as message_id,
    cast({{ helpdesk_json_text('"ticket"', 'id') }} as bigint) as ticket_id,
    "threadType" as thread_type,
    "state" as state,
    cast({{ helpdesk_json_text('"createdBy"', 'id') }} as bigint) as author_id,
    {{ helpdesk_json_text('"createdBy"', 'type') }} as author_type,
    "createdAt" as created_at
from {{ helpdesk_source_or_empty('teamwork_desk', 'teamwork_desk_messages', [
    ('id', 'bigint'),
    ('ticket', helpdesk_json_type()),
    ('threadType', dbt.type_string()),
    ('state', dbt.type_string()),
    ('createdBy', helpdesk_json_type()),
    ('createdAt', dbt.type_timestamp()),
]) }} as m
