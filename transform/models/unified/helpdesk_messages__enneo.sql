{{ config(enabled=helpdesk_provider_enabled('enneo')) }}
-- Enneo messages in the unified shape (see helpdesk_messages), from the reporting export:
-- direction in / out / internal as Enneo says; the export names no author.
select
    'enneo' as provider,
    cast(ticket_id as {{ dbt.type_string() }}) as ticket_id,
    cast(conversation_id as {{ dbt.type_string() }}) as message_id,
    created_at,
    case direction
        when 'in' then 'inbound'
        when 'out' then 'outbound'
        when 'internal' then 'internal'
        else lower(direction)
    end as direction,
    cast(null as {{ dbt.type_string() }}) as message_type,
    cast(null as {{ dbt.type_string() }}) as author,
    channel
from {{ ref('stg_enneo_reporting_messages') }}
