"""ProProfs Help Desk: POST /app/api/v1/list/ticket/ (provider-docs/proprofs-ticket-list.txt).

Quirks kept: credentials travel in the JSON body; failures are an envelope
`{"status": "error", "description": ...}` under HTTP 200; the last-modified range must fall
within 3 months (a wider one is refused with that envelope, as is a start after the end);
start only means start..start+3 months capped at now, end only end-3 months..end, neither
the last 3 months; start_ticket_id/end_ticket_id narrow by ID (start < end); 25 tickets
per page with first/previous/next/last page links built from the Host header;
`total_tickets` is a string; every time is naive text in the account zone (America/Chicago
unless set); `deleted` is "0"/"1". Pages are ordered by last modification,
newest first, and each page is cut from the data as it is when asked for: a ticket modified
mid-walk leaves a window bounded in the past and every later ticket moves up one place.

Undocumented, chosen here: bounds are inclusive `YYYY-MM-DD HH:MM:SS`; page links are POSTed
with the same body (`post_links = False` answers them 405 and serves GET instead); an
unassigned ticket has `"staff": ""`.

Deleted tickets: the docs show `"deleted": "0"` on every listed ticket and no request
parameter that includes or excludes deleted ones, so deleted tickets stay in the list with
`"deleted": "1"` (the one reading under which the field can say anything). Whether deleting
moves `modified_date_time` is not documented: by default it does not (the stricter reading:
an incremental run cannot see a deletion); `deletion_touches_modified = True` makes it.
About 5% of the tickets are deleted, and mutate() deletes one more each time.

Messages, as the docs' sample shows them: the first is the customer's, sent when the ticket
was created (`from` the customer, `to` the support address); replies by an agent come later,
`from` the help desk address `to` the customer, with `reply_by` the assigned staff member
(`staff`); the customer's follow-ups have no `reply_by`. An unassigned ticket has no reply.
"""

from __future__ import annotations

import typing as t
from bisect import bisect, bisect_left, bisect_right
from calendar import monthrange
from datetime import datetime, timedelta, timezone
from operator import itemgetter
from zoneinfo import ZoneInfo

from sandbox import data
from sandbox.server import ProviderAPI, Request, Response, json_response

PATH = "/app/api/v1/list/ticket/"
EMAIL = "owner@sandbox-helpdesk.example.com"
TOKEN = "6fea0sandbox1d6144d0proprofs9"
PER_PAGE = 25
STATUSES = ["new", "open", "pending", "hold", "resolved", "closed"]
PRIORITIES = ["high", "normal", "low"]
STAFF = [
    {"id": f"SF008-{10650 + i}", "name": name, "email": f"agent{i}@sandbox-helpdesk.example.com"}
    for i, name in enumerate(["John Smith", "Trần Thị Mai", "Jürgen Weiß", "Zoë Ødegaard"])
]
INBOXES = [
    {"id": f"IB008-{20700 + i}", "name": name, "email": f"{slug}@sandbox-helpdesk.example.com"}
    for i, (name, slug) in enumerate(
        [("Support", "support"), ("Hỗ trợ", "hotro"), ("Billing", "billing")]
    )
]
CUSTOM_FIELDS = [("CF008-104", "City"), ("CF008-323", "Preference"), ("CF008-367", "Train")]
LABELS = [("LB008-338", "Important"), ("LB008-394", "New label"), ("LB008-401", "Đơn hàng")]
NAIVE = "%Y-%m-%d %H:%M:%S"
LOCAL = itemgetter(2)


def add_months(moment: datetime, months: int) -> datetime:
    """Calendar month arithmetic, clamping the day (Nov 30 + 3 months -> Feb 28/29)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, monthrange(year, month)[1]))


def envelope_error(description: str) -> Response:
    """ProProfs' failure answer: HTTP 200 with status "error"."""
    return json_response({"status": "error", "description": description})


