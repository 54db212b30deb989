"""Teamwork Desk v2: GET /desk/api/v2/tickets.json (provider-docs/teamwork-desk-tickets).

Quirks kept: `filter` is URL-encoded JSON with Mongo-style operators; `pageSize` above 100
is silently clamped to 100 (default 50); both `pagination` and `meta.page` blocks; related
objects only under `included`, for the kinds asked for in `includes`; 120 requests per
minute with X-Rate-Limit-Limit/-Remaining/-Reset headers and a 429 until the window ends;
times are RFC 3339 UTC with milliseconds.
"""

from __future__ import annotations

import bisect
import json
import typing as t
from datetime import datetime, timedelta, timezone

from sandbox import data
from sandbox.server import ProviderAPI, Request, Response, json_response
from sandbox.teamwork_desk.entities import (
    API_KEY,
    DEFAULT_PAGE_SIZE,
    INBOX_NAMES,
    MAX_PAGE_SIZE,
    MS,
    PRIORITY_NAMES,
    REF_KINDS,
    SOURCE_NAMES,
    STATUS_NAMES,
    TYPE_NAMES,
    add_details,
    parse_time,
    render_times,
    rfc3339,
    ticket_details,
)
from sandbox.teamwork_desk.threads import ADDED_IDS_FROM, build_thread, message, settle

#: Solved and closed tickets are archived after this long without activity
#: (https://support.teamwork.com/desk/inboxes/ticket-statuses).
ARCHIVE_AFTER = timedelta(days=120)
#: The states a ticket can be in (provider-notes section 3, Ticket object).
STATES = ("active", "scheduled", "merged", "deleted")

OPERATORS: dict[str, t.Callable[[t.Any, t.Any], bool]] = {
    "$eq": lambda a, b: a == b,
    "$ne": lambda a, b: a != b,
    "$gt": lambda a, b: a > b,
    "$gte": lambda a, b: a >= b,
    "$lt": lambda a, b: a < b,
    "$lte": lambda a, b: a <= b,
    "$in": lambda a, b: a in b,
    "$nin": lambda a, b: a not in b,
}


