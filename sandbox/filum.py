"""Filum CX ticket export: POST /external/tickets/export (provider-docs/filum-tickets-export).

Quirks kept, as documented: no paging; query params `start_date`/`end_date` (dates) and list
filters as repeated keys (`statuses=open&statuses=pending`); headers `authorization: Bearer`,
`organization-id`, `auth-type: token`, `accept: text/csv | application/json`; a range of more
than 90 days is silently shortened to end_date - 90 days; at most 5000 rows per answer, cut
with no sign; CSV in UTF-16LE with a BOM, tab-separated, values with special characters in
double quotes; times in UTC+7; 5 requests/s and 50/min, then 429 {"detail": "Rate limit
exceeded"}; validation errors are FastAPI 422 bodies.

Assumptions where the docs are silent (provider-notes section 1), each a knob on the API:
  filter_field   the date the range applies to: the creation day (default) or "updated"
  json_style     "array" (default) or "ndjson"; json_charset "utf-16le" (default) or "utf-8";
                 json_bom False by default (the charset says it)
  bom            the CSV's BOM (tests turn it off to see the tap refuse such a body)
  clock          the provider's clock minus the machine's (a timedelta): the times it
                 writes on tickets created or changed while it runs (`now()`)
  lists_deleted_by_default
                 whether an export without `statuses` includes deleted tickets. The docs
                 offer `deleted` among the `statuses` options and say nothing of the
                 default: the stricter reading is taken (False), deleted tickets come only
                 when `statuses` names `deleted`.
Deleting a ticket sets its Status to `deleted` and moves its Updated at (the docs: Status is
"the current status", one of open, pending, closed, deleted; Updated at is when the ticket
"was last updated"). About 5% of the tickets are deleted, and mutate() deletes one more.
Rows come newest first; the day of a ticket is its UTC+7 calendar day. A token belongs to
one organization: a well-formed organization-id that is not the token's gets 403, one that
is not a UUID gets FastAPI's 422 (organization ids are assumed to be UUIDs). 429 answers
carry no Retry-After (none is documented).

Data: `size` tickets over 2024 (UTC+7 days); data sets of the demo size or larger put
HOT_DAY_TICKETS of them on HOT_DAY (a Singles' Day sale), more than one export can hold.
"""

from __future__ import annotations

import csv
import io
import json
import typing as t
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from sandbox import data
from sandbox.server import ProviderAPI, Request, Response, json_response

ZONE = timezone(timedelta(hours=7))
TOKEN = "sandbox-filum-token-7f3a"
ORGANIZATION_ID = "5f0c2d9e-8b7a-4c1e-9f3d-2a6b8c4e1d07"
PATH = "/external/tickets/export"
ROW_CAP = 5000
MAX_RANGE_DAYS = 90
STATUSES = ("open", "pending", "closed", "deleted")
STATUS_WEIGHTS = (35, 20, 40, 5)
PRIORITIES = ("low", "medium", "high", "urgent")
#: the data's year, as UTC+7 days
YEAR_START = datetime(2024, 1, 1, tzinfo=ZONE).astimezone(timezone.utc)
YEAR_END = datetime(2024, 12, 31, 23, 59, 59, tzinfo=ZONE).astimezone(timezone.utc)
HOT_DAY = date(2024, 11, 11)
HOT_DAY_TICKETS = 6200
DEFAULT_COLUMNS = (
    "Ticket ID",
    "Created at",
    "Updated at",
    "Customer name",
    "Customer phone",
    "Customer email",
    "Subject",
    "Description",
    "Status",
    "Priority",
    "Due Date",
    "Assignee Name",
    "Assignee Email",
    "Creator Name",
    "Creator Email",
    "Installed Source ID",
    "Installed Source Name",
)
#: workspace custom fields: the export adds one column each, named by the field
CUSTOM_FIELDS = ("Kênh liên hệ", "Mã đơn hàng", "Ghi chú nội bộ")
CHANNELS = ("Zalo", "Facebook Messenger", "Hotline 1900 1234", "Email", None)
NOTES = (
    None,
    None,
    "Khách VIP - ưu tiên",
    'Gọi lại sau 17h\tnhấn "phím 2"',
    "Dòng 1\nDòng 2 🙏",
)
SOURCES = ((101, "Website chat"), (102, "Zalo OA"), (103, "Email"), (104, "Hotline"))
ACCEPTED = ("text/csv", "application/json")


