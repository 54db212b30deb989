"""Enneo export API: GET /api/mind/export/{ticket,reporting_tickets,reporting_messages,
reporting_worklog} (provider-docs/enneo; the activity exports: sandbox/enneo_activity.py).

Quirks kept: a bare JSON array with no paging metadata; `limit` must be 1..1000 (400
otherwise); naive `YYYY-MM-DD HH:MM:SS` times in the instance zone (Europe/Berlin here);
`rawData` is a JSON string, sometimes not valid JSON (the docs' own sample is "{...}");
/export/ticket filters on prefixed keys (`t.modifiedAt`), reporting_tickets on bare ones;
without format=json the backend default (xlsx) is returned. Every export answers the same
protocol (filters[N][key|comparator|value|from|to|values][], orderByField, orderByDirection
default desc, limit, offset); an order column the table does not have is a 400 (the docs:
"must be a column from the ... table").
"""

from __future__ import annotations

import bisect
import json
import random
import typing as t
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sandbox import data
from sandbox import enneo_activity as activity
from sandbox.server import ProviderAPI, Request, Response, json_response

ZONE = ZoneInfo("Europe/Berlin")
TOKEN = "sandbox-enneo-token"
MAX_LIMIT = 1000
STATUSES = ["open", "closed", "pending", "resolved", "waitingOnCustomer", "waitingOnThirdParty"]
PRIORITIES = ["low", "medium", "high", "urgent"]
CHANNELS = ["email", "portal", "phone", "system", "chat", "walkIn", "letter"]
TIME_FIELDS = (
    "createdAt",
    "closedAt",
    "modifiedAt",
    "dueBy",
    "lastMessageAt",
    "lastCustomerMessageAt",
)


def local(moment: datetime | None) -> str | None:
    """UTC moment -> Enneo's naive instance-zone text."""
    return None if moment is None else moment.astimezone(ZONE).strftime("%Y-%m-%d %H:%M:%S")


def unambiguous(moment: datetime) -> datetime:
    """Move a moment out of the hour that repeats when DST ends.

    Naive local text cannot say which of the two 02:30 it means; a real instance has the
    same problem, and the tap reads such text as the first occurrence.
    """
    while True:
        loc = moment.astimezone(ZONE)
        if loc.replace(fold=1 - loc.fold).utcoffset() == loc.utcoffset():
            return moment
        moment += timedelta(hours=1)  # from the first occurrence this takes two steps


def parse_local(text: str) -> datetime:
    """Enneo filter value (naive instance-zone text or a date) -> UTC moment."""
    value = datetime.fromisoformat(text.strip())
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZONE)
    return value.astimezone(timezone.utc)


def ticket_details(row: dict[str, t.Any]) -> dict[str, t.Any]:
    """The rest of an /export/ticket row, derived from the ticket's id (no draw from the
    seeded generator, so the other fields stay as they were): every field is set on some
    tickets and null or empty on others, so that every schema type is exercised."""
    n = row["id"]
    english = n % 2 == 0
    if n % 4 == 0:
        return {"autoExecuteAt": None, "agentId": None, "summary": None, "sentiment": None}
    return {
        "agentId": 100 + n % 7,
        "aiSupportLevel": ("none", "suggested", "automated")[n % 3],
        "attachments": [{"id": n * 10, "filename": "rechnung.pdf", "size": 48213}]
        if n % 5 == 0
        else [],
        "autoExecuteAt": local(row["dueBy"]) if n % 3 == 0 else None,
        "bccEmails": ["audit@example.com"] if n % 3 == 1 else [],
        "body": f"<p>{row['subject']}</p>",
        "bodyPlain": row["subject"],
        "channelId": row["channel"],
        "externalTicketId": f"EXT-{n}",
        "firstResponseDueBy": local(unambiguous(row["createdAt"] + timedelta(hours=4))),
        "intents": [{"code": "meter_reading", "confidence": 0.87}] if n % 3 else [],
        "interface": ("email", "portal", "api")[n % 3],
        "isCustomerActive": n % 3 != 0,
        "isEscalated": n % 5 == 0,
        "language": "English" if english else "Deutsch",
        "languageCode": "en" if english else "de",
        "replyCcEmails": ["team@example.com"] if n % 2 else [],
        "replyRecipients": {"to": [row["email"]], "cc": []},
        "sentiment": ("neutral", "positive", "negative")[n % 3],
        "spamStatus": "spam" if n % 17 == 0 else "ham",
        "subchannelId": 1 + n % 4,
        "summary": f"{row['topic']}: {row['subject']}",
        "tags": [{"id": 1 + n % 5, "name": row["topic"]}],
        "workedOnBy": [{"userId": 100 + n % 7, "seconds": 60 * (1 + n % 9)}],
    }


