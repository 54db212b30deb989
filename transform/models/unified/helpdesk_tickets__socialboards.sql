{{ config(enabled=helpdesk_provider_enabled('socialboards')) }}
-- Socialboards tickets in the unified shape (see helpdesk_tickets): the author is the
-- customer, lockedBy the assigned teammate; deleted and spam tickets count as deleted.
-- Socialboards has no priority, modification time or closing time: updated_at is the last
-- thread activity, priority and closed_at stay null.
select
    'socialboards' as provider,
    cast(ticket_id as {{ dbt.type_string() }}) as ticket_id,
    title as subject,
    status as provider_status,
    cast(null as {{ dbt.type_string() }}) as provider_priority,
    (is_deleted or is_spam) as is_deleted,
    created_at,
    last_thread_activity_at as updated_at,
    cast(null as {{ dbt.type_timestamp() }}) as closed_at,
    author_email as customer_email,
    locked_by_email as assignee_email,
    custom_fields
from {{ ref('stg_socialboards_tickets') }}
