"""The connection check (`tap-helpdesk --config FILE --test`), before a long run.

For every configured provider: whether the credentials are accepted and the assumptions
the tap relies on hold, each with one cheap request.

- credentials: the provider answers the stream's first request;
- sort order: the rows come in the order the walk asks for (a keyset walk that meets rows
  out of order would skip tickets);
- page size: an answer holds no more rows than asked (and says whether fewer are served);
- rate-limit headers: present or not (without them the tap keeps to its configured budget);
- time zone: the newest ticket's time, read in the configured zone, against the server's
  clock (its HTTP Date header): a ticket "modified in the future" by more than the zone
  could explain means the zone setting is wrong.

It prints one table (provider, check, PASS / WARN / FAIL, what to do) and fails (exit 1)
when any check FAILs.
"""

from __future__ import annotations

import email.utils
import typing as t
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from tap_helpdesk.errors import HelpdeskError
from tap_helpdesk.redaction import redact
from tap_helpdesk.timestamps import parse_datetime

if t.TYPE_CHECKING:
    import requests

    from tap_helpdesk.client import HelpdeskStream

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"
#: A newest ticket this far past the server's clock cannot be clock skew: the zone is off.
ZONE_SLACK = timedelta(minutes=30)
#: The zone can only be checked against a ticket this recent.
RECENT = timedelta(days=2)


@dataclass(frozen=True)
class Check:
    """One line of the table."""

    provider: str
    check: str
    status: str
    advice: str


@dataclass
class Probe:
    """What one cheap request showed: rows in the order asked, and the answer."""

    rows: list[dict[str, t.Any]]
    response: requests.Response
    asked: int | None = None
    #: the record field the rows should be sorted by, and whether descending
    order_field: str | None = None
    descending: bool = False
    #: the field holding the newest change, and whether its text is naive local time
    time_field: str | None = None
    naive_times: bool = True


def check_stream(stream: HelpdeskStream) -> list[Check]:
    """Every check for one stream (its provider's first stream is enough)."""
    label = stream.provider_label
    try:
        probe = stream.probe()
    except HelpdeskError as exc:
        return [Check(label, "credentials and first request", FAIL, redact(str(exc)))]
    checks = [Check(label, "credentials", PASS, "accepted")]
    checks.append(_order(label, probe))
    checks.append(_page_size(label, probe))
    checks.append(_rate_headers(label, stream, probe))
    checks.append(_zone(label, stream, probe))
    return checks


def _order(label: str, probe: Probe) -> Check:
    field = probe.order_field
    if field is None:
        return Check(label, "sort order", PASS, "the walk does not rely on an order")
    values = [str(r.get(field)) for r in probe.rows if field and r.get(field) is not None]
    if len(values) < 2:
        return Check(label, "sort order", WARN, "too few tickets to see the order")
    expected = sorted(values, reverse=probe.descending)
    if values != expected:
        way = "descending" if probe.descending else "ascending"
        return Check(
            label,
            "sort order",
            FAIL,
            f"rows are not in {way} {field} order as asked: the API ignores the order the "
            "tap pages by, so a sync would skip tickets; report it to the provider",
        )
    return Check(label, "sort order", PASS, f"{field} {'desc' if probe.descending else 'asc'}")


def _page_size(label: str, probe: Probe) -> Check:
    if probe.asked is None:
        return Check(label, "page size", PASS, f"{len(probe.rows)} rows in one answer")
    if len(probe.rows) > probe.asked:
        return Check(
            label,
            "page size",
            WARN,
            f"{len(probe.rows)} rows for {probe.asked} asked: the tap reads them all",
        )
    return Check(label, "page size", PASS, f"{len(probe.rows)} rows for {probe.asked} asked")


def _rate_headers(label: str, stream: HelpdeskStream, probe: Probe) -> Check:
    headers = probe.response.headers
    names = [
        n for n in ("X-Rate-Limit-Limit", "X-RateLimit-Limit", "RateLimit-Limit") if n in headers
    ]
    budget = stream.requests_per_minute_budget
    if names:
        return Check(label, "rate-limit headers", PASS, f"{names[0]}: {headers[names[0]]}")
    return Check(
        label,
        "rate-limit headers",
        PASS,
        f"none sent: the tap keeps to {budget or 'no'} requests/min "
        f"({stream.provider}.requests_per_minute)",
    )


def _zone(label: str, stream: HelpdeskStream, probe: Probe) -> Check:
    server_now = _server_clock(probe.response)
    newest = _newest(probe, stream)
    if not probe.naive_times:
        return Check(label, "time zone", PASS, "timestamps carry their offset")
    if server_now is None or newest is None:
        return Check(label, "time zone", WARN, "no Date header or no ticket time to compare")
    setting = f"{stream.provider}.timezone ({stream.zone})"
    ahead = newest - server_now
    if ahead > ZONE_SLACK:
        return Check(
            label,
            "time zone",
            WARN,
            f"the newest ticket is {ahead.total_seconds() / 3600:.1f} h ahead of the server's "
            f"clock when read in {setting}: set the account's time zone",
        )
    if server_now - newest > RECENT:
        return Check(
            label, "time zone", PASS, f"{setting}: not checkable (the newest ticket is older)"
        )
    return Check(label, "time zone", PASS, f"{setting} agrees with the server's clock")


def _server_clock(response: requests.Response) -> datetime | None:
    try:
        moment = email.utils.parsedate_to_datetime(response.headers.get("Date", ""))
    except (TypeError, ValueError, IndexError):
        return None
    return moment.astimezone(timezone.utc) if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _newest(probe: Probe, stream: HelpdeskStream) -> datetime | None:
    field = probe.time_field
    moments = []
    for row in probe.rows:
        value = row.get(field) if field else None
        if isinstance(value, str) and value:
            try:
                moments.append(parse_datetime(value, stream.zone).astimezone(timezone.utc))
            except ValueError:
                continue
    return max(moments) if moments else None


def connection_checks(streams: t.Iterable[HelpdeskStream]) -> list[Check]:
    """The checks of every provider, through its first stream driven by a walk."""
    checks: list[Check] = []
    seen: set[str] = set()
    for stream in streams:
        if stream.provider in seen:
            continue
        seen.add(stream.provider)
        checks += check_stream(stream)
    return checks


def render(checks: list[Check]) -> str:
    """The table a person reads."""
    header = ("provider", "check", "result", "what to do")
    rows = [header, *((c.provider, c.check, c.status, c.advice) for c in checks)]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    return "\n".join(
        "  ".join(value.ljust(widths[i]) if i < 3 else value for i, value in enumerate(row))
        for row in rows
    )


__all__ = ["FAIL", "PASS", "WARN", "Check", "Probe", "check_stream", "connection_checks", "render"]
