"""Print rows per stream in a DuckDB file next to the sandbox's own counts; exit 1 on a gap.

python scripts/show_counts.py --duckdb output/warehouse.duckdb --sandbox http://127.0.0.1:8765 \
    [--unified-schema analytics]

With --unified-schema, also the dbt model helpdesk_tickets: its rows per provider next to
the sandbox's <provider>_tickets counts, and how they spread over the unified statuses; then
the support metrics per provider from helpdesk_ticket_metrics and helpdesk_daily (tickets,
median first response, median resolution, open backlog today).
"""

from __future__ import annotations

import argparse
import sys

import duckdb
import requests

from tap_helpdesk.providers import PROVIDER_KEYS


def qualified(schema: str, table: str) -> str:
    """A table's name as DuckDB parses it: each part quoted, its own quotes doubled."""
    return ".".join('"' + part.replace('"', '""') + '"' for part in (schema, table))


def landed_counts(path: str, schema: str) -> dict[str, int]:
    """Rows per table in one schema of a DuckDB file."""
    with duckdb.connect(path, read_only=True) as connection:
        tables = connection.execute(
            "select table_name from information_schema.tables where table_schema = ? order by 1",
            [schema],
        ).fetchall()
        counts: dict[str, int] = {}
        for (name,) in tables:
            row = connection.table(qualified(schema, name)).count("*").fetchone()
            counts[name] = int(row[0]) if row else 0
        return counts


def unified_counts(path: str, schema: str) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """helpdesk_tickets: rows per provider, and per provider and status."""
    with duckdb.connect(path, read_only=True) as connection:
        tickets = connection.table(qualified(schema, "helpdesk_tickets"))
        rows = (
            tickets.aggregate("provider, status, count(*)", "provider, status")
            .order("provider, status")
            .fetchall()
        )
    per_provider: dict[str, int] = {}
    per_status: dict[str, dict[str, int]] = {}
    for provider, status, count in rows:
        per_provider[provider] = per_provider.get(provider, 0) + int(count)
        per_status.setdefault(provider, {})[str(status)] = int(count)
    return per_provider, per_status


def print_unified(path: str, schema: str, landed: dict[str, int], expected: dict[str, int]) -> int:
    """Print the unified model's rows per provider; return how many providers differ.

    A provider whose tickets landed but are missing from the model counts as a difference.
    """
    per_provider, per_status = unified_counts(path, schema)
    providers = sorted(set(per_provider) | {p for p in PROVIDER_KEYS if f"{p}_tickets" in landed})
    width = max(map(len, [*providers, "provider"]))
    print(f"\n{schema}.helpdesk_tickets (dbt): rows per provider")
    print(f"{'provider':<{width}}  {'rows':>8}  {'sandbox':>8}  statuses")
    gaps = 0
    for provider in providers:
        got, want = per_provider.get(provider, 0), expected.get(f"{provider}_tickets")
        mark = "ok" if got == want else "MISMATCH"
        gaps += mark != "ok"
        spread = ", ".join(f"{status} {n}" for status, n in per_status.get(provider, {}).items())
        shown = want if want is not None else "-"
        print(f"{provider:<{width}}  {got:>8}  {shown:>8}  {mark}  {spread}")
    print(f"{sum(per_provider.values())} tickets from {len(providers)} providers")
    return gaps


METRICS_QUERY = """
with metrics as (
    select
        provider,
        count(*) as tickets,
        median(first_response_minutes) as first_response,
        median(resolution_minutes) as resolution
    from "{schema}".helpdesk_ticket_metrics
    group by provider
),
backlog as (
    select provider, arg_max(open_at_end_of_day, day) as open_today
    from "{schema}".helpdesk_daily
    where day <= current_date
    group by provider
)
select m.provider, m.tickets, m.first_response, m.resolution, b.open_today
from metrics as m
left join backlog as b using (provider)
order by m.provider
"""


def duration(minutes: float | None) -> str:
    """Minutes as a short human duration ("-" for none)."""
    if minutes is None:
        return "-"
    if minutes < 120:
        return f"{minutes:.0f} min"
    if minutes < 48 * 60:
        return f"{minutes / 60:.1f} h"
    return f"{minutes / 60 / 24:.1f} d"


def print_metrics(path: str, schema: str) -> None:
    """Print, per provider, the support metrics the dbt models give."""
    with duckdb.connect(path, read_only=True) as connection:
        rows = connection.execute(METRICS_QUERY.format(schema=schema)).fetchall()
    headers = ("provider", "tickets", "median first response", "median resolution", "open today")
    table = [
        (provider, str(tickets), duration(first), duration(resolution), str(backlog or 0))
        for provider, tickets, first, resolution, backlog in rows
    ]
    widths = [max(len(row[i]) for row in [headers, *table]) for i in range(len(headers))]
    print(f"\n{schema}.helpdesk_ticket_metrics and helpdesk_daily (dbt): support metrics")
    for row in [headers, *table]:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        print("  ".join(cells))
    print(
        "median first response: the first agent reply (ProProfs, Teamwork Desk, Enneo); "
        "resolution: to the closing time or a solved ticket's last update "
        "(transform/README.md)"
    )


def sandbox_counts(url: str) -> dict[str, int]:
    """What the sandbox holds, per stream."""
    if not url.startswith(("http://", "https://")):
        raise SystemExit(f"--sandbox takes an http(s) URL, not {url!r}")
    response = requests.get(f"{url}/_sandbox/truth", timeout=30)
    response.raise_for_status()
    truth = response.json()
    return {stream: facts["count"] for stream, facts in truth.items()}


def main() -> None:
    """Print the counts side by side; exit 1 when a stream (or the model) differs."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duckdb", required=True)
    parser.add_argument("--schema", default="helpdesk")
    parser.add_argument("--sandbox", required=True)
    parser.add_argument("--unified-schema", help="schema of the dbt model helpdesk_tickets")
    args = parser.parse_args()
    landed = landed_counts(args.duckdb, args.schema)
    expected = sandbox_counts(args.sandbox)
    width = max(map(len, expected | landed))
    print(f"{'stream':<{width}}  {'duckdb':>8}  {'sandbox':>8}")
    gaps = 0
    for stream in sorted(expected | landed):
        got, want = landed.get(stream, 0), expected.get(stream)
        mark = "ok" if got == want else "MISMATCH"
        gaps += mark != "ok"
        print(f"{stream:<{width}}  {got:>8}  {want if want is not None else '-':>8}  {mark}")
    total = sum(landed.values())
    print(
        f"{total} rows in {len(landed)} tables; "
        + ("every stream matches the sandbox" if not gaps else f"{gaps} streams differ")
    )
    if args.unified_schema:
        gaps += print_unified(args.duckdb, args.unified_schema, landed, expected)
        print_metrics(args.duckdb, args.unified_schema)
    sys.exit(1 if gaps else 0)


if __name__ == "__main__":
    main()