def local_text(moment: datetime | None) -> str:
    """UTC moment -> Filum's naive UTC+7 text (empty when unset)."""
    return "" if moment is None else moment.astimezone(ZONE).strftime("%Y-%m-%d %H:%M:%S")


def local_day(moment: datetime) -> date:
    """The UTC+7 calendar day of a moment."""
    return moment.astimezone(ZONE).date()


@dataclass(frozen=True)
class Export:
    """One answered export, for tests: the range asked for, the range used, filters, rows."""

    start: date
    end: date
    used_start: date
    statuses: tuple[str, ...]
    priorities: tuple[str, ...]
    accept: str
    rows: int


@dataclass
class Ticket:
    """One ticket as the emulator holds it (times in UTC)."""

    id: int
    created: datetime
    updated: datetime
    status: str
    priority: str | None
    customer: tuple[str, str | None, str | None]
    subject: str
    description: str
    due: datetime | None
    assignee: tuple[str, str] | None
    creator: tuple[str, str] | None
    source: tuple[int, str]
    custom: tuple[str | None, ...]
    days: dict[str, date] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Derive the local days from the creation and update times."""
        self.touch(self.updated)

    def touch(self, moment: datetime) -> None:
        """Record an update at `moment`."""
        self.updated = moment
        self.days = {"created": local_day(self.created), "updated": local_day(moment)}

    def cells(self) -> list[str]:
        """The row's values, in DEFAULT_COLUMNS + CUSTOM_FIELDS order ('' for unset)."""
        name, phone, email = self.customer
        assignee = self.assignee or ("", "")
        creator = self.creator or ("", "")
        return [
            str(self.id),
            local_text(self.created),
            local_text(self.updated),
            name,
            phone or "",
            email or "",
            self.subject,
            self.description,
            self.status,
            self.priority or "",
            local_text(self.due),
            *assignee,
            *creator,
            str(self.source[0]),
            self.source[1],
            *(value or "" for value in self.custom),
        ]

    def as_json(self) -> dict[str, t.Any]:
        """The row as a JSON object keyed by column header (null for unset)."""
        row: dict[str, t.Any] = {
            header: (value if value != "" else None)
            for header, value in zip(DEFAULT_COLUMNS + CUSTOM_FIELDS, self.cells(), strict=True)
        }
        row["Ticket ID"] = self.id
        row["Installed Source ID"] = self.source[0]
        return row