class TeamworkDeskAPI(ProviderAPI):
    """Tickets plus the customers, users, inboxes... they refer to."""

    key = "teamwork_desk"
    rate_limits = (None, 120)

    def __init__(self, seed: int, size: int) -> None:
        """An emulator of `size` tickets, its data drawn from a generator seeded by `seed`."""
        super().__init__(seed, size)
        rng = self.rng
        self.entities: dict[str, dict[int, dict[str, t.Any]]] = {}
        stamp = rfc3339(data.DATA_START)

        def named(kind: str, names: list[str], **extra: t.Any) -> None:
            self.entities[kind] = {
                i + 1: {
                    "id": i + 1,
                    "name": name,
                    "displayOrder": i,
                    "createdAt": stamp,
                    "updatedAt": stamp,
                    **extra,
                }
                for i, name in enumerate(names)
            }

        named("ticketpriorities", PRIORITY_NAMES, color="#ccc")
        named("tickettypes", TYPE_NAMES, enabledForFutureInboxes=True)
        named("ticketsources", SOURCE_NAMES)
        named("inboxes", INBOX_NAMES, email="support@example.com", type="email")
        self.entities["ticketstatuses"] = {
            i + 1: {
                "id": i + 1,
                "code": code,
                "name": name,
                "displayOrder": i,
                "isCustom": False,
                "createdAt": stamp,
                "updatedAt": stamp,
            }
            for i, (code, name) in enumerate(STATUS_NAMES)
        }
        self.entities["users"] = {}
        for i in range(1, 13):
            name, email = data.person(rng)
            first, _, last = name.partition(" ")
            self.entities["users"][i] = {
                "id": i,
                "firstName": first,
                "lastName": last,
                "email": email,
                "role": "agent",
                "createdAt": stamp,
                "updatedAt": stamp,
            }
        self.entities["companies"] = {
            i: {
                "id": i,
                "name": f"Company {i} GmbH",
                "website": f"https://c{i}.example.com",
                "createdAt": stamp,
                "updatedAt": stamp,
            }
            for i in range(1, max(size // 20, 3) + 1)
        }
        self.entities["customers"] = {}
        for i in range(1, max(size // 4, 5) + 1):
            name, email = data.person(rng)
            first, _, last = name.partition(" ")
            self.entities["customers"][i] = {
                "id": i,
                "firstName": first,
                "lastName": last,
                "email": email,
                "company": {
                    "id": rng.randrange(1, len(self.entities["companies"]) + 1),
                    "type": "companies",
                },
                "createdAt": stamp,
                "updatedAt": stamp,
            }
        self.entities["tags"] = {
            i: {"id": i, "name": name, "color": "#09f"}
            for i, name in enumerate(["vip", "refund", "bug", "urgent", "đơn hàng"], start=1)
        }
        for kind, entities in self.entities.items():
            add_details(kind, entities)
        self._spam_status = next(
            i for i, status in self.entities["ticketstatuses"].items() if status["code"] == "spam"
        )
        self._done_statuses = {
            i
            for i, status in self.entities["ticketstatuses"].items()
            if status["code"] in {"solved", "closed"}
        }
        self.tickets: dict[int, dict[str, t.Any]] = {}
        #: each ticket's messages, oldest first (threads.py)
        self.threads: dict[int, list[dict[str, t.Any]]] = {}
        self.next_message_id = ADDED_IDS_FROM
        self.next_id = 1001
        # rows sorted per order field, rebuilt after the data changes (keeps big lists fast)
        self._sorted: dict[str, tuple[list[tuple[t.Any, int]], list[dict[str, t.Any]]]] = {}
        #: ids per entity kind, for _ref (copying the customers' for every ticket was quadratic)
        self._ids: dict[str, list[int]] = {}
        for _ in range(size):
            self._create(data.moment_between(rng, resolution=MS))

    def _ref(self, kind: str) -> dict[str, t.Any]:
        ids = self._ids.get(kind)
        if ids is None or len(ids) != len(self.entities[kind]):
            ids = self._ids[kind] = list(self.entities[kind])
        return {"id": self.rng.choice(ids), "type": kind}

    def _create(self, created: datetime, updated: datetime | None = None) -> None:
        rng = self.rng
        updated = updated or min(
            created + timedelta(minutes=rng.randrange(0, 60 * 24 * 5)), data.DATA_END
        )
        ticket: dict[str, t.Any] = {
            "id": self.next_id,
            "subject": data.subject(rng),
            "previewText": data.body(rng),
            "state": "active",
            "createdAt": created,
            "updatedAt": updated,
            "deletedAt": None,
            "isRead": rng.random() < 0.5,
            "messageCount": rng.randrange(1, 12),
            "responseTimeMins": rng.randrange(0, 600),
            "resolutionTimeMins": rng.randrange(0, 6000),
            "spam_score": round(rng.random(), 3),
            "originalRecipient": "support@example.com",
            "cc": [],
            "bcc": [],
            "tags": [{"id": rng.randrange(1, 6), "type": "tags"}] if rng.random() < 0.4 else [],
        }
        for field, kind in REF_KINDS.items():
            ticket[field] = self._ref(kind)
        # the drawn count and response time shape the thread; settle() then sets the
        # ticket's figures from the thread itself
        self.threads[ticket["id"]] = build_thread(
            ticket, ticket["messageCount"], ticket["responseTimeMins"]
        )
        self._settle(ticket)
        self.tickets[self.next_id] = ticket
        self.next_id += 1

    def _settle(self, ticket: dict[str, t.Any]) -> None:
        """State and figures from the status and thread.

        Only spam is deleted; a few tickets are merged into another (hidden from the list
        like deleted ones).
        """
        status = ticket["status"]["id"]
        if status == self._spam_status:
            ticket["state"] = "deleted"
        else:
            ticket["state"] = "merged" if ticket["id"] % 29 == 0 else "active"
        settle(ticket, self.threads[ticket["id"]], status in self._done_statuses)

    def mutate(self) -> None:
        """One ticket created; another gets a customer message and a new status.

        Both move that ticket's updatedAt (the stricter reading, see threads.py).
        """
        now = self.now(MS)
        self._create(now, now)
        ticket = self.tickets[self.rng.choice(list(self.tickets))]
        ticket["updatedAt"] = now
        ticket["status"] = self._ref("ticketstatuses")
        self.add_message(ticket["id"], now)

    def add_message(self, ticket_id: int, at: datetime, author: str = "customers") -> int:
        """A new message on a ticket, which moves the ticket's updatedAt to it."""
        ticket = self.tickets[ticket_id]
        self.next_message_id += 1
        added = message(ticket, self.next_message_id, at, "message", author)
        self.threads[ticket_id].append(added)
        ticket["updatedAt"] = max(ticket["updatedAt"], at)
        self._settle(ticket)
        self._sorted.clear()
        return added["id"]

    def archived_at(self, ticket: dict[str, t.Any]) -> datetime | None:
        """When a solved or closed ticket was archived: 120 days after its last activity.

        Archiving itself does not move updatedAt: the docs do not say it does.
        """
        if ticket["status"]["id"] not in self._done_statuses:
            return None
        moment = ticket["updatedAt"] + ARCHIVE_AFTER
        return moment if moment <= self.now(MS) else None

    # -- API ---------------------------------------------------------------------------

    def routes(self) -> dict[tuple[str, str], t.Callable[[Request], Response]]:
        """The ticket list (its sideloads come with it)."""
        return {("GET", "/desk/api/v2/tickets.json"): self.list_tickets}

    def rate_limited(self, request: Request, retry_after: float) -> Response:
        """Teamwork's 429: a JSON:API error and the X-Rate-Limit-* headers at zero."""
        return json_response(
            {"errors": [{"code": "rate_limited", "detail": "Too many requests"}]},
            429,
            **{
                "X-Rate-Limit-Limit": "120",
                "X-Rate-Limit-Remaining": "0",
                "X-Rate-Limit-Reset": f"{max(retry_after, 1):.0f}",
            },
        )

    def rate_headers(self, limit: int, remaining: int, reset: float) -> dict[str, str]:
        """The X-Rate-Limit-* headers on every answer (none when unlimited)."""
        if not limit:
            return {}
        return {
            "X-Rate-Limit-Limit": str(limit),
            "X-Rate-Limit-Remaining": str(remaining),
            "X-Rate-Limit-Reset": f"{reset:.0f}",
        }

    def list_tickets(self, request: Request) -> Response:
        """GET /desk/api/v2/tickets.json."""
        if request.header("authorization") != f"Bearer {API_KEY}":
            return json_response({"errors": [{"detail": "unauthorized"}]}, 401)
        try:
            page = max(int(request.arg("page", "1") or 1), 1)
            size = int(request.arg("pageSize", str(DEFAULT_PAGE_SIZE)) or DEFAULT_PAGE_SIZE)
            query = json.loads(request.arg("filter") or "{}")
            order = request.arg("orderBy") or "id"
            if order not in {"id", "createdAt", "updatedAt"}:
                return json_response({"detail": "unsupported in sandbox", "source": "orderBy"}, 400)
            if not isinstance(query, dict):
                raise TypeError("the filter is not an object")
            rows = self._select(query, order, request.arg("archived") == "true")
        except (ValueError, KeyError, TypeError) as exc:
            return json_response({"detail": f"invalid filter: {exc}", "source": "filter"}, 400)
        size = min(max(size, 1), MAX_PAGE_SIZE)
        if (request.arg("orderMode") or "asc") == "desc":
            rows = rows[::-1]
        pages = max(-(-len(rows) // size), 1)
        chunk = rows[(page - 1) * size : page * size]
        includes = {x for x in (request.arg("includes") or "").split(",") if x}
        body = {
            "tickets": [self._render(r) for r in chunk],
            "included": self._included(chunk, includes),
            "pagination": {
                "records": len(rows),
                "pageSize": size,
                "pages": pages,
                "page": page,
                "hasMorePages": page < pages,
            },
            "meta": {
                "page": {
                    "count": len(rows),
                    "pageSize": size,
                    "pageOffset": (page - 1) * size,
                    "pages": pages,
                    "hasMore": page < pages,
                }
            },
        }
        return json_response(body)

    def _select(
        self, query: dict[str, t.Any], order: str, archived: bool
    ) -> list[dict[str, t.Any]]:
        """Tickets matching `query`, ascending by `order` (a range on it by bisect).

        Where the docs are silent the stricter reading is emulated: without a `state`
        condition the list holds `active` tickets only (deleted, merged and scheduled ones
        are left out; the notes' filter `{"state":{"$in":[...]}}` brings them); and
        archived tickets are listed only with `archived=true`, which lists archived ones
        only (the docs' own export example passes it: a walk that never asks misses them,
        one that asks only for them misses the rest).
        """
        if order not in self._sorted:
            rows = sorted(self.tickets.values(), key=lambda r: (r[order], r["id"]))
            self._sorted[order] = ([(r[order], r["id"]) for r in rows], rows)
        keys, rows = self._sorted[order]
        rest = dict(query)
        bounds = rest.get(order)
        if isinstance(bounds, dict) and set(bounds) <= {"$gte", "$gt", "$lte", "$lt"}:
            del rest[order]
            low, high = self._range(keys, bounds, order)
            rows = rows[low:high]
        if "state" not in rest:
            rest["state"] = "active"
        return [
            row
            for row in rows
            if self._matches(row, rest) and (self.archived_at(row) is not None) == archived
        ]

    @staticmethod
    def _range(
        keys: list[tuple[t.Any, int]], bounds: dict[str, t.Any], order: str
    ) -> tuple[int, int]:
        low, high = 0, len(keys)
        for op, raw in bounds.items():
            target = parse_time(raw) if order != "id" else raw
            if op == "$gte":
                low = max(low, bisect.bisect_left(keys, (target, -1)))
            elif op == "$gt":
                low = max(low, bisect.bisect_right(keys, (target, 1 << 62)))
            elif op == "$lte":
                high = min(high, bisect.bisect_right(keys, (target, 1 << 62)))
            else:
                high = min(high, bisect.bisect_left(keys, (target, -1)))
        return low, high

    def _matches(self, ticket: dict[str, t.Any], query: dict[str, t.Any]) -> bool:
        for key, condition in query.items():
            if key == "$and":
                if not all(self._matches(ticket, q) for q in condition):
                    return False
                continue
            if key == "$or":
                if not any(self._matches(ticket, q) for q in condition):
                    return False
                continue
            actual = ticket[key]
            if isinstance(actual, dict):  # a relationship is filtered by its id
                actual = actual.get("id")
            operators = condition if isinstance(condition, dict) else {"$eq": condition}
            for op, raw in operators.items():
                target = parse_time(raw) if isinstance(actual, datetime) else raw
                if not OPERATORS[op](actual, target):
                    return False
        return True

    def _render(self, ticket: dict[str, t.Any]) -> dict[str, t.Any]:
        out = dict(ticket)
        for field in ("createdAt", "updatedAt"):
            out[field] = rfc3339(ticket[field])
        out.update(ticket_details(ticket, self.threads[ticket["id"]], self.archived_at(ticket)))
        return out

    def _included(self, chunk: list[dict[str, t.Any]], includes: set[str]) -> dict[str, t.Any]:
        wanted: dict[str, set[int]] = {}
        for ticket in chunk:
            for field, kind in REF_KINDS.items():
                wanted.setdefault(kind, set()).add(ticket[field]["id"])
            for tag in ticket["tags"]:
                wanted.setdefault("tags", set()).add(tag["id"])
        included: dict[str, t.Any] = {
            kind: [self.entities[kind][i] for i in sorted(ids)]
            for kind, ids in wanted.items()
            if kind in includes or "all" in includes
        }
        if "messages" in includes or "all" in includes:
            included["messages"] = [
                render_times(m) for ticket in chunk for m in self.threads[ticket["id"]]
            ]
        return included

    def truth(self) -> dict[str, dict[str, t.Any]]:
        """Every ticket id and, per sideloaded kind, the ids the tickets refer to."""
        out = {"teamwork_desk_tickets": {"count": len(self.tickets), "ids": sorted(self.tickets)}}
        referenced: dict[str, set[int]] = {}
        for ticket in self.tickets.values():
            for field, kind in REF_KINDS.items():
                referenced.setdefault(kind, set()).add(ticket[field]["id"])
            for tag in ticket["tags"]:
                referenced.setdefault("tags", set()).add(tag["id"])
        names = {
            "ticketstatuses": "statuses",
            "ticketpriorities": "priorities",
            "tickettypes": "types",
            "ticketsources": "sources",
        }
        for kind, ids in referenced.items():
            out[f"teamwork_desk_{names.get(kind, kind)}"] = {"count": len(ids), "ids": sorted(ids)}
        messages = sorted(m["id"] for thread in self.threads.values() for m in thread)
        out["teamwork_desk_messages"] = {"count": len(messages), "ids": messages}
        return out

    def archived_ids(self) -> list[int]:
        """Tickets the list shows only with archived=true."""
        return sorted(i for i, ticket in self.tickets.items() if self.archived_at(ticket))

    def state_ids(self, *states: str) -> list[int]:
        """Tickets in these states (the list hides all but active unless asked)."""
        return sorted(i for i, ticket in self.tickets.items() if ticket["state"] in states)

    def utc(self, ticket_id: int, field: str) -> str | None:
        """What the tap must emit for a ticket's time field (for value checks)."""
        value = self.tickets[ticket_id][field]
        return None if value is None else value.astimezone(timezone.utc).isoformat()


API = TeamworkDeskAPI
DEFAULT_SIZE = 1200
SECRETS = (API_KEY,)


def tap_settings(url: str) -> dict[str, t.Any]:
    """Settings block of the tap for this emulator."""
    return {"api_key": API_KEY, "api_url": url}
