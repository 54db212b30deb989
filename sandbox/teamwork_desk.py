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

API_KEY = "tkn.v1_sandbox-teamwork-key"
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50
MS = timedelta(milliseconds=1)
STATUS_NAMES = [
    ("active", "Active"),
    ("waiting", "Waiting on customer"),
    ("onhold", "On hold"),
    ("solved", "Solved"),
    ("closed", "Closed"),
    ("spam", "Spam"),
]
PRIORITY_NAMES = ["low", "medium", "high"]
TYPE_NAMES = ["Question", "Problem", "Incident", "Feature request"]
SOURCE_NAMES = ["Email", "Email (Manual)", "Phone", "Docs"]
INBOX_NAMES = ["Support", "Billing", "Sales", "Hỗ trợ"]
REF_KINDS = {
    "customer": "customers",
    "agent": "users",
    "inbox": "inboxes",
    "company": "companies",
    "status": "ticketstatuses",
    "priority": "ticketpriorities",
    "type": "tickettypes",
    "source": "ticketsources",
}


def rfc3339(moment: datetime | None) -> str | None:
    """UTC moment -> `2024-04-24T16:17:38.594Z`."""
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )


def parse_time(text: str) -> datetime:
    """RFC 3339 filter value -> aware UTC moment."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def user_ref(n: int) -> dict[str, t.Any]:
    return {"id": 1 + n % 12, "type": "users"}


def entity_details(kind: str, n: int) -> dict[str, t.Any]:
    """Fields every sideloaded entity has (derived from its id: no draw from the seeded
    generator, so the other fields stay as they were)."""
    details: dict[str, t.Any] = {"state": "active", "createdBy": user_ref(n), "updatedBy": None}
    if n % 2:
        details["updatedBy"] = user_ref(n + 1)
    if kind in {"ticketstatuses", "ticketpriorities", "tickettypes", "ticketsources"}:
        details.update(icon=("circle", "flag", "star")[n % 3], isCustom=n > 3)
        details.setdefault("color", ("#2ecc71", "#f1c40f", "#e74c3c")[n % 3])
    return details


#: the fields each kind has beyond the common ones, by id
KIND_DETAILS: dict[str, t.Callable[[int], dict[str, t.Any]]] = {
    "users": lambda n: {
        "avatarURL": f"https://cdn.example.com/avatars/u{n}.png" if n % 3 else None,
        "isAppOwner": n == 1,
        "isPartTime": n % 4 == 0,
        "onlineStatus": ("online", "away", "offline")[n % 3],
        "timezone": ("Europe/Berlin", "America/Chicago", "Asia/Ho_Chi_Minh")[n % 3],
        "title": ("Support agent", "Team lead", None)[n % 3],
    },
    "inboxes": lambda n: {
        "autoReplyEnabled": n % 2 == 1,
        "clientOnly": n == 3,
        "isPublic": n != 3,
        "localPart": ("support", "billing", "sales", "hotro")[(n - 1) % 4],
        "notificationsAlwaysOn": n % 2 == 0,
        "publicIconImage": f"https://cdn.example.com/inbox{n}.png" if n % 2 else None,
    },
    "companies": lambda n: {
        "customers": [{"id": n, "type": "customers"}],
        "description": f"Customer account {n}" if n % 2 else None,
        "details": "Key account" if n % 3 == 0 else None,
        "domains": [{"id": n, "type": "domains"}],
        "industry": ("Energy", "Retail", "Logistics")[n % 3],
        "kind": "company",
        "note": "Invoices by post" if n % 4 == 0 else None,
        "permission": ("own", "all")[n % 2],
    },
    "customers": lambda n: {
        "address": f"Hauptstraße {n}, 10115 Berlin" if n % 3 else None,
        "avatarURL": f"https://cdn.example.com/avatars/c{n}.png" if n % 4 == 0 else None,
        "contacts": [{"id": n, "type": "contacts"}] if n % 2 else [],
        "externalId": f"CRM-{n:05d}",
        "facebookURL": f"https://facebook.com/c{n}" if n % 5 == 0 else None,
        "jobTitle": ("Buyer", "Owner", None)[n % 3],
        "linkedinURL": f"https://linkedin.com/in/c{n}" if n % 5 == 1 else None,
        "mobile": f"+49 151 {n:07d}" if n % 2 else None,
        "notes": "Prefers phone calls" if n % 6 == 0 else None,
        "organization": f"Company {n} GmbH" if n % 2 == 0 else None,
        "phone": f"+49 30 {n:07d}",
        "timezoneId": 1 + n % 30,
        "trusted": n % 3 == 0,
        "twitterHandle": f"@c{n}" if n % 7 == 0 else None,
        "verifiedEmail": n % 2 == 0,
        "welcomeEmailSent": n % 3 != 1,
    },
    "tags": lambda n: {
        "createdAt": "2024-01-01T00:00:00.000Z",
        "updatedAt": "2024-03-01T08:30:00.000Z" if n % 2 else None,
    },
}


def add_details(kind: str, entities: dict[int, dict[str, t.Any]]) -> None:
    extra = KIND_DETAILS.get(kind, lambda n: {})
    for n, entity in entities.items():
        entity.update({**entity_details(kind, n), **extra(n)})


def ticket_details(ticket: dict[str, t.Any], spam_status: int) -> dict[str, t.Any]:
    """The rest of a ticket, derived from its id and status (no draw from the generator):
    each field set on some tickets, null or empty on others. Only spam is deleted, so the
    unified model's status is the status's own either way."""
    n = ticket["id"]
    deleted = ticket["status"]["id"] == spam_status
    created = ticket["createdAt"]
    return {
        "activities": [{"id": n * 10, "type": "activities"}] if n % 2 else [],
        "archivedAt": rfc3339(ticket["updatedAt"]) if n % 9 == 0 else None,
        "businesshours": {"id": 1, "type": "businesshours"},
        "children": [{"id": n + 100000, "type": "tickets"}] if n % 11 == 0 else [],
        "companycustomers": [{"id": 1 + n % 5, "type": "customers"}] if n % 3 == 0 else [],
        "contact": {"id": n, "type": "contacts"} if n % 2 else None,
        "createdBy": user_ref(n),
        "customfields": [
            {"id": 7, "type": "customfields", "meta": {"value": ("Gold", "Silver")[n % 2]}}
        ]
        if n % 3
        else [],
        "deletedAt": rfc3339(ticket["updatedAt"]) if deleted else None,
        "deletedBy": user_ref(n) if deleted else None,
        "files": [{"id": n * 3, "type": "files"}] if n % 4 == 0 else [],
        "followers": [user_ref(n + 2)] if n % 3 == 1 else [],
        "happinessRating": {"rating": ("good", "ok", "bad")[n % 3]} if n % 5 == 0 else None,
        "happinessSurveySentAt": rfc3339(created + timedelta(days=1)) if n % 5 == 0 else None,
        "imagesHidden": n % 7 == 0,
        "inaccessibleChildTickets": [n + 200000] if n % 13 == 0 else [],
        "messages": [{"id": n * 100 + i, "type": "messages"} for i in range(1 + n % 3)],
        "notifyCustomer": n % 2 == 0,
        "readonly": n % 10 == 0,
        "spam_rules": ["sender-domain"] if deleted else [],
        "suggestions": {"articles": [{"id": 1 + n % 8, "type": "articles"}]} if n % 4 else None,
        "timelogs": [{"id": n * 5, "type": "timelogs"}] if n % 6 == 0 else [],
        "updatedBy": user_ref(n + 1),
    }


class TeamworkDeskAPI(ProviderAPI):
    """Tickets plus the customers, users, inboxes... they refer to."""

    key = "teamwork_desk"
    rate_limits = (None, 120)

    def __init__(self, seed: int, size: int) -> None:
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
        self.tickets: dict[int, dict[str, t.Any]] = {}
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
        self.tickets[self.next_id] = ticket
        self.next_id += 1

    def mutate(self) -> None:
        now = self.now(MS)
        self._create(now, now)
        ticket = self.tickets[self.rng.choice(list(self.tickets))]
        ticket["updatedAt"] = now
        ticket["status"] = self._ref("ticketstatuses")
        self._sorted.clear()

    # -- API ---------------------------------------------------------------------------

    def routes(self) -> dict[tuple[str, str], t.Callable[[Request], Response]]:
        return {("GET", "/desk/api/v2/tickets.json"): self.list_tickets}

    def rate_limited(self, request: Request, retry_after: float) -> Response:
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
            rows = self._select(query, order)
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

    def _select(self, query: dict[str, t.Any], order: str) -> list[dict[str, t.Any]]:
        """Tickets matching `query`, ascending by `order`; a range on `order` uses bisect."""
        if order not in self._sorted:
            rows = sorted(self.tickets.values(), key=lambda r: (r[order], r["id"]))
            self._sorted[order] = ([(r[order], r["id"]) for r in rows], rows)
        keys, rows = self._sorted[order]
        bounds = query.get(order) if set(query) == {order} else None
        if not isinstance(bounds, dict) or not set(bounds) <= {"$gte", "$gt", "$lte", "$lt"}:
            return [row for row in rows if self._matches(row, query)]
        low, high = 0, len(rows)
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
        return rows[low:high]

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
            operators = condition if isinstance(condition, dict) else {"$eq": condition}
            for op, raw in operators.items():
                target = parse_time(raw) if isinstance(actual, datetime) else raw
                ok = {
                    "$eq": lambda a, b: a == b,
                    "$ne": lambda a, b: a != b,
                    "$gt": lambda a, b: a > b,
                    "$gte": lambda a, b: a >= b,
                    "$lt": lambda a, b: a < b,
                    "$lte": lambda a, b: a <= b,
                }[op](actual, target)
                if not ok:
                    return False
        return True

    def _render(self, ticket: dict[str, t.Any]) -> dict[str, t.Any]:
        out = dict(ticket)
        for field in ("createdAt", "updatedAt"):
            out[field] = rfc3339(ticket[field])
        out.update(ticket_details(ticket, self._spam_status))
        return out

    def _included(self, chunk: list[dict[str, t.Any]], includes: set[str]) -> dict[str, t.Any]:
        wanted: dict[str, set[int]] = {}
        for ticket in chunk:
            for field, kind in REF_KINDS.items():
                wanted.setdefault(kind, set()).add(ticket[field]["id"])
            for tag in ticket["tags"]:
                wanted.setdefault("tags", set()).add(tag["id"])
        return {
            kind: [self.entities[kind][i] for i in sorted(ids)]
            for kind, ids in wanted.items()
            if kind in includes or "all" in includes
        }

    def truth(self) -> dict[str, dict[str, t.Any]]:
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
        return out

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