class FilumAPI(ProviderAPI):
    """Tickets of one organization, exported by day range."""

    key = "filum"
    rate_limits = (5, 50)

    def __init__(self, seed: int, size: int) -> None:
        """An emulator of `size` tickets, its data drawn from a generator seeded by `seed`."""
        super().__init__(seed, size)
        self.tickets: dict[int, Ticket] = {}
        self.next_id = 100_001
        self.filter_field = "created"
        self.json_style = "array"
        self.json_charset = "utf-16le"
        self.json_bom = False
        self.bom = True
        self.lists_deleted_by_default = False
        self.exports: list[Export] = []
        self.agents = [data.person(self.rng) for _ in range(12)]
        hot = HOT_DAY_TICKETS if size >= DEFAULT_SIZE else 0
        for _ in range(size - hot):
            self.create(data.moment_between(self.rng, YEAR_START, YEAR_END))
        self.add_burst(HOT_DAY, hot)

    # -- data --------------------------------------------------------------------------

    def create(
        self,
        created: datetime,
        *,
        status: str | None = None,
        priority: str | bool | None = True,
        subject: str | None = None,
        description: str | None = None,
        updated: datetime | None = None,
    ) -> Ticket:
        """Add one ticket, random where not given (`priority=None`: no priority)."""
        rng = self.rng
        name, email = data.person(rng)
        phone = f"+84 9{rng.randrange(10)} {rng.randrange(100, 999)} {rng.randrange(1000, 9999)}"
        if updated is None:
            updated = min(created + timedelta(minutes=rng.randrange(0, 60 * 24 * 5)), YEAR_END)
            updated = max(updated, created)
        ticket = Ticket(
            id=self.next_id,
            created=created,
            updated=updated,
            status=status or rng.choices(STATUSES, STATUS_WEIGHTS)[0],
            priority=rng.choice(PRIORITIES) if priority is True else priority or None,
            customer=(name, phone if rng.random() < 0.8 else None, email),
            subject=data.subject(rng) if subject is None else subject,
            description=data.body(rng) if description is None else description,
            due=created + timedelta(days=rng.randrange(1, 8)) if rng.random() < 0.6 else None,
            assignee=rng.choice(self.agents) if rng.random() < 0.85 else None,
            creator=rng.choice(self.agents) if rng.random() < 0.75 else None,
            source=rng.choice(SOURCES),
            custom=(
                rng.choice(CHANNELS),
                f"DH-{rng.randrange(10_000, 99_999)}" if rng.random() < 0.5 else None,
                rng.choice(NOTES),
            ),
        )
        self.tickets[ticket.id] = ticket
        self.next_id += 1
        return ticket

    def add_burst(self, day: date, count: int, **fields: t.Any) -> list[Ticket]:
        """`count` tickets created during one UTC+7 day (a sale, an outage...)."""
        start = datetime(day.year, day.month, day.day, tzinfo=ZONE).astimezone(timezone.utc)
        return [
            self.create(start + timedelta(seconds=self.rng.randrange(86_400)), **fields)
            for _ in range(count)
        ]

    def change(self, ticket: Ticket) -> None:
        """A change to a ticket, now by the provider's clock: a new status."""
        ticket.status = self.rng.choice([s for s in STATUSES if s != ticket.status])
        ticket.touch(self.now())

    def delete(self, ticket: Ticket) -> None:
        """Delete a ticket, now by the provider's clock: its status becomes `deleted`."""
        ticket.status = "deleted"
        ticket.touch(self.now())

    def mutate(self) -> None:
        """A new open ticket, an update to another and the deletion of a third: stamped now."""
        now = self.now()
        self.create(now, updated=now, status="open")
        self.change(self.tickets[self.rng.choice(list(self.tickets))])
        self.delete(self.tickets[self.rng.choice(list(self.tickets))])

    def listed(self, ticket: Ticket, statuses: set[str]) -> bool:
        """Whether the status filter asked for selects the ticket.

        Without a filter every ticket but the deleted ones is selected, unless
        `lists_deleted_by_default`.
        """
        if statuses:
            return ticket.status in statuses
        return ticket.status != "deleted" or self.lists_deleted_by_default

    def day_of(self, ticket: Ticket) -> date:
        """The day the export range is matched against."""
        return ticket.days[self.filter_field]

    # -- API ---------------------------------------------------------------------------

    def routes(self) -> dict[tuple[str, str], t.Callable[[Request], Response]]:
        """The one export endpoint."""
        return {("POST", PATH): self.export}

    def rate_limited(self, request: Request, retry_after: float) -> Response:
        """Filum's 429: the FastAPI detail body, without a Retry-After header."""
        return json_response({"detail": "Rate limit exceeded"}, 429)

    def export(self, request: Request) -> Response:
        """Validate like FastAPI, authenticate, filter, cap at 5000 rows, render."""
        errors: list[dict[str, t.Any]] = []
        headers = self._headers(request, errors)
        start = _date_param(request, "start_date", errors)
        end = _date_param(request, "end_date", errors)
        statuses = _enum_list(request, "statuses", STATUSES, errors)
        priorities = _enum_list(request, "priorities", PRIORITIES, errors)
        if errors:
            return json_response({"detail": errors}, 422)
        if headers["authorization"] != f"Bearer {TOKEN}" or headers["auth-type"] != "token":
            return json_response({"detail": "Could not validate credentials"}, 401)
        if headers["organization-id"] != ORGANIZATION_ID:
            return json_response({"detail": "You do not have access to this organization"}, 403)
        if start is None or end is None:  # pragma: no cover - reported as 422 above
            return json_response({"detail": errors}, 422)
        if start > end:
            return json_response({"detail": "start_date must not be after end_date"}, 422)
        # "the system will automatically adjust the start date ... counting back 90 days"
        used_start = max(start, end - timedelta(days=MAX_RANGE_DAYS))
        rows = [
            ticket
            for ticket in self.tickets.values()
            if used_start <= self.day_of(ticket) <= end
            and self.listed(ticket, statuses)
            and (not priorities or ticket.priority in priorities)
        ]
        rows.sort(key=lambda ticket: (ticket.created, ticket.id), reverse=True)
        del rows[ROW_CAP:]
        self.exports.append(
            Export(
                start,
                end,
                used_start,
                tuple(request.args("statuses")),
                tuple(request.args("priorities")),
                headers["accept"],
                len(rows),
            )
        )
        if headers["accept"] == "application/json":
            return self._json(rows)
        return self._csv(rows)

    def _headers(self, request: Request, errors: list[dict[str, t.Any]]) -> dict[str, str]:
        values: dict[str, str] = {}
        for name in ("authorization", "organization-id", "auth-type", "accept"):
            value = request.header(name)
            if value is None:
                errors.append(_missing("header", name))
                continue
            values[name] = value
        accept = values.get("accept")
        if accept is not None and accept not in ACCEPTED:
            errors.append(_literal_error(("header", "accept"), accept, ACCEPTED))
        auth_type = values.get("auth-type")
        if auth_type is not None and auth_type not in {"token", "account"}:
            errors.append(_literal_error(("header", "auth-type"), auth_type, ("token", "account")))
        organization = values.get("organization-id")
        if organization is not None:
            try:
                uuid.UUID(organization)
            except ValueError:
                errors.append(
                    {
                        "type": "uuid_parsing",
                        "loc": ["header", "organization-id"],
                        "msg": "Input should be a valid UUID, invalid character: expected an "
                        "optional prefix of `urn:uuid:` followed by [0-9a-fA-F-]",
                        "input": organization,
                    }
                )
        return values

    def _csv(self, rows: list[Ticket]) -> Response:
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter="\t", lineterminator="\r\n")
        writer.writerow(DEFAULT_COLUMNS + CUSTOM_FIELDS)
        writer.writerows(ticket.cells() for ticket in rows)
        body = (b"\xff\xfe" if self.bom else b"") + buffer.getvalue().encode("utf-16-le")
        return Response(200, body, {"Content-Type": "text/csv; charset=utf-16le"})

    def _json(self, rows: list[Ticket]) -> Response:
        objects = (json.dumps(ticket.as_json(), ensure_ascii=False) for ticket in rows)
        if self.json_style == "ndjson":
            text, kind = "".join(f"{line}\n" for line in objects), "application/x-ndjson"
        else:
            text, kind = "[" + ",".join(objects) + "]", "application/json"
        codec = "utf-16-le" if self.json_charset == "utf-16le" else "utf-8"
        bom = "\ufeff".encode(codec) if self.json_bom else b""
        body = bom + text.encode(codec)
        return Response(200, body, {"Content-Type": f"{kind}; charset={self.json_charset}"})

    # -- truth -------------------------------------------------------------------------

    def truth(self) -> dict[str, dict[str, t.Any]]:
        """Every ticket id the export can list, the deleted ones included."""
        ids = sorted(self.tickets)
        return {"filum_tickets": {"count": len(ids), "ids": ids}}

    def utc(self, ticket_id: int, field: str) -> str | None:
        """What the tap must emit for a ticket's time field (created, updated, due)."""
        value = getattr(self.tickets[ticket_id], field)
        return None if value is None else value.astimezone(timezone.utc).isoformat()

    def fewest_requests(self, first: date, last: date, max_days: int = MAX_RANGE_DAYS) -> int:
        """The fewest exports that prove every ticket of [first, last] was read.

        An oracle that knows the data: each export must cover at most `max_days` days and
        return fewer than 5000 rows (a full answer may be cut). Consecutive days are packed
        greedily into windows, which is optimal for contiguous windows; a day that alone
        holds 5000 or more is split into the fewest groups of statuses (and of priorities
        within a status) that each stay under the cap.
        """
        per_day: dict[date, list[Ticket]] = {}
        for ticket in self.tickets.values():
            day = self.day_of(ticket)
            if first <= day <= last:
                per_day.setdefault(day, []).append(ticket)
        requests, rows, days = 0, 0, 0
        day = first
        while day <= last:
            count = len(per_day.get(day, []))
            if count >= ROW_CAP:
                requests += (1 if days else 0) + _fewest_splits(per_day[day])
                rows, days = 0, 0
            elif days == max_days or rows + count >= ROW_CAP:
                requests += 1
                rows, days = count, 1
            else:
                rows, days = rows + count, days + 1
            day += timedelta(days=1)
        return requests + (1 if days else 0)