class Ticket(dict[str, t.Any]):
    """A ticket that keeps its place in the API's last-modified index.

    The index follows every assignment to `modified`: by mutate() or from outside, as the
    tests do.
    """

    __slots__ = ("api",)
    api: ProProfsAPI

    def __init__(self, api: ProProfsAPI, fields: dict[str, t.Any]) -> None:
        """A ticket of `api` holding `fields` (not yet in its index)."""
        super().__init__(fields)
        self.api = api

    def __setitem__(self, key: str, value: object) -> None:
        """Set a field; a new `modified` moves the ticket in the index."""
        if key != "modified":
            super().__setitem__(key, value)
            return
        self.api._remove(self)
        super().__setitem__(key, value)
        self.api._insert(self)


#: (modified, id, modified as naive account-zone time, ticket)
Entry = tuple[datetime, int, datetime, Ticket]


class ProProfsAPI(ProviderAPI):
    """Tickets with nested messages, listed by last-modified window and page links."""

    key = "proprofs"

    def __init__(self, seed: int, size: int) -> None:
        """An emulator of `size` tickets, its data drawn from a generator seeded by `seed`."""
        super().__init__(seed, size)
        #: the account's global time zone: every time in requests and answers is in it
        self.zone = ZoneInfo("America/Chicago")
        #: widest last-modified range the API accepts, in calendar months
        self.max_months = 3
        #: whether page links accept POST (False: 405 to POST, GET served)
        self.post_links = True
        #: host written into page links (None: the Host header of the request)
        self.link_host: str | None = None
        #: answer every list request with an HTML page under HTTP 200
        self.answer_html = False
        #: disregard end_last_modified_date (as if the API only knew `last_modified_date`)
        self.ignore_end = False
        #: whether deleting a ticket moves its modified_date_time (undocumented; not by default)
        self.deletion_touches_modified = False
        #: one entry per list request: method, page, the range asked for, the body's keys
        self.calls: list[dict[str, t.Any]] = []
        self.tickets: dict[int, Ticket] = {}
        self.next_id = 231000
        for _ in range(size):
            self._create(data.moment_between(self.rng))
        #: every ticket, sorted by (modified, id)
        self._index: list[Entry] = []
        #: how many neighbours in the index have their local times going backwards
        self._descents = 0
        self._build_index()

    # -- data --------------------------------------------------------------------------

    def unambiguous(self, moment: datetime) -> datetime:
        """Move a moment out of the hour that repeats when DST ends (naive text is ambiguous)."""
        loc = moment.astimezone(self.zone)
        while loc.replace(fold=1 - loc.fold).utcoffset() != loc.utcoffset():
            moment += timedelta(hours=1)  # (from the first occurrence, twice)
            loc = moment.astimezone(self.zone)
        return moment

    def local(self, moment: datetime | None) -> str:
        """UTC moment -> naive account-zone text ("" for none, as the API sends)."""
        return "" if moment is None else moment.astimezone(self.zone).strftime(NAIVE)

    def _message(
        self, created: datetime, *, customer: str, reply_by: dict[str, str] | None = None
    ) -> dict[str, t.Any]:
        """The customer's message, or an agent's reply when `reply_by` names the agent."""
        rng = self.rng
        message: dict[str, t.Any] = {
            "text": data.body(rng) + rng.choice(["", "\r\n"]),
            "created": created,
        }
        if reply_by:
            message["from"] = "helpdesk@sandbox-helpdesk.example.com"
            message["to"] = customer
            message["reply_by"] = dict(reply_by)
        else:
            message["from"] = customer
            message["to"] = "ProProfs <support@sandbox-helpdesk.example.com>"
        return message

    def _create(self, created: datetime, modified: datetime | None = None) -> Ticket:
        rng = self.rng
        created = self.unambiguous(created)
        modified = self.unambiguous(
            modified
            or max(
                min(created + timedelta(minutes=rng.randrange(1, 60 * 24 * 9)), data.DATA_END),
                created,
            )
        )
        name, email = data.person(rng)
        customer = f"{name} <{email}>"
        staff = rng.choice([*STAFF, None])
        messages = [self._message(created, customer=customer)]
        for index in range(rng.randrange(0, 4)):
            when = created + (modified - created) * (index + 1) / 4
            when = min(self.unambiguous(when.replace(microsecond=0)), modified)
            if when <= created:  # a ticket modified when it was created has no reply yet
                break
            replier = staff if index % 2 == 0 else None  # agent, customer, agent
            messages.append(self._message(when, customer=customer, reply_by=replier))
        fields: dict[str, t.Any] = {
            "id": self.next_id,
            "customer_email": email,
            "customer_name": name,
            "customer_phone": rng.choice(["", f"+1 312 555 {rng.randrange(1000, 9999)}"]),
            "subject": data.subject(rng),
            "messages": messages,
            "staff": staff,
            "priority": rng.choice(PRIORITIES),
            "due": self.unambiguous(created + timedelta(days=3)) if rng.random() < 0.3 else None,
            "inbox": rng.choice(INBOXES),
            "custom_fields": [
                {"id": cid, "name": cname, "value": rng.choice(["", "Delhi", "Hà Nội", "Zürich"])}
                for cid, cname in CUSTOM_FIELDS[: rng.randrange(0, len(CUSTOM_FIELDS) + 1)]
            ],
            "labels": [
                {"id": lid, "name": lname} for lid, lname in rng.sample(LABELS, rng.randrange(0, 3))
            ],
            "status": rng.choice(STATUSES),
            "deleted": rng.random() < 0.05,
            "created": created,
            "modified": modified,
        }
        if rng.random() < 0.1:  # a field the docs do not list: it must be carried through
            fields["ticket_rating"] = rng.choice(["good", "bad"])
        ticket = self.tickets[self.next_id] = Ticket(self, fields)
        self.next_id += 1
        return ticket

    def mutate(self) -> None:
        """A new ticket, a reply on an existing one, and a ticket deleted.

        The replied ticket's last-modified time becomes now.
        """
        now = self.unambiguous(self.now())
        self._insert(self._create(now, now))
        ticket = self.tickets[self.rng.choice(list(self.tickets))]
        if ticket["messages"][-1]["created"] < now:  # a reply comes after the last message
            self.reply(ticket, now)
        self.delete(self.tickets[self.rng.choice(list(self.tickets))])

    def reply(self, ticket: Ticket, now: datetime) -> None:
        """An agent's reply: the agent takes an unassigned ticket; its status changes."""
        if not ticket["staff"]:
            ticket["staff"] = dict(self.rng.choice(STAFF))
        customer = f"{ticket['customer_name']} <{ticket['customer_email']}>"
        ticket["messages"].append(self._message(now, customer=customer, reply_by=ticket["staff"]))
        ticket["modified"] = now
        ticket["status"] = self.rng.choice(STATUSES)

    def delete(self, ticket: Ticket) -> None:
        """Delete a ticket: it stays listed, flagged.

        Its modification time moves only with `deletion_touches_modified` (undocumented, see
        the module docstring).
        """
        ticket["deleted"] = True
        if self.deletion_touches_modified:
            ticket["modified"] = self.unambiguous(self.now())

    # -- last-modified index -------------------------------------------------------------

    def _entry(self, ticket: Ticket) -> Entry:
        modified = ticket["modified"]
        return modified, ticket["id"], modified.astimezone(self.zone).replace(tzinfo=None), ticket

    def _build_index(self) -> None:
        self._index = sorted(map(self._entry, self.tickets.values()), key=itemgetter(0, 1))
        self._descents = sum(self._descent(i) for i in range(len(self._index) - 1))

    def _descent(self, i: int) -> int:
        """1 if the local time at i+1 is before the one at i, else 0.

        That is possible only for times in the hour that repeats when DST ends.
        """
        index = self._index
        return int(0 <= i < len(index) - 1 and index[i][2] > index[i + 1][2])

    def _insert(self, ticket: Ticket) -> None:
        entry = self._entry(ticket)
        i = bisect(self._index, entry[:2])
        self._descents -= self._descent(i - 1)
        self._index.insert(i, entry)
        self._descents += self._descent(i - 1) + self._descent(i)

    def _remove(self, ticket: Ticket) -> None:
        i = bisect_left(self._index, (ticket["modified"], ticket["id"]))
        if i == len(self._index) or self._index[i][3] is not ticket:
            return
        self._descents -= self._descent(i - 1) + self._descent(i)
        del self._index[i]
        self._descents += self._descent(i - 1)

    def _matching(self, low: datetime, high: datetime, ids: tuple[float, float]) -> list[Entry]:
        """Entries modified in [low, high] (naive local) with an ID in `ids`, oldest first."""
        if len(self._index) != len(self.tickets):  # tickets added or removed from outside
            self._build_index()
        if self._descents:  # local times are not in order: the window is no single slice
            rows = [entry for entry in self._index if low <= entry[2] <= high]
        else:
            start = bisect_left(self._index, low, key=LOCAL)
            rows = self._index[start : bisect_right(self._index, high, key=LOCAL)]
        if ids != (float("-inf"), float("inf")):
            rows = [entry for entry in rows if ids[0] <= entry[1] <= ids[1]]
        return rows

    def render(self, ticket: dict[str, t.Any]) -> dict[str, t.Any]:
        """A ticket as the API sends it."""
        messages = []
        for message in ticket["messages"]:
            out = {
                "message_plain_text": message["text"],
                "created": self.local(message["created"]),
                "from": message["from"],
                "to": message["to"],
            }
            if "reply_by" in message:
                out["reply_by"] = message["reply_by"]
            messages.append(out)
        rendered = {
            "ticket_id": str(ticket["id"]),
            "customer_email": ticket["customer_email"],
            "customer_name": ticket["customer_name"],
            "customer_phone": ticket["customer_phone"],
            "ticket_subject": ticket["subject"],
            "messages": messages,
            "staff": ticket["staff"] or "",
            "priority": ticket["priority"],
            "ticket_due_date": self.local(ticket["due"]),
            "inbox": ticket["inbox"],
            "custom_fields": ticket["custom_fields"],
            "labels": ticket["labels"],
            "ticket_status": ticket["status"],
            "deleted": "1" if ticket["deleted"] else "0",
            "created_date_time": self.local(ticket["created"]),
            "modified_date_time": self.local(ticket["modified"]),
        }
        if "ticket_rating" in ticket:
            rendered["ticket_rating"] = ticket["ticket_rating"]
        return rendered

    # -- API ---------------------------------------------------------------------------

    def routes(self) -> dict[tuple[str, str], t.Callable[[Request], Response]]:
        """The ticket list, POSTed or fetched by GET (page links, see `post_links`)."""
        return {("POST", PATH): self.list_tickets, ("GET", PATH): self.list_tickets}

    def parse_local(self, text: object) -> datetime:
        """A filter value: naive account-zone `YYYY-MM-DD HH:MM:SS` (or a date)."""
        if not isinstance(text, str):
            raise ValueError(text)
        value = datetime.fromisoformat(text.strip())
        if value.tzinfo is not None:
            raise ValueError(text)
        return value

    def _range(self, body: dict[str, t.Any], now: datetime) -> tuple[datetime, datetime] | str:
        """The last-modified range asked for (naive local), or the error description."""
        try:
            start = (
                self.parse_local(body["start_last_modified_date"])
                if body.get("start_last_modified_date")
                else None
            )
            end = (
                self.parse_local(body["end_last_modified_date"])
                if body.get("end_last_modified_date") and not self.ignore_end
                else None
            )
        except ValueError:
            return "Invalid date format for start_last_modified_date or end_last_modified_date"
        if start is None:
            default_end = now if end is None else end
            return add_months(default_end, -self.max_months), default_end
        if end is None:
            return start, min(add_months(start, self.max_months), now)
        if start >= end:
            return "The start date must be earlier than the end date"
        if end > add_months(start, self.max_months):
            return "The start and end dates should fall within a 3-month range"
        return start, end

    def _id_range(self, body: dict[str, t.Any]) -> tuple[float, float] | str:
        """start_ticket_id..end_ticket_id (inclusive), or the error description."""
        low, high = body.get("start_ticket_id"), body.get("end_ticket_id")
        for value in (low, high):
            if value is not None and not isinstance(value, int):
                return "start_ticket_id and end_ticket_id must be integers"
        if low is not None and high is not None and low >= high:
            return "The start ticket ID must be smaller than the end ticket ID"
        return (
            float("-inf") if low is None else low,
            float("inf") if high is None else high,
        )

    def list_tickets(self, request: Request) -> Response:
        """Auth from the body, the 3-month rule, newest-modified first, 25 per page."""
        body = request.json()
        page_text = request.arg("page", "1") or "1"
        call = {
            "method": request.method,
            "page": page_text,
            "keys": sorted(body) if isinstance(body, dict) else None,
            "start": body.get("start_last_modified_date") if isinstance(body, dict) else None,
            "end": body.get("end_last_modified_date") if isinstance(body, dict) else None,
            "url": request.path + (f"?page={page_text}" if "page" in request.query else ""),
        }
        self.calls.append(call)
        if self.answer_html:
            return Response(
                200,
                b"<!DOCTYPE html><html><head><title>ProProfs Help Desk</title></head>"
                b"<body><h1>We'll be back soon!</h1><p>Scheduled maintenance.</p></body></html>",
                {"Content-Type": "text/html; charset=utf-8"},
            )
        is_link = "page" in request.query
        if request.method == "GET" and not is_link:
            return json_response({"detail": "Method Not Allowed"}, 405)
        if request.method == "POST" and is_link and not self.post_links:
            return json_response({"detail": "Method Not Allowed"}, 405)
        if not isinstance(body, dict):
            return envelope_error("Invalid request format")
        if body.get("account_email") != EMAIL or body.get("token") != TOKEN:
            return envelope_error("Unable to authenticate request using account email and token")
        if not page_text.isdigit() or int(page_text) < 1:
            return envelope_error("Invalid page number")
        now = self.now().astimezone(self.zone).replace(tzinfo=None)
        window = self._range(body, now)
        if isinstance(window, str):
            return envelope_error(window)
        ids = self._id_range(body)
        if isinstance(ids, str):
            return envelope_error(ids)
        low, high = window
        call["range"] = (low, high)
        call["ids"] = ids
        rows = self._matching(low, high, ids)
        page = int(page_text)
        last = max(-(-len(rows) // PER_PAGE), 1)
        stop = max(len(rows) - (page - 1) * PER_PAGE, 0)  # newest first: page 1 ends `rows`
        chunk = [entry[3] for entry in reversed(rows[max(stop - PER_PAGE, 0) : stop])]
        host = self.link_host or request.header("host") or "www.proprofsdesk.com"
        base = f"http://{host}{PATH}"

        def link(number: int) -> str:
            if len(rows) <= PER_PAGE or not 1 <= number <= last:
                return ""
            return base if number == 1 else f"{base}?page={number}"

        return json_response(
            {
                "status": "success",
                "ticket_data": {
                    "first_page_link": link(1),
                    "previous_page_link": link(page - 1),
                    "next_page_link": link(page + 1),
                    "last_page_link": link(last),
                    "total_tickets": str(len(rows)),
                    "page": page,
                    "total_tickets_on_page": len(chunk),
                    "ticket_per_page": PER_PAGE,
                    "tickets": [self.render(ticket) for ticket in chunk],
                },
            }
        )

    # -- truth -------------------------------------------------------------------------

    def truth(self) -> dict[str, dict[str, t.Any]]:
        """Every ticket (deleted ones stay listed) and message (ticket id, position)."""
        ids = sorted(str(i) for i in self.tickets)
        messages = sorted(
            [str(i), position]
            for i, ticket in self.tickets.items()
            for position in range(1, len(ticket["messages"]) + 1)
        )
        return {
            "proprofs_tickets": {"count": len(ids), "ids": ids},
            "proprofs_ticket_messages": {"count": len(messages), "ids": messages},
        }

    def utc(self, ticket_id: str, field: str = "modified") -> str | None:
        """What the tap must emit for a ticket's time (`created`, `modified`, `due`)."""
        value = self.tickets[int(ticket_id)][field]
        return None if value is None else value.astimezone(timezone.utc).isoformat()


API = ProProfsAPI
DEFAULT_SIZE = 1000
SECRETS = (TOKEN,)


def tap_settings(url: str) -> dict[str, t.Any]:
    """Settings block of the tap for this emulator (timezone left at its default)."""
    return {"account_email": EMAIL, "token": TOKEN, "api_url": url}
