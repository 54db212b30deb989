{{ config(enabled=helpdesk_provider_enabled('socialboards')) }}
-- One row per Socialboards ticket (POST /tickets/list). Times are UTC. The API has no
-- modification time: last_thread_activity_at (a new reply) is the latest change it tells.
select
    cast(id as bigint) as ticket_id,
    "title" as title,
    "message" as message,
    "status" as status,
    "source" as source,
    "detailedSource" as detailed_source,
    "sentiment" as sentiment,
    cast("replyCount" as bigint) as reply_count,
    {{ helpdesk_json_text('"author"', 'email') }} as author_email,
    {{ helpdesk_json_text('"author"', 'name') }} as author_name,
    {{ helpdesk_json_text('"lockedBy"', 'email') }} as locked_by_email,
    {{ helpdesk_json_text('"lockedBy"', 'name') }} as locked_by_name,
    {{ helpdesk_json_text('"category"', 'name') }} as category_name,
    coalesce(cast({{ helpdesk_json_text('"properties"', 'isDeleted') }} as boolean), false) as is_deleted,
    coalesce(cast({{ helpdesk_json_text('"properties"', 'isSpam') }} as boolean), false) as is_spam,
    "creationTime" as created_at,
    "lastThreadElementCreationTime" as last_thread_activity_at,
    {{ helpdesk_json('"customFields"') }} as custom_fields,
    {{ helpdesk_json('"tags"') }} as tags
from {{ source('socialboards', 'socialboards_tickets') }}
