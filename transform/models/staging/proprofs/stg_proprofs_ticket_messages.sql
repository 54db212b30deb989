{{ config(enabled=helpdesk_provider_enabled('proprofs')) }}
-- One row per message of a ProProfs ticket, in thread order. Times are UTC.
select
    cast(ticket_id as {{ dbt.type_string() }}) as ticket_id,
    cast("position" as bigint) as position,
    "message_plain_text" as message_plain_text,
    "from" as from_address,
    "to" as to_address,
    {{ helpdesk_json_text('"reply_by"', 'email') }} as reply_by_email,
    "created" as created_at
from {{ source('proprofs', 'proprofs_ticket_messages') }}
