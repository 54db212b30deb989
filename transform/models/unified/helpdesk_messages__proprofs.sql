{{ config(enabled=helpdesk_provider_enabled('proprofs')) }}
-- ProProfs Help Desk messages in the unified shape (see helpdesk_messages). The API gives
-- no message id (the position in the thread stands in for it), no channel and no internal
-- notes: a message with reply_by (the staff member who replied) is outbound, any other the
-- customer's.
select
    'proprofs' as provider,
    ticket_id,
    ticket_id || '-' || cast(position as {{ dbt.type_string() }}) as message_id,
    created_at,
    case when reply_by_email is not null then 'outbound' else 'inbound' end as direction,
    'message' as message_type,
    coalesce(reply_by_email, {{ helpdesk_email_of('from_address') }}) as author,
    cast(null as {{ dbt.type_string() }}) as channel
from {{ ref('stg_proprofs_ticket_messages') }}
