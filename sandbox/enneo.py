"""Enneo export API: its tickets and the four exports that list them (provider-docs/enneo).

GET /api/mind/export/{ticket,reporting_tickets,reporting_messages,reporting_worklog}; the
protocol they share (filters, order, limit/offset): sandbox/enneo_export.py; the activity
exports' data: sandbox/enneo_activity.py.

Quirks kept: a bare JSON array with no paging metadata; `limit` must be 1..1000 (400
otherwise); naive `YYYY-MM-DD HH:MM:SS` times in the instance zone (Europe/Berlin here);
`rawData` is a JSON string, sometimes not valid JSON (the docs' own sample is "{...}");
without format=json the backend default (xlsx) is returned.
"""

from __future__ import annotations

import json
import random
import typing as t
from datetime import datetime, timedelta, timezone

from sandbox import data
from sandbox import enneo_activity as activity
from sandbox import enneo_export as protocol
from sandbox.enneo_export import EXPORTS, MAX_LIMIT, ZONE, Export, local
from sandbox.server import ProviderAPI, Request, Response, json_response

TOKEN = "sandbox-enneo-token"
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


def ticket_details(row: dict[str, t.Any]) -> dict[str, t.Any]:
    """The rest of an /export/ticket row, derived from the ticket's id.

    No draw from the seeded generator, so the other fields stay as they were: every field
    is set on some tickets and null or empty on others, so that every schema type is
    exercised.
    """
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


class EnneoAPI(ProviderAPI):
    """Tickets with created/modified times, their messages and their worklog."""

    key = "enneo"

    def __init__(self, seed: int, size: int) -> None:
        """An emulator of `size` tickets, its data drawn from a generator seeded by `seed`."""
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
        self._sorted: dict[tuple[str, str], protocol.SortedRows] = {}
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
            self._add_activity(self._messages, ticket, ticket["messages"])

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
            self._add_activity(self._messages, ticket, [message], closing=newly_closed)
        self._sorted.clear()
        for path in ("/api/mind/export/ticket", "/api/mind/export/reporting_tickets"):
            self._rendered.pop((path, ticket["id"]), None)

    # -- messages and worklog (sandbox/enneo_activity.py) ------------------------------

    @property
    def messages(self) -> dict[int, dict[str, t.Any]]:
        """Message rows by conversationId, built from the tickets' plans when first asked."""
        if self._messages is None:
            self._messages = {}
            for ticket in self.tickets.values():
                self._add_activity(self._messages, ticket, ticket["messages"])
        return self._messages

    @property
    def worklog(self) -> dict[int, dict[str, t.Any]]:
        """Compact worklog rows by userWorklogId."""
        self.messages  # noqa: B018 - built together
        return self._worklog

    def _add_activity(
        self,
        messages: dict[int, dict[str, t.Any]],
        ticket: dict[str, t.Any],
        plan: activity.Plan,
        *,
        closing: bool = True,
    ) -> None:
        """Add the rows of `plan` (a ticket's messages) to `messages`, its edits to the worklog."""
        added = []
        for moment, direction in plan:
            conversation_id = self.next_conversation_id
            self.next_conversation_id += 1
            messages[conversation_id] = {
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
        """The four exports, one handler."""
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
            rows = protocol.select(
                request,
                view,
                order,
                self._sorted_by(view, order),
                self._table(view.table).values(),
                descending=descending,
            )
        except (KeyError, ValueError) as exc:
            return json_response({"error": f"invalid filter: {exc}"}, 400)
        page = rows[offset : offset + limit]
        body = b"[" + b",".join(self._render(request.path, row) for row in page) + b"]"
        return Response(200, body, {"Content-Type": "application/json; charset=utf-8"})

    def _sorted_by(self, view: Export, order: str) -> protocol.SortedRows:
        cache_key = (view.table, order)
        if cache_key not in self._sorted:
            rows = self._table(view.table).values()
            self._sorted[cache_key] = protocol.sort_rows(rows, order, view.id_field)
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
        """Every ticket (both ticket exports), message and worklog row."""
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
