{{ config(enabled=helpdesk_provider_enabled('enneo')) }}
-- One row per Enneo ticket (GET /api/mind/export/ticket). Times are UTC.
select
    cast(id as bigint) as ticket_id,
    "subject" as subject,
    "status" as status,
    "priority" as priority,
    "channel" as channel,
    "direction" as direction,
    "from" as from_email,
    "fromName" as from_name,
    "contractId" as contract_id,
    "customerId" as customer_id,
    cast("agentId" as bigint) as agent_id,
    "spamStatus" as spam_status,
    "createdAt" as created_at,
    "modifiedAt" as modified_at,
    "closedAt" as closed_at,
    "dueBy" as due_by,
    "lastMessageAt" as last_message_at,
    "lastCustomerMessageAt" as last_customer_message_at,
    {{ helpdesk_json('"rawData"') }} as raw_data
from {{ source('enneo', 'enneo_tickets') }}
