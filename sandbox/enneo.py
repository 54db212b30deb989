"""Enneo export API: GET /api/mind/export/{ticket,reporting_tickets} (provider-docs/enneo).

Quirks kept: a bare JSON array with no paging metadata; `limit` must be 1..1000 (400
otherwise); naive `YYYY-MM-DD HH:MM:SS` times in the instance zone (Europe/Berlin here);
`rawData` is a JSON string, sometimes not valid JSON (the docs' own sample is "{...}");
/export/ticket filters on prefixed keys (`t.modifiedAt`), reporting_tickets on bare ones;
without format=json the backend default (xlsx) is returned.
"""

from __future__ import annotations

import bisect
import json
import typing as t
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from sandbox import data
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


class EnneoAPI(ProviderAPI):
    """Tickets with created/modified times; both export endpoints read the same tickets."""

    key = "enneo"

    def __init__(self, seed: int, size: int) -> None:
        super().__init__(seed, size)
        self.tickets: dict[int, dict[str, t.Any]] = {}
        self.next_id = 4711
        # Caches that keep 200k-ticket exports fast: rows sorted per order field, and each
        # ticket's rendered JSON per endpoint; both are dropped when the data changes.
        self._sorted: dict[str, tuple[list[tuple[t.Any, int]], list[dict[str, t.Any]]]] = {}
        self._rendered: dict[tuple[str, int], bytes] = {}
        for _ in range(size):
            self._create(data.moment_between(self.rng))

    def _create(self, created: datetime, modified: datetime | None = None) -> None:
        rng = self.rng
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
            "incomingMessages": rng.randrange(0, 9),
            "outgoingMessages": rng.randrange(0, 9),
            "internalMessages": rng.randrange(0, 3),
            "manualWorkEntries": rng.randrange(0, 3),
            "createdAt": created,
            "closedAt": closed if status in {"closed", "resolved"} else None,
            "modifiedAt": modified,
            "dueBy": unambiguous(created + timedelta(days=7)),
            "lastMessageAt": modified,
            "lastCustomerMessageAt": unambiguous(
                created + timedelta(minutes=rng.randrange(0, 600))
            ),
            "email": email,
            "rawData": raw,
            "subject": payload["subject"],
            "fromName": name,
        }
        self.next_id += 1

    def mutate(self) -> None:
        now = unambiguous(self.now())
        self._create(now, now)
        ticket = self.tickets[self.rng.choice(list(self.tickets))]
        ticket["modifiedAt"] = ticket["lastMessageAt"] = now
        ticket["status"] = self.rng.choice(STATUSES)
        self._sorted.clear()
        for prefix in ("", "t."):
            self._rendered.pop((prefix, ticket["id"]), None)

    # -- API ---------------------------------------------------------------------------

    def routes(self) -> dict[tuple[str, str], t.Callable[[Request], Response]]:
        return {
            ("GET", "/api/mind/export/ticket"): lambda r: self.export(r, prefix="t."),
            ("GET", "/api/mind/export/reporting_tickets"): lambda r: self.export(r, prefix=""),
        }

    def export(self, request: Request, *, prefix: str) -> Response:
        """Both exports: auth, validation, filters, order, offset/limit."""
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
        order = (request.arg("orderByField") or f"{prefix}createdAt").removeprefix(prefix)
        if self.tickets and order not in next(iter(self.tickets.values())):
            return json_response({"error": f"unknown orderByField {order}"}, 400)
        descending = (request.arg("orderByDirection") or "desc") == "desc"
        try:
            rows = self._ordered_page_source(request, prefix, order, descending)
        except (KeyError, ValueError) as exc:
            return json_response({"error": f"invalid filter: {exc}"}, 400)
        page = rows[offset : offset + limit]
        body = b"[" + b",".join(self._render(prefix, row) for row in page) + b"]"
        return Response(200, body, {"Content-Type": "application/json; charset=utf-8"})

    def _ordered_page_source(
        self, request: Request, prefix: str, order: str, descending: bool
    ) -> list[dict[str, t.Any]]:
        """Filtered rows in the asked order; range filters on the order field use bisect."""
        keys, rows = self._sorted_by(order)
        low, high = 0, len(rows)
        index = 0
        residual = False
        while f"filters[{index}][key]" in request.query:
            key = (request.arg(f"filters[{index}][key]") or "").removeprefix(prefix)
            comparator = request.arg(f"filters[{index}][comparator]") or "="
            value = request.arg(f"filters[{index}][value]")
            if key == order and comparator in {">=", ">", "<=", "<"} and value is not None:
                target = parse_local(value) if order.endswith("At") or order == "dueBy" else value
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
            allowed = {row["id"] for row in self._filtered(request, prefix)}
            selected = [row for row in selected if row["id"] in allowed]
        return selected[::-1] if descending else selected

    def _sorted_by(self, order: str) -> tuple[list[tuple[t.Any, int]], list[dict[str, t.Any]]]:
        if order not in self._sorted:
            present = [r for r in self.tickets.values() if r[order] is not None]
            present.sort(key=lambda r: (r[order], r["id"]))
            missing = [r for r in self.tickets.values() if r[order] is None]
            self._sorted[order] = (
                [(r[order], r["id"]) for r in present],
                present + sorted(missing, key=lambda r: r["id"]),
            )
        return self._sorted[order]

    def _render(self, prefix: str, row: dict[str, t.Any]) -> bytes:
        cache_key = (prefix, row["id"])
        if cache_key not in self._rendered:
            shaped = self._ticket_row(row) if prefix else self._reporting_row(row)
            self._rendered[cache_key] = json.dumps(
                shaped, ensure_ascii=False, separators=(",", ":")
            ).encode("utf-8")
        return self._rendered[cache_key]

    def _filtered(self, request: Request, prefix: str) -> list[dict[str, t.Any]]:
        rows = list(self.tickets.values())
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
        out = {k: v for k, v in row.items() if k not in {"subject", "fromName"}}
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

    def truth(self) -> dict[str, dict[str, t.Any]]:
        ids = sorted(self.tickets)
        return {
            "enneo_tickets": {"count": len(ids), "ids": ids},
            "enneo_reporting_tickets": {"count": len(ids), "ids": ids},
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
