{{ config(enabled=helpdesk_provider_enabled('teamwork_desk')) }}
-- One row per Teamwork Desk ticket; related objects as ids. Times are UTC.
select
    cast(id as bigint) as ticket_id,
    "subject" as subject,
    "state" as state,
    "previewText" as preview_text,
    "originalRecipient" as original_recipient,
    cast({{ helpdesk_json_text('"status"', 'id') }} as bigint) as status_id,
    cast({{ helpdesk_json_text('"priority"', 'id') }} as bigint) as priority_id,
    cast({{ helpdesk_json_text('"customer"', 'id') }} as bigint) as customer_id,
    cast({{ helpdesk_json_text('"agent"', 'id') }} as bigint) as agent_id,
    cast({{ helpdesk_json_text('"inbox"', 'id') }} as bigint) as inbox_id,
    cast({{ helpdesk_json_text('"company"', 'id') }} as bigint) as company_id,
    cast({{ helpdesk_json_text('"type"', 'id') }} as bigint) as type_id,
    cast({{ helpdesk_json_text('"source"', 'id') }} as bigint) as source_id,
    cast("messageCount" as bigint) as message_count,
    cast("responseTimeMins" as bigint) as response_time_mins,
    cast("resolutionTimeMins" as bigint) as resolution_time_mins,
    "isRead" as is_read,
    "createdAt" as created_at,
    "updatedAt" as updated_at,
    "deletedAt" as deleted_at,
    "archivedAt" as archived_at,
    {{ helpdesk_json('"tags"') }} as tags,
    {{ helpdesk_json('"customfields"') }} as custom_fields
from {{ source('teamwork_desk', 'teamwork_desk_tickets') }}
