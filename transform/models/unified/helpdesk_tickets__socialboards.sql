{{ config(enabled=helpdesk_provider_enabled('socialboards')) }}
-- Socialboards tickets in the unified shape (see helpdesk_tickets): the author is the
-- customer, lockedBy the assigned teammate; properties.isDeleted is is_deleted, and a
-- ticket marked spam has the provider status 'spam' (status deleted through the seed).
-- Socialboards has no priority, modification time or closing time: updated_at is the last
-- thread activity, priority and closed_at stay null.
select
    'socialboards' as provider,
    cast(ticket_id as {{ dbt.type_string() }}) as ticket_id,
    title as subject,
    case when is_spam then 'spam' else status end as provider_status,
    cast(null as {{ dbt.type_string() }}) as provider_priority,
    is_deleted,
    created_at,
    last_thread_activity_at as updated_at,
    cast(null as {{ dbt.type_timestamp() }}) as closed_at,
    author_email as customer_email,
    locked_by_email as assignee_email,
    custom_fields
from {{ ref('stg_socialboards_tickets') }}
