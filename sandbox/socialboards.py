"""Socialboards Ticket API: POST /token and POST /tickets/list (provider-docs/socialboards).

Quirks kept:
- /token takes a form-encoded refresh-token grant and answers OAuth-style. Only the
  standard `grant_type` field is read: the reference page's `grand_type` is taken for a typo
  (the access-token guide and OAuth 2.0 say `grant_type`), so a client sending only the
  misspelling is refused here, as a standard token endpoint would refuse it. Access tokens
  really expire after `token_lifetime` seconds, which tests may set below the advertised
  `expires_in` (a token revoked early, or clock skew) so that a sync meets a 401 mid-way; with
  `rotate_refresh_tokens` each exchange returns a new refresh token and retires the old one.
- /tickets/list takes a JSON body; `take` defaults to 25 and larger values are clamped to
  `max_take` (50) without a word; the only order is `last_thread_activity_desc`, so a reply
  moves a ticket to the top of every listing; `from`/`to` bound the creation time.
- Every answer is an envelope `{"data", "errorCode", "errorText"}`; bad input is reported
  with an errorCode other than -1 under HTTP 200.
- Times carry 7 fractional digits (.NET ticks) and an offset that varies per record.
- One bulk import: 120 tickets share one creation instant, so no time window can split them.
- Tickets carry `inboxId`, a field the docs do not list (the tap must pass it through).
- Deleted tickets: the list's tickets carry `properties.isDeleted` and the request has no
  field that includes or excludes deleted tickets, so they stay listed, flagged (the one
  reading under which the flag can be true; hiding them would leave no way to ask). About
  4% are deleted (by id, no draw from the seeded generator), and mutate() deletes one more.
  A deletion is no thread element: it leaves `lastThreadElementCreationTime`, and so the
  ticket's place in the list, as they were (the API has no modification time).

The resource paths are served on the token host, as the tap assumes (provider-notes 2).
Rate limits are not documented, so none are enforced here.
"""

from __future__ import annotations

import re
import secrets
import time
import typing as t
import uuid
from bisect import bisect_left, bisect_right, insort
from datetime import datetime, timedelta, timezone

from sandbox import data
from sandbox.server import ProviderAPI, Request, Response, json_response

CLIENT_ID = "sandbox-socialboards-client"
REFRESH_TOKEN = "sbx-refresh-c5ng7Qm2LwTz"
ACCESS_TOKEN_PREFIX = "sbx-access-"
ROTATED_REFRESH_PREFIX = "sbx-refresh-rotated-"
MAX_TAKE = 50
DEFAULT_TAKE = 25
ORDER_BY = "last_thread_activity_desc"
BULK_IMPORT = 120
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
OFFSETS = (0, 0, 60, 120, 180, -300, 330, 420)  # minutes east of UTC
STATUSES = ("open", "pending", "closed")
SOURCES = (("web", "web_website"), ("email", "email"), ("facebook", "facebook_messenger"))
SENTIMENTS = ("question", "positive", "negative", "neutral")
CATEGORIES = (
    {"id": 15597, "name": "Customers", "parents": []},
    {"id": 15721, "name": "Other cases", "parents": [{"id": 15597, "name": "Customers"}]},
    None,
)
TAGS = ("urgent", "vip", "hoàn tiền", "refund")
VALIDATION_ERROR = 2  # invented: the docs show only -1 (success)
_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,7}))?(Z|[+-]\d\d:\d\d)$")


def to_ticks(moment: datetime) -> int:
    """An aware datetime as .NET-style ticks: 100 ns since 1970 UTC."""
    return (moment - EPOCH) // timedelta(microseconds=1) * 10


def render_time(ticks: int, offset_minutes: int) -> str:
    """Ticks -> `2024-05-12T09:00:00.1234567+03:00` in the given offset."""
    micro, tick = divmod(ticks, 10)
    zone = timezone(timedelta(minutes=offset_minutes))
    text = (EPOCH + timedelta(microseconds=micro)).astimezone(zone).isoformat("T", "microseconds")
    return f"{text[:26]}{tick}{text[26:]}"