@dataclass(frozen=True)
class Export:
    """One export endpoint: the table it reads, the row's id, its filter-key prefix."""

    table: str
    id_field: str
    prefix: str
    default_order: str


EXPORTS = {
    "/api/mind/export/ticket": Export("tickets", "id", "t.", "createdAt"),
    "/api/mind/export/reporting_tickets": Export("tickets", "id", "", "createdAt"),
    "/api/mind/export/reporting_messages": Export("messages", "conversationId", "", "createdAt"),
    "/api/mind/export/reporting_worklog": Export("worklog", "userWorklogId", "", "date"),
}


class EnneoAPI(ProviderAPI):
    """Tickets with created/modified times, their messages and their worklog."""

    key = "enneo"

    def __init__(self, seed: int, size: int) -> None:
        super().__init__(seed, size)
        self.tickets: dict[int, dict[str, t.Any]] = {}
        self.next_id = 4711
        #: draws for messages and edits, apart from the tickets' own generator (so the
        #: tickets stay what they were before messages were emulated)
        self.activity_rng = random.Random(f"enneo-activity-{seed}")
        self._messages: dict[int, dict[str, t.Any]] | None = None
        self._worklog: dict[int, dict[str, t.Any]] = {}
        self.next_conversation_id = activity.FIRST_CONVERSATION_ID
        self.next_worklog_id = activity.FIRST_WORKLOG_ID
        # Caches that keep 200k-ticket exports fast: rows sorted per table and order field,
        # and each row's rendered JSON per endpoint; dropped when the data changes.
        self._sorted: dict[
            tuple[str, str], tuple[list[tuple[t.Any, int]], list[dict[str, t.Any]]]
        ] = {}
        self._rendered: dict[tuple[str, int], bytes] = {}
        for _ in range(size):
            self._create(data.moment_between(self.rng))

    def _create(self, created: datetime, modified: datetime | None = None) -> None:
        rng = self.rng
        live = modified is not None
        status = rng.choice(STATUSES)
        created = unambiguous(created)
        closed = unambiguous(created + timedelta(minutes=rng.randrange(5, 60 * 24 * 6)))
        modified = unambiguous(
            modified
            or min(created + timedelta(minutes=rng.randrange(0, 60 * 24 * 8)), data.DATA_END)
        )
        name, email = data.person(rng)
        payload = {
            "subject": data.subject(rng),
            "from": email,
            "fromName": name,
            "body": data.body(rng),
        }
        raw_kind = rng.random()
        raw = (
            None
            if raw_kind < 0.05
            else "{...}"
            if raw_kind < 0.10
            else json.dumps(payload, ensure_ascii=False)
        )
        self.tickets[self.next_id] = {
            "id": self.next_id,
            "channel": rng.choice(CHANNELS),
            "direction": rng.choice(["in", "out", "internal"]),
            "status": status,
            "priority": rng.choice(PRIORITIES),
            "contractId": f"C-{rng.randrange(1000, 9999)}",
            "customerId": f"CU-{rng.randrange(1, 5000)}",
            "customerLegitimation": rng.choice([0, 20, 50, 100]),
            "topic": rng.choice(["Billing", "Delivery", "Account", "Zählerstand"]),
            "subTopic": rng.choice(["Payment reminder", "Refund", "Login", None]),
            # the first inbound message is the ticket's own (draws kept in their place)
            "counts": (
                1 + rng.randrange(0, 9) % 3,
                rng.randrange(0, 9) % 4,
                rng.randrange(0, 3) % 2,
            ),
            "manualWorkEntries": rng.randrange(0, 3),
            "createdAt": created,
            "closedAt": closed if status in {"closed", "resolved"} else None,
            "modifiedAt": modified,
            "dueBy": unambiguous(created + timedelta(days=7)),
            "lastCustomerMessageAt": rng.randrange(0, 600),  # replaced from the messages
            "email": email,
            "rawData": raw,
            "subject": payload["subject"],
            "fromName": name,
        }
        self._settle_life(self.tickets[self.next_id], live=live)
        self.next_id += 1

    def _settle_life(self, ticket: dict[str, t.Any], *, live: bool) -> None:
        """Close before the last modification, messages within the ticket's life.

        A ticket closed after its last modification is modified when it closes; one
        created just now (live) cannot be closed yet: it stays open.
        """
        closed = ticket["closedAt"]
        if closed is not None and closed > ticket["modifiedAt"]:
            if live:
                ticket["closedAt"], ticket["status"] = None, "open"
            else:
                ticket["modifiedAt"] = closed
        end = ticket["closedAt"] or ticket["modifiedAt"]
        plan = activity.message_plan(
            self.activity_rng, ticket["createdAt"], end, ticket.pop("counts")
        )
        ticket["messages"] = [(unambiguous(moment), direction) for moment, direction in plan]
        ticket["direction"] = "in"  # its first message is the customer's
        self._message_times(ticket)
        if self._messages is not None:  # the activity tables exist already
            self._add_activity(ticket, ticket["messages"])

    @staticmethod
    def _message_times(ticket: dict[str, t.Any]) -> None:
        plan = ticket["messages"]
        ticket["lastMessageAt"] = max(moment for moment, _direction in plan)
        ticket["lastCustomerMessageAt"] = max(m for m, direction in plan if direction == "in")
        ticket["modifiedAt"] = max(ticket["modifiedAt"], ticket["lastMessageAt"])

    def mutate(self) -> None:
        """A new ticket, and a new message (and edit) on another: stamped now."""
        now = unambiguous(self.now())
        self._create(now, now)
        ticket = self.tickets[self.rng.choice(list(self.tickets))]
        ticket["modifiedAt"] = ticket["lastMessageAt"] = now
        ticket["status"] = self.rng.choice(STATUSES)
        closing = ticket["status"] in {"closed", "resolved"}
        newly_closed = closing and ticket["closedAt"] is None
        ticket["closedAt"] = (ticket["closedAt"] or now) if closing else None
        message = (now, self.activity_rng.choice(["in", "out", "internal"]))
        ticket["messages"].append(message)
        self._message_times(ticket)
        if self._messages is not None:
            self._add_activity(ticket, [message], closing=newly_closed)
        self._sorted.clear()
        for path in ("/api/mind/export/ticket", "/api/mind/export/reporting_tickets"):
            self._rendered.pop((path, ticket["id"]), None)

    # -- messages and worklog (sandbox/enneo_activity.py) ------------------------------

    @property
    def messages(self) -> dict[int, dict[str, t.Any]]:
        """conversationId -> message row, built from the tickets' plans when first asked."""
        if self._messages is None:
            self._messages = {}
            for ticket in self.tickets.values():
                self._add_activity(ticket, ticket["messages"])
        return self._messages

    @property
    def worklog(self) -> dict[int, dict[str, t.Any]]:
        """userWorklogId -> compact worklog row."""
        self.messages  # noqa: B018 - built together
        return self._worklog

    def _add_activity(
        self, ticket: dict[str, t.Any], plan: activity.Plan, *, closing: bool = True
    ) -> None:
        """Message rows for `plan` (a ticket's messages) and the edits they made."""
        assert self._messages is not None
        added = []
        for moment, direction in plan:
            conversation_id = self.next_conversation_id
            self.next_conversation_id += 1
            self._messages[conversation_id] = {
                "conversationId": conversation_id,
                "ticketId": ticket["id"],
                "direction": direction,
                "createdAt": moment,
            }
            added.append((conversation_id, moment, direction))
        edits = activity.worklog_plan(self.activity_rng, ticket, added, closing=closing)
        for row in edits:
            row["userWorklogId"], row["ticketId"] = self.next_worklog_id, ticket["id"]
            row["closedAt"] = ticket["closedAt"]  # as it was when the edit was made
            self._worklog[self.next_worklog_id] = row
            self.next_worklog_id += 1

    # -- API ---------------------------------------------------------------------------

    def routes(self) -> dict[tuple[str, str], t.Callable[[Request], Response]]:
        return {("GET", path): self.export for path in EXPORTS}

    def _table(self, name: str) -> dict[int, dict[str, t.Any]]:
        if name == "tickets":
            return self.tickets  # without building the activity tables
        return self.messages if name == "messages" else self.worklog

    def export(self, request: Request) -> Response:
        """Every export: auth, validation, filters, order, offset/limit."""
        view = EXPORTS[request.path]
        prefix = view.prefix
        if request.header("authorization") != f"Bearer {TOKEN}":
            return json_response({"error": "Unauthorized", "code": 401}, 401)
        try:
            limit = int(request.arg("limit", "100") or 100)
            offset = int(request.arg("offset", "0") or 0)
        except ValueError:
            return json_response({"error": "limit and offset must be integers"}, 400)
        if not 1 <= limit <= MAX_LIMIT or offset < 0:
            return json_response({"error": f"limit must be between 1 and {MAX_LIMIT}"}, 400)
        if request.arg("format") != "json":
            return Response(
                200,
                b"PK\x03\x04 xlsx export",
                {
                    "Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml"
                    ".sheet"
                },
            )
        order = (request.arg("orderByField") or f"{prefix}{view.default_order}").removeprefix(
            prefix
        )
        table = self._table(view.table)
        if table and order not in next(iter(table.values())):
            return json_response({"error": f"unknown orderByField {order}"}, 400)
        descending = (request.arg("orderByDirection") or "desc") == "desc"
        try:
            rows = self._ordered_page_source(request, view, order, descending)
        except (KeyError, ValueError) as exc:
            return json_response({"error": f"invalid filter: {exc}"}, 400)
        page = rows[offset : offset + limit]
        body = b"[" + b",".join(self._render(request.path, row) for row in page) + b"]"
        return Response(200, body, {"Content-Type": "application/json; charset=utf-8"})

    def _ordered_page_source(
        self, request: Request, view: Export, order: str, descending: bool
    ) -> list[dict[str, t.Any]]:
        """Filtered rows in the asked order; range filters on the order field use bisect."""
        prefix = view.prefix
        keys, rows = self._sorted_by(view, order)
        low, high = 0, len(rows)
        index = 0
        residual = False
        while f"filters[{index}][key]" in request.query:
            key = (request.arg(f"filters[{index}][key]") or "").removeprefix(prefix)
            comparator = request.arg(f"filters[{index}][comparator]") or "="
            value = request.arg(f"filters[{index}][value]")
            if key == order and comparator in {">=", ">", "<=", "<"} and value is not None:
                target = parse_local(value) if keys and isinstance(keys[0][0], datetime) else value
                if comparator == ">=":
                    low = max(low, bisect.bisect_left(keys, (target, -1)))
                elif comparator == ">":
                    low = max(low, bisect.bisect_right(keys, (target, 1 << 62)))
                elif comparator == "<=":
                    high = min(high, bisect.bisect_right(keys, (target, 1 << 62)))
                else:
                    high = min(high, bisect.bisect_left(keys, (target, -1)))
                high = min(high, len(keys))  # rows without a value never match a range
            else:
                residual = True
            index += 1
        selected = rows[low:high] if low < high else []
        if residual:
            identity = view.id_field
            allowed = {row[identity] for row in self._filtered(request, view)}
            selected = [row for row in selected if row[identity] in allowed]
        return selected[::-1] if descending else selected

    def _sorted_by(
        self, view: Export, order: str
    ) -> tuple[list[tuple[t.Any, int]], list[dict[str, t.Any]]]:
        cache_key = (view.table, order)
        if cache_key not in self._sorted:
            table, identity = self._table(view.table).values(), view.id_field
            present = [r for r in table if r[order] is not None]
            present.sort(key=lambda r: (r[order], r[identity]))
            missing = [r for r in table if r[order] is None]
            self._sorted[cache_key] = (
                [(r[order], r[identity]) for r in present],
                present + sorted(missing, key=lambda r: r[identity]),
            )
        return self._sorted[cache_key]

    def _render(self, path: str, row: dict[str, t.Any]) -> bytes:
        view = EXPORTS[path]
        cache_key = (path, row[view.id_field])
        if cache_key not in self._rendered:
            shaped = {
                "/api/mind/export/ticket": self._ticket_row,
                "/api/mind/export/reporting_tickets": self._reporting_row,
                "/api/mind/export/reporting_messages": self._message_row,
                "/api/mind/export/reporting_worklog": self._worklog_row,
            }[path](row)
            self._rendered[cache_key] = json.dumps(
                shaped, ensure_ascii=False, separators=(",", ":")
            ).encode("utf-8")
        return self._rendered[cache_key]

    def _filtered(self, request: Request, view: Export) -> list[dict[str, t.Any]]:
        prefix = view.prefix
        rows = list(self._table(view.table).values())
        index = 0
        while f"filters[{index}][key]" in request.query:
            key = request.arg(f"filters[{index}][key]") or ""
            if prefix and not key.startswith(prefix):
                raise ValueError(f"key {key} needs the {prefix} prefix on this export")
            field = key.removeprefix(prefix)
            comparator = request.arg(f"filters[{index}][comparator]") or "="
            value = request.arg(f"filters[{index}][value]")
            rows = [r for r in rows if self._match(r[field], comparator, value, request, index)]
            index += 1
        return rows

    def _match(
        self, actual: t.Any, comparator: str, value: str | None, request: Request, index: int
    ) -> bool:
        if isinstance(actual, datetime) or actual is None:
            convert: t.Callable[[str], t.Any] = parse_local
        else:
            convert = type(actual)
        if comparator == "between":
            low = convert(request.arg(f"filters[{index}][from]") or "")
            high = convert(request.arg(f"filters[{index}][to]") or "")
            return actual is not None and low <= actual <= high
        if comparator == "in":
            return str(actual) in request.args(f"filters[{index}][values][]")
        if actual is None:
            return comparator == "!="
        target = convert(value or "")
        return {
            "=": actual == target,
            "!=": actual != target,
            ">": actual > target,
            "<": actual < target,
            ">=": actual >= target,
            "<=": actual <= target,
        }[comparator]

    def _reporting_row(self, row: dict[str, t.Any]) -> dict[str, t.Any]:
        out = {k: v for k, v in row.items() if k not in {"subject", "fromName", "messages"}}
        out.update(activity.counts_of(row["messages"]))
        for name in TIME_FIELDS:
            out[name] = local(row[name])
        out["allTags"] = ", ".join(x for x in (row["topic"], row["subTopic"]) if x)
        out["secondsToClose"] = (
            int((row["closedAt"] - row["createdAt"]).total_seconds()) if row["closedAt"] else None
        )
        out["secondsSinceLastCustomerMessage"] = 6780
        out["secondsClosedAfterSLA"] = (
            int((row["closedAt"] - row["dueBy"]).total_seconds()) if row["closedAt"] else None
        )
        return out

    def _ticket_row(self, row: dict[str, t.Any]) -> dict[str, t.Any]:
        return {
            "id": row["id"],
            "direction": row["direction"],
            "from": row["email"],
            "fromName": row["fromName"],
            "to": ["support@example.com"],
            "ccEmails": [],
            "subject": row["subject"],
            "status": row["status"],
            "priority": row["priority"],
            "channel": row["channel"],
            "contractId": row["contractId"],
            "customerId": row["customerId"],
            "createdAt": local(row["createdAt"]),
            "modifiedAt": local(row["modifiedAt"]),
            "closedAt": local(row["closedAt"]),
            "dueBy": local(row["dueBy"]),
            "lastMessageAt": local(row["lastMessageAt"]),
            "lastCustomerMessageAt": local(row["lastCustomerMessageAt"]),
            "rawData": row["rawData"],
            **ticket_details(row),
        }

    def _message_row(self, row: dict[str, t.Any]) -> dict[str, t.Any]:
        ticket = self.tickets[row["ticketId"]]
        return {
            "ticketId": row["ticketId"],
            "conversationId": row["conversationId"],
            "channel": ticket["channel"],
            "direction": row["direction"],
            "createdAt": local(row["createdAt"]),
            "rawData": activity.message_raw(row["conversationId"], ticket),
        }

    def _worklog_row(self, row: dict[str, t.Any]) -> dict[str, t.Any]:
        return activity.worklog_row(row, self.tickets[row["ticketId"]], local)

    def truth(self) -> dict[str, dict[str, t.Any]]:
        ids = sorted(self.tickets)
        messages, worklog = sorted(self.messages), sorted(self.worklog)
        return {
            "enneo_tickets": {"count": len(ids), "ids": ids},
            "enneo_reporting_tickets": {"count": len(ids), "ids": ids},
            "enneo_reporting_messages": {"count": len(messages), "ids": messages},
            "enneo_reporting_worklog": {"count": len(worklog), "ids": worklog},
        }

    def utc(self, ticket_id: int, field: str) -> str | None:
        """What the tap must emit for a ticket's time field (for value checks)."""
        value = self.tickets[ticket_id][field]
        return None if value is None else value.astimezone(timezone.utc).isoformat()


API = EnneoAPI
DEFAULT_SIZE = 2500
SECRETS = (TOKEN,)


def tap_settings(url: str) -> dict[str, t.Any]:
    """Settings block of the tap for this emulator."""
    return {"api_token": TOKEN, "api_url": url, "timezone": "Europe/Berlin"}