def _fewest_splits(tickets: list[Ticket]) -> int:
    by_status: dict[str, list[Ticket]] = {}
    for ticket in tickets:
        by_status.setdefault(ticket.status, []).append(ticket)

    def cost(group: tuple[str, ...]) -> float:
        rows = sum(len(by_status.get(s, [])) for s in group)
        if rows < ROW_CAP:
            return 1
        if len(group) > 1:
            return float("inf")
        priorities: dict[str | None, int] = {}
        for ticket in by_status[group[0]]:
            priorities[ticket.priority] = priorities.get(ticket.priority, 0) + 1
        return _fewest_groups(priorities, lambda part: 1 if part < ROW_CAP else float("inf"))

    return int(_fewest_groups_of(STATUSES, cost))


def _partitions(values: tuple[t.Any, ...]) -> t.Iterator[list[tuple[t.Any, ...]]]:
    if not values:
        yield []
        return
    head, rest = values[0], values[1:]
    for partition in _partitions(rest):
        yield [(head,), *partition]
        for index, group in enumerate(partition):
            yield [*partition[:index], (head, *group), *partition[index + 1 :]]


def _fewest_groups_of(values: tuple[str, ...], cost: t.Callable[[tuple[str, ...]], float]) -> float:
    return min(sum(cost(group) for group in partition) for partition in _partitions(values))


