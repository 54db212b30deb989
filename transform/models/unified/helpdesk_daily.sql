-- Per provider and day (UTC), from the provider's first ticket to today: tickets created,
-- tickets closed (helpdesk_ticket_metrics.closed_at, on its basis) and tickets open at the
-- end of the day (created by then and not closed by then). Deleted tickets are left out.
with tickets as (
    select provider, created_at, closed_at
    from {{ ref('helpdesk_ticket_metrics') }}
    where not is_deleted and created_at is not null
),

events as (
    select provider, cast(created_at as date) as day, 1 as created, 0 as closed
    from tickets
    union all
    select provider, cast(closed_at as date) as day, 0 as created, 1 as closed
    from tickets
    where closed_at is not null
),

per_day as (
    select provider, day, sum(created) as tickets_created, sum(closed) as tickets_closed
    from events
    group by provider, day
),

bounds as (
    select
        provider,
        min(day) as first_day,
        case when max(day) > current_date then max(day) else current_date end as last_day
    from per_day
    group by provider
),

days as (
    select provider, {{ helpdesk_days('first_day', 'last_day') }} as day
    from bounds
)

select
    d.provider,
    d.day,
    cast(coalesce(p.tickets_created, 0) as bigint) as tickets_created,
    cast(coalesce(p.tickets_closed, 0) as bigint) as tickets_closed,
    cast(sum(coalesce(p.tickets_created, 0) - coalesce(p.tickets_closed, 0)) over (
        partition by d.provider order by d.day rows between unbounded preceding and current row
    ) as bigint) as open_at_end_of_day
from days as d
left join per_day as p on p.provider = d.provider and p.day = d.day