def parse_time(text: object) -> int:
    """A filter value (ISO 8601 with an offset, up to 7 fractional digits) -> ticks."""
    match = _TIME.match(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"{text!r} is not a date-time with an offset")
    whole, fraction, offset = match.groups()
    moment = datetime.fromisoformat(whole + ("+00:00" if offset == "Z" else offset))
    digits = (fraction or "").ljust(7, "0")
    return to_ticks(moment) + int(digits)


def envelope(
    rows: list[dict[str, t.Any]] | None, code: int = -1, text: str | None = None
) -> Response:
    """The API Request Result envelope, always with HTTP 200."""
    return json_response({"data": rows, "errorCode": code, "errorText": text})


class SocialboardsAPI(ProviderAPI):
    """Tickets ordered by last thread activity, behind hour-long bearer tokens."""

    key = "socialboards"

    def __init__(self, seed: int, size: int) -> None:
        """An emulator of `size` tickets, its data drawn from a generator seeded by `seed`."""
        super().__init__(seed, size)
        self.tickets: dict[int, dict[str, t.Any]] = {}
        self.ids: list[int] = []
        self.by_creation: list[tuple[int, int]] = []  # (creation ticks, id), sorted
        self.next_id = 4_470_000
        # knobs a test may change
        self.token_lifetime = 3600.0
        self.advertised_expires_in: int | None = None
        self.rotate_refresh_tokens = False
        self.max_take = MAX_TAKE
        self.envelope_error: tuple[int, str] | None = None
        self.list_response: Response | None = None  # answer every listing with this instead
        # what happened, for tests
        self.refresh_tokens = {REFRESH_TOKEN}
        self.access_tokens: dict[str, float] = {}
        self.issued_access_tokens: list[str] = []
        self.issued_refresh_tokens: list[str] = []
        self.bodies: list[dict[str, t.Any]] = []
        self.replied: list[int] = []
        self._seed_tickets(size)

    # -- data --------------------------------------------------------------------------

    def _seed_tickets(self, size: int) -> None:
        rng = self.rng
        bulk = BULK_IMPORT if size >= 4 * BULK_IMPORT else 0
        burst = size // 10
        instant = to_ticks(data.moment_between(rng)) + rng.randrange(10)
        burst_start = data.moment_between(rng, data.DATA_START, data.DATA_END - timedelta(hours=2))
        for index in range(size):
            if index < bulk:
                created = instant
            elif index < bulk + burst:  # a campaign: many tickets within two hours
                moment = data.moment_between(
                    rng,
                    burst_start,
                    burst_start + timedelta(hours=2),
                    resolution=timedelta(microseconds=1),
                )
                created = to_ticks(moment) + rng.randrange(10)
            else:
                moment = data.moment_between(rng, resolution=timedelta(microseconds=1))
                created = to_ticks(moment) + rng.randrange(10)
            self._create(created)

    def _create(self, created: int, last: int | None = None) -> None:
        rng = self.rng
        replies = 0 if last is not None or rng.random() < 0.3 else rng.randrange(1, 9)
        if last is None:
            last = created + rng.randrange(0, 10 * 24 * 3600) * 10**7 * min(replies, 1)
            last = min(last, to_ticks(data.DATA_END))
        name, email = data.person(rng)
        text = data.body(rng)
        source, detailed = rng.choice(SOURCES)
        ticket_id = self.next_id
        self.next_id += rng.randrange(1, 40)
        self.tickets[ticket_id] = {
            "id": ticket_id,
            "title": data.subject(rng),
            "message": text,
            "htmlMessage": "<p>" + text.replace("\n", "<br>") + "</p>",
            "attachments": (
                [
                    {
                        "isContentPart": False,
                        "name": "hóa đơn.pdf",
                        "url": f"https://files.example.com/{ticket_id}",
                    }
                ]
                if rng.random() < 0.2
                else []
            ),
            "author": {
                "id": str(uuid.UUID(int=rng.getrandbits(128))),
                "name": name,
                "image": None,
                "email": email,
                "status": "client",
                "isBot": False,
                "customIdentifier": None,
            },
            "category": rng.choice(CATEGORIES),
            "_created": created,
            "_created_offset": rng.choice(OFFSETS),
            "customFields": (
                [{"key": 18464, "value": rng.choice(["Option 1", "Option 2"])}]
                if rng.random() < 0.3
                else []
            ),
            "_last": last,
            "_last_offset": rng.choice(OFFSETS),
            "lockedBy": None,
            "originalLink": None,
            "properties": {
                "isAnonymized": False,
                "isMuted": False,
                "hasAttachments": False,
                "hasDraft": rng.random() < 0.1,
                "isAssignedToBot": False,
                "isDeleted": ticket_id % 25 == 0,
                "isExpired": rng.random() < 0.5,
                "isHidden": False,
                "isLocked": False,
                "isSpam": rng.random() < 0.02,
                "isSensitive": False,
            },
            "replyCount": replies,
            "sentiment": rng.choice(SENTIMENTS),
            "source": source,
            "detailedSource": detailed,
            "sourceName": None,
            "status": rng.choice(STATUSES),
            "tags": rng.sample(TAGS, rng.randrange(0, 3)),
            "inboxId": rng.choice([301, 302]),  # not in the docs: a field added later
        }
        self.tickets[ticket_id]["properties"]["hasAttachments"] = bool(
            self.tickets[ticket_id]["attachments"]
        )
        self.ids.append(ticket_id)
        insort(self.by_creation, (created, ticket_id))

    def mutate(self) -> None:
        """A new ticket arrives, an existing one gets a reply, one a tag, one is deleted.

        The replied ticket jumps to the top; the tagged and the deleted ones do not move.
        """
        now = to_ticks(self.now(timedelta(microseconds=1))) + self.rng.randrange(10)
        self._create(now, now)
        ticket = self.tickets[self.rng.choice(self.ids[:-1])]
        ticket["_last"] = now
        ticket["replyCount"] += 1
        ticket["status"] = "open"
        self.replied.append(ticket["id"])
        # an edit that does not move a ticket: the order knows only thread activity
        self.tickets[self.rng.choice(self.ids)]["tags"] = ["edited"]
        self.delete(self.rng.choice(self.ids))

    def delete(self, ticket_id: int) -> None:
        """Delete a ticket: flagged, still listed, in the same place."""
        self.tickets[ticket_id]["properties"]["isDeleted"] = True

    def render(self, ticket: dict[str, t.Any]) -> dict[str, t.Any]:
        """A ticket as the API returns it."""
        out = {k: v for k, v in ticket.items() if not k.startswith("_")}
        out["creationTime"] = render_time(ticket["_created"], ticket["_created_offset"])
        out["lastThreadElementCreationTime"] = render_time(ticket["_last"], ticket["_last_offset"])
        return out

    def truth(self) -> dict[str, dict[str, t.Any]]:
        """Every ticket id, the deleted ones included (they stay listed)."""
        ids = sorted(self.tickets)
        return {"socialboards_tickets": {"count": len(ids), "ids": ids}}

    def utc(self, ticket_id: int, field: str) -> str:
        """What the tap must emit for a ticket's time field (UTC, microseconds)."""
        ticks = self.tickets[ticket_id]["_created" if field == "creationTime" else "_last"]
        return (EPOCH + timedelta(microseconds=ticks // 10)).isoformat()

    def listing(self, start: int | None = None, end: int | None = None) -> list[int]:
        """Ids in the API's order (last thread activity, newest first) within a creation range."""
        low = 0 if start is None else bisect_left(self.by_creation, (start, -1))
        high = (
            len(self.by_creation) if end is None else bisect_right(self.by_creation, (end, 2**62))
        )
        ids = [ticket_id for _created, ticket_id in self.by_creation[low:high]]
        ids.sort(key=lambda i: (self.tickets[i]["_last"], i), reverse=True)
        return ids

    # -- API ---------------------------------------------------------------------------

    def routes(self) -> dict[tuple[str, str], t.Callable[[Request], Response]]:
        """The token endpoint and the ticket list."""
        return {("POST", "/token"): self.token, ("POST", "/tickets/list"): self.list_tickets}

    def token(self, request: Request) -> Response:
        """POST /token: refresh-token grant, form encoded."""
        form = request.form()
        if form.get("grant_type") != "refresh_token":
            return json_response({"error": "unsupported_grant_type"}, 400)
        if form.get("client_id") != CLIENT_ID:
            return json_response({"error": "invalid_client"}, 400)
        presented = form.get("refresh_token") or ""
        if presented not in self.refresh_tokens:
            return json_response({"error": "invalid_grant"}, 400)
        refresh = presented
        if self.rotate_refresh_tokens:
            refresh = ROTATED_REFRESH_PREFIX + secrets.token_hex(12)
            self.refresh_tokens.discard(presented)
            self.refresh_tokens.add(refresh)
            self.issued_refresh_tokens.append(refresh)
        access = ACCESS_TOKEN_PREFIX + secrets.token_hex(16)
        self.access_tokens[access] = time.monotonic() + self.token_lifetime
        self.issued_access_tokens.append(access)
        expires_in = self.advertised_expires_in
        if expires_in is None:
            expires_in = max(int(self.token_lifetime) - 1, 1)
        return json_response(
            {
                "access_token": access,
                "token_type": "bearer",
                "expires_in": expires_in,
                "refresh_token": refresh,
            }
        )

    def _authorized(self, request: Request) -> bool:
        header = request.header("authorization") or ""
        scheme, _, token = header.partition(" ")
        expires = self.access_tokens.get(token)
        return scheme.lower() == "bearer" and expires is not None and time.monotonic() < expires

    def list_tickets(self, request: Request) -> Response:
        """POST /tickets/list."""
        if not self._authorized(request):
            return json_response(
                {"Message": "Authorization has been denied for this request."},
                401,
                **{"WWW-Authenticate": "Bearer"},
            )
        body = request.json()
        if not isinstance(body, dict):
            return envelope(None, VALIDATION_ERROR, "Request body must be a JSON object")
        self.bodies.append(body)
        if self.list_response is not None:
            return self.list_response
        if self.envelope_error:
            return envelope(None, *self.envelope_error)
        try:
            take = int(body.get("take", DEFAULT_TAKE))
            skip = int(body.get("skip") or 0)
            start = parse_time(body["from"]) if body.get("from") is not None else None
            end = parse_time(body["to"]) if body.get("to") is not None else None
        except (TypeError, ValueError) as exc:
            return envelope(None, VALIDATION_ERROR, f"Invalid request: {exc}")
        if take < 0 or skip < 0:
            return envelope(None, VALIDATION_ERROR, "take and skip must not be negative")
        if body.get("orderBy") not in (None, ORDER_BY):
            return envelope(None, VALIDATION_ERROR, f"Unknown orderBy {body.get('orderBy')!r}")
        take = min(take, self.max_take)  # silently
        ids = self.listing(start, end)
        wanted = body.get("ticketIds")
        if wanted:
            ids = [i for i in ids if i in set(wanted)]
        for field in ("status", "source"):
            if body.get(field):
                ids = [i for i in ids if self.tickets[i][field] == body[field]]
        return envelope([self.render(self.tickets[i]) for i in ids[skip : skip + take]])


API = SocialboardsAPI
DEFAULT_SIZE = 1500
# the configured refresh token, and the prefixes of every access token and rotated refresh
# token the sandbox issues: a generic scan for SECRETS catches any of them
SECRETS = (REFRESH_TOKEN, ACCESS_TOKEN_PREFIX, ROTATED_REFRESH_PREFIX)


def tap_settings(url: str) -> dict[str, t.Any]:
    """Settings block of the tap for this emulator."""
    return {"client_id": CLIENT_ID, "refresh_token": REFRESH_TOKEN, "api_url": url}