def _fewest_groups(counts: dict[t.Any, int], cost: t.Callable[[int], float]) -> float:
    if None in counts:  # tickets without a priority cannot be asked for on their own
        return float("inf")
    return min(
        sum(cost(sum(counts.get(v, 0) for v in group)) for group in partition)
        for partition in _partitions(PRIORITIES)
    )


def _missing(where: str, name: str) -> dict[str, t.Any]:
    return {"type": "missing", "loc": [where, name], "msg": "Field required", "input": None}


def _literal_error(loc: tuple[str, ...], value: str, allowed: tuple[str, ...]) -> dict[str, t.Any]:
    expected = " or ".join(f"'{v}'" for v in allowed)
    return {
        "type": "literal_error",
        "loc": list(loc),
        "msg": f"Input should be {expected}",
        "input": value,
        "ctx": {"expected": expected},
    }


def _date_param(request: Request, name: str, errors: list[dict[str, t.Any]]) -> date | None:
    value = request.arg(name)
    if value is None:
        errors.append(_missing("query", name))
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors.append(
            {
                "type": "date_from_datetime_parsing",
                "loc": ["query", name],
                "msg": "Input should be a valid date or datetime, invalid character in year",
                "input": value,
            }
        )
        return None


def _enum_list(
    request: Request, name: str, allowed: tuple[str, ...], errors: list[dict[str, t.Any]]
) -> set[str]:
    values = request.args(name)
    expected = ", ".join(f"'{v}'" for v in allowed[:-1]) + f" or '{allowed[-1]}'"
    for index, value in enumerate(values):
        if value not in allowed:
            errors.append(
                {
                    "type": "enum",
                    "loc": ["query", name, index],
                    "msg": f"Input should be {expected}",
                    "input": value,
                    "ctx": {"expected": expected},
                }
            )
    return set(values)


API = FilumAPI
DEFAULT_SIZE = 20_000
SECRETS = (TOKEN,)


def tap_settings(url: str) -> dict[str, t.Any]:
    """Settings block of the tap for this emulator."""
    return {"api_token": TOKEN, "organization_id": ORGANIZATION_ID, "api_url": url}
