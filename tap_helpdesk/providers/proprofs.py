"""ProProfs Help Desk tickets and their messages.

Docs: provider-docs/proprofs-ticket-list.txt; provider-notes.md section 4.
POST {api_url}/app/api/v1/list/ticket/ with the credentials and filters in a JSON body
(so no request body is ever logged). The last-modified range "should fall within a
3-month range" and answers come 25 per page with a `next_page_link`; a failure is the
envelope {"status": "error", "description": ...}, even under HTTP 200. Every time, in the
request and in the answer, is naive text in the account zone (`proprofs.timezone`).

Completeness does not depend on the (undocumented) order of the pages. Page-number paging
loses a ticket when the list changes under it, so every window we page through ends in the
past: a ticket modified mid-walk can only leave it, which `total_tickets` shows. A walk
whose total changed is read again in halves (a busy second by ticket ID) until each part is
read unchanged; a single page is always a consistent snapshot. Tickets that left are met in
the tail: after the windows, what was modified since they end is asked for "from start
only"; on one page that is a snapshot and the walk ends, else it is read as one more window
ending now and the tail is asked for again. The bookmark moves only when a window is
complete, so a killed run resumes without gaps whatever order the tickets came in.
"""

from __future__ import annotations

import re
import sys
import time
import typing as t
from array import array
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import requests
from singer_sdk.pagination import BaseAPIPaginator
from singer_sdk.streams.rest import HTTPRequest, PageContext

from tap_helpdesk.client import HelpdeskStream, PageFedStream
from tap_helpdesk.errors import ProviderError
from tap_helpdesk.schemas import load_schema
from tap_helpdesk.timestamps import utc_iso
from tap_helpdesk.windows import add_months

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from singer_sdk.helpers.types import Context

LABEL = "ProProfs Help Desk"
PAGE_SIZE = 25  # "a list of up to 25 ticket details at a time"
MAX_MONTHS = 3  # "should fall within a 3-month range"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"  # the docs' sample request; naive, in the account zone
#: The windows end this long before the sync starts, and a tail window is read only once
#: its end is TAIL_MARGIN old: a ticket modified while we page is stamped with the
#: server's now, so it leaves the window instead of moving inside it (were the server's
#: clock behind ours by more than the margin, the next run's lookback would still re-read
#: a tail, which spans seconds, but not the last window, which spans months).
END_MARGIN = timedelta(seconds=60)
TAIL_MARGIN = timedelta(seconds=2)
SECOND = timedelta(seconds=1)
#: A ticket modified further ahead of our clock than this means the zone setting is off.
ZONE_SLACK = timedelta(minutes=30)
#: Reads of a slice that keeps changing and cannot be split before the run gives up on it.
MAX_ATTEMPTS = 5
#: Tails read after the windows (each holds what changed while the one before was read).
MAX_TAILS = 50
_EMPTY_RESULT = re.compile(r"\bno\b.*\b(tickets?|records?|data|results?)\b.*\bfound\b", re.I)
_CREDENTIAL_WORDS = re.compile(r"authenticat|credential|token|account email|unauthori", re.I)
_TRUE = frozenset({"1", "true", "yes"})
_FALSE = frozenset({"0", "false", "no"})


# -- windows ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Slice:
    """Tickets last modified in [start, end] (naive account-zone times), optionally with
    ticket IDs in [low_id, high_id]; a bound left as None is not sent."""

    start: datetime
    #: None: a tail read "from start only", which the API answers up to now
    end: datetime | None
    low_id: int | None = None
    high_id: int | None = None

    def describe(self) -> str:
        """The slice for log and error lines."""
        end = self.end.strftime(DATE_FORMAT) if self.end else "now"
        text = f"{self.start.strftime(DATE_FORMAT)}..{end}"
        if self.low_id is not None or self.high_id is not None:
            text += f", ticket IDs {self.low_id or ''}..{self.high_id or ''}"
        return text


def three_month_windows(start: datetime, end: datetime) -> list[Slice]:
    """Slice [start, end] (naive account-zone times) into windows of under 3 months.

    Consecutive windows share their edge second: whichever way the API treats an edge
    (inclusive or exclusive), a ticket modified exactly then is in one of them.
    """
    windows: list[Slice] = []
    cursor = start
    while cursor < end:
        stop = min(add_months(cursor, MAX_MONTHS) - SECOND, end)
        windows.append(Slice(cursor, stop))
        cursor = stop
    return windows


def split_time(part: Slice) -> list[Slice] | None:
    """Two halves sharing the middle second, or None when the window is too short."""
    if part.end is None or part.low_id is not None or part.high_id is not None:
        return None
    span = part.end - part.start
    if span < 2 * SECOND:
        return None
    middle = part.start + timedelta(seconds=int(span.total_seconds()) // 2)
    return [Slice(part.start, middle), Slice(middle, part.end)]


def split_ids(part: Slice, ids: list[int]) -> list[Slice] | None:
    """Two ID ranges sharing the median of the IDs seen (for a second too busy to halve).

    The outer bounds stay open until they are known, so an ID never met is still inside.
    """
    if not ids:
        return None
    middle = sorted(ids)[len(ids) // 2]
    if part.low_id is not None:
        middle = max(middle, part.low_id + 1)
    if part.high_id is not None:
        middle = min(middle, part.high_id - 1)
        if part.low_id is not None and not part.low_id < middle < part.high_id:
            return None
    return [replace(part, high_id=middle), replace(part, low_id=middle)]


def local_now(zone: t.Any) -> datetime:
    """Now as naive account-zone time, whole seconds."""
    return datetime.now(timezone.utc).astimezone(zone).replace(tzinfo=None, microsecond=0)


# -- record values ---------------------------------------------------------------------


def as_bool(value: t.Any) -> bool | None:
    """`deleted` is "0"/"1" in the API; None for anything unrecognised."""
    if value in ("0", "1"):
        return value == "1"
    if isinstance(value, bool) or value is None:
        return value
    text = str(value).strip().lower()
    return True if text in _TRUE else False if text in _FALSE else None


def as_list(value: t.Any) -> list[t.Any]:
    """custom_fields/labels as an array of objects, whatever form an empty one takes."""
    if value in (None, "", {}):
        return []
    if isinstance(value, dict):
        return [value]
    return value if isinstance(value, list) else [value]


def as_object(value: t.Any) -> t.Any:
    """staff/inbox: an empty value becomes null."""
    return None if value in ("", [], {}) else value


def link_query(link: str) -> str:
    """The query of a page link (`page=2`): the only part of it we use."""
    return urlsplit(link.strip()).query


# -- what was emitted -----------------------------------------------------------------


class Emitted:
    """Which tickets were emitted, kept only where a later read can meet them again.

    Within one read of a slice no ticket comes twice (slices end in the past, so a read
    that lost or gained a ticket shows it in total_tickets and is read again). A ticket
    comes again only (1) when a slice that changed is re-read in parts: the IDs emitted by
    its first read are kept (8 bytes each) until the walk has passed its end; (2) when it
    was modified at or after the end of the slice that brought it (the edge second two
    windows share, an API that ignores the end bound, a tail): kept with its version until
    the walk has passed that time. Everything else is forgotten as soon as it is written,
    so memory does not grow with the number of tickets.
    """

    def __init__(self) -> None:
        #: IDs emitted by the read of the current slice
        self._slice_ids = array("q")
        self._slice_other: set[str] = set()
        #: (end of a slice being re-read, the IDs its first read emitted)
        self._guards: list[tuple[datetime, set[int | str]]] = []
        #: ticket_id -> (modified_date_time, its local second) for tickets not yet passed
        self._ahead: dict[str, tuple[t.Any, str]] = {}
        self._end_text = ""

    def start_slice(self, part: Slice) -> None:
        """A slice's first page is being taken."""
        self._slice_ids = array("q")
        self._slice_other = set()
        self._end_text = part.end.strftime(DATE_FORMAT) if part.end is not None else ""

    def unseen(self, tickets: list[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
        """The tickets of a page not emitted before in this version; noted as emitted."""
        fresh = []
        ahead, end_text = self._ahead, self._end_text
        for ticket in tickets:
            key, version = str(ticket.get("ticket_id")), ticket.get("modified_date_time")
            known = ahead.get(key)
            if known is not None and known[0] == version:
                continue
            if self._guards and any(_id_key(key) in ids for _end, ids in self._guards):
                continue
            local = local_second(version)
            if local >= end_text:
                ahead[key] = (version, local)
            identity = _id_key(key)
            if isinstance(identity, int):
                self._slice_ids.append(identity)
            else:
                self._slice_other.add(identity)
            fresh.append(ticket)
        return fresh

    def guard(self, part: Slice) -> None:
        """The current slice changed while read and will be re-read in parts."""
        if part.end is not None:
            self._guards.append((part.end, {*self._slice_ids, *self._slice_other}))

    def passed(self, edge: datetime) -> None:
        """Every ticket modified up to `edge` has been read: forget what cannot come again."""
        self._guards = [(end, ids) for end, ids in self._guards if end > edge]
        if edge is EVERYTHING:
            self._ahead.clear()
            return
        edge_text = edge.strftime(DATE_FORMAT)
        self._ahead = {k: v for k, v in self._ahead.items() if v[1] >= edge_text}

    def __len__(self) -> int:
        return len(self._ahead) + sum(len(ids) for _end, ids in self._guards)


def _id_key(ticket_id: str) -> int | str:
    return int(ticket_id) if ticket_id.isdigit() and len(ticket_id) < 19 else ticket_id


def local_second(value: t.Any) -> str:
    """A naive account-zone time as `YYYY-MM-DD HH:MM:SS` text (comparable as text); ""
    for what does not read as a time (such a ticket is never kept for later)."""
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[13] == ":":
        return value[:10] + " " + value[11:19]
    try:
        return datetime.fromisoformat(str(value)).strftime(DATE_FORMAT)
    except ValueError:
        return ""


# -- the walk --------------------------------------------------------------------------


@dataclass(frozen=True)
class PageToken:
    """One request: a slice and a page of it."""

    part: Slice
    #: query of next_page_link; "" asks for the first page
    link: str = ""
    #: earlier reads of the same slice (keeps tokens of consecutive requests distinct)
    attempt: int = 0


@dataclass
class Progress:
    """What the pages of the slice being read said so far."""

    token: PageToken
    first_total: int | None = None
    last_total: int | None = None
    rows: int = 0
    pages: int = 0
    next_link: str = ""
    #: ticket IDs met, kept only for a slice that cannot be halved by time
    ids: list[int] = field(default_factory=list)
    #: a tail from start only that did not fit on one page
    more: bool = False


#: `TicketWalk.completed` after a tail that fitted on one page: everything is read.
EVERYTHING = datetime.max


@dataclass
class TicketWalk:
    """Which slice and page to ask for next, and whether a window was read completely."""

    label: str
    #: (slice, attempt) still to read, the earliest last (a stack)
    pending: list[tuple[Slice, int]]
    #: where the tail read starts (None: an end_date in the past bounds the run)
    tail_from: datetime | None
    #: now as naive account-zone time, whole seconds
    clock: Callable[[], datetime]
    sleep: Callable[[float], None] = time.sleep
    #: where "read again" lines go (the stream's logger; never stdout, the Singer channel)
    log: Callable[..., None] = lambda *args: None
    tails: int = 0
    #: the end of the window the last page completed (EVERYTHING after the final tail)
    completed: datetime | None = None
    progress: Progress | None = None
    #: what was emitted, to emit each version once
    emitted: Emitted = field(default_factory=Emitted)

    def first_token(self) -> PageToken | None:
        """The first request of the walk, or None when there is nothing to read."""
        return self._next_slice()

    def take_page(
        self,
        token: PageToken,
        total: int | None,
        next_link: str,
        tickets: list[dict[str, t.Any]],
    ) -> list[dict[str, t.Any]]:
        """Account for one page; return its tickets not yet emitted in their current form."""
        if self.progress is None or token.link == "":
            self.progress = Progress(token, first_total=total)
        progress = self.progress
        progress.pages += 1
        progress.rows += len(tickets)
        progress.last_total = total
        progress.next_link = link_query(next_link) if next_link and tickets else ""
        if token.part.end is None:
            # A tail from start only is complete on one page; a longer one is no snapshot
            # and is read again as a window (its links are not followed).
            progress.more, progress.next_link = bool(progress.next_link), ""
        elif split_time(token.part) is None:
            progress.ids += [i for i in map(_integer, (r.get("ticket_id") for r in tickets)) if i]
        self._check_links(token, progress, next_link)
        if token.link == "":
            self.emitted.start_slice(token.part)
        fresh = self.emitted.unseen(tickets)
        if not progress.next_link:
            self.completed = self._completed_edge(progress)
            if self.completed is not None:
                self.emitted.passed(self.completed)
            elif self.disturbed(progress):
                self.emitted.guard(token.part)
        return fresh

    def _check_links(self, token: PageToken, progress: Progress, next_link: str) -> None:
        if progress.next_link and progress.next_link == token.link:
            raise ProviderError(
                self.label, f"next_page_link repeats the page it is on ({next_link})"
            )
        limit = -(-(progress.first_total or 0) // PAGE_SIZE) + 5
        if progress.next_link and progress.first_total is not None and progress.pages > limit:
            raise ProviderError(
                self.label,
                f"next_page_link goes on past {progress.pages} pages for {progress.first_total} "
                f"tickets modified {token.part.describe()}",
            )

    def _completed_edge(self, progress: Progress) -> datetime | None:
        """The end of the window just read, when every ticket up to it was met."""
        part = progress.token.part
        if part.end is None:
            return None if progress.more else EVERYTHING
        if self.disturbed(progress) or part.high_id is not None:
            return None  # (the last ID range of a second is the one open upwards)
        return part.end

    @staticmethod
    def disturbed(progress: Progress) -> bool:
        """Whether the slice changed while its pages were read (so one may have been missed).

        Slices end in the past: a ticket modified meanwhile leaves, which lowers the total.
        """
        if progress.first_total is None or progress.last_total is None:
            return False
        return progress.first_total != progress.last_total or progress.rows < progress.last_total

    def next_token(self) -> PageToken | None:
        """The request after the page just taken, or None when the walk is done."""
        progress, self.progress = self.progress, None
        if progress is None:
            return None
        token = progress.token
        if progress.next_link:
            self.progress = progress
            return PageToken(token.part, progress.next_link, token.attempt)
        if token.part.end is None:
            self._after_tail(progress)
        elif self.disturbed(progress):
            self._reread(progress)
        return self._next_slice()

    def _next_slice(self) -> PageToken | None:
        if self.pending:
            part, attempt = self.pending.pop()
            return PageToken(part, "", attempt)
        if self.tail_from is not None:
            return PageToken(Slice(self.tail_from, None))
        return None

    def _reread(self, progress: Progress) -> None:
        """A slice that changed while read: read it again, in halves when it can be split.

        Halves by time first; a second too busy to halve is split by ticket ID.
        """
        token = progress.token
        parts = split_time(token.part) or split_ids(token.part, progress.ids)
        self.log(
            "%s: tickets modified %s changed while they were paged through (total %s, then "
            "%s; %s read): reading them again%s",
            self.label,
            token.part.describe(),
            progress.first_total,
            progress.last_total,
            progress.rows,
            " in halves" if parts else "",
        )
        if parts:
            self.pending.extend((part, 0) for part in reversed(parts))
        elif token.attempt + 1 < MAX_ATTEMPTS:
            self.pending.append((token.part, token.attempt + 1))
        else:
            raise ProviderError(
                self.label,
                f"tickets modified {token.part.describe()} kept changing while they were "
                f"paged through ({MAX_ATTEMPTS} reads, total_tickets {progress.first_total} "
                f"then {progress.last_total}, {progress.rows} read); run the sync again",
            )

    def _after_tail(self, progress: Progress) -> None:
        """A tail on one page is complete; a longer one is read as a window ending now.

        The window's end must be in the past when it is read (TAIL_MARGIN), so that a
        ticket modified meanwhile leaves it; the next tail starts there.
        """
        self.tail_from = None
        if not progress.more:
            return
        start = progress.token.part.start
        if self.tails >= MAX_TAILS:
            self.log(
                "%s: tickets keep changing while they are read (%d tails); those modified "
                "since %s are left to the next run (the bookmark stays before them)",
                self.label,
                MAX_TAILS,
                start.strftime(DATE_FORMAT),
            )
            return
        self.tails += 1
        end = self.clock()
        while end <= start:
            self.sleep(1.0)
            end = self.clock()
        while self.clock() - TAIL_MARGIN < end:
            self.sleep(0.25)
        self.pending.append((Slice(start, end), 0))
        self.tail_from = end


class WindowPaginator(BaseAPIPaginator[PageToken | None]):
    """Hands the stream's TicketWalk on from page to page and window to window."""

    def __init__(self, walk: TicketWalk) -> None:
        super().__init__(walk.first_token())
        self.walk = walk

    @override
    def get_next(self, response: requests.Response) -> PageToken | None:
        return self.walk.next_token()

    @override
    def continue_if_empty(self, response: requests.Response) -> bool:
        # An empty window (or a page of tickets already emitted) is not the end of the walk.
        return True


class LinkMethodRefused(Exception):
    """The server answered 405 to a page link sent with POST."""


# -- streams ---------------------------------------------------------------------------


class ProProfsTicketsStream(HelpdeskStream):
    """Tickets: POST /app/api/v1/list/ticket/, by last-modified window and page link."""

    provider = "proprofs"
    provider_label = LABEL
    credential_settings = ("account_email", "token")
    name = "proprofs_tickets"
    path = "/app/api/v1/list/ticket/"  # case-sensitive, with its trailing slash
    http_method = "POST"
    # A 307/308 would re-send the body, token included, wherever it points.
    allow_redirects = False
    primary_keys = ("ticket_id",)
    replication_key = "modified_date_time"
    # Pages come in an undocumented order, but the bookmark only moves once a window is
    # complete (commit_bookmark), so the state is resumable at every STATE message.
    is_sorted = True
    schema = load_schema("proprofs_tickets")
    timestamp_fields = ("created_date_time", "modified_date_time", "ticket_due_date")

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.walk: TicketWalk | None = None
        self.link_method = "POST"
        self.page_token: PageToken | None = None
        self.messages: list[dict[str, t.Any]] = []
        self.pages_read = 0
        self._max_modified: str | None = None
        self._committed: str | None = None
        self._unknown_deleted: set[str] = set()
        self._zone_warned = False
        self._range_warned = False
        self._future = ""

    # -- the walk ----------------------------------------------------------------------

    def plan_walk(self, context: Context | None) -> TicketWalk:
        """Windows from the bookmark (minus lookback) or start_date to a few seconds ago."""
        zone = self.zone
        start = self.sync_start(context).astimezone(zone).replace(tzinfo=None, microsecond=0)
        now = local_now(zone) - END_MARGIN
        end_setting = self.sync_end()
        end = now
        if end_setting is not None:
            end = min(end_setting.astimezone(zone).replace(tzinfo=None, microsecond=0), now)
        # Tickets modified while we read leave their window for the range after `end`.
        tail_from = max(start, end) if end_setting is None or end >= now else None
        windows = three_month_windows(start, end)
        return TicketWalk(
            LABEL,
            [(window, 0) for window in reversed(windows)],
            tail_from,
            clock=lambda: local_now(zone),
            log=self.logger.warning,
        )

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        self.walk = self.plan_walk(context)
        if self.walk.pending or self.walk.tail_from is not None:
            yield from super().get_records(context)

    @override
    def get_new_paginator(self) -> WindowPaginator:
        assert self.walk is not None
        return WindowPaginator(self.walk)

    # -- requests ----------------------------------------------------------------------

    def request_body(self, token: PageToken) -> dict[str, t.Any]:
        """Credentials and the last-modified range, as JSON (never logged)."""
        part = token.part
        body: dict[str, t.Any] = {
            "account_email": self.provider_config["account_email"],
            "token": self.provider_config["token"],
            "start_last_modified_date": part.start.strftime(DATE_FORMAT),
        }
        if part.end is not None:
            body["end_last_modified_date"] = part.end.strftime(DATE_FORMAT)
        if part.low_id is not None:
            body["start_ticket_id"] = part.low_id
        if part.high_id is not None:
            body["end_ticket_id"] = part.high_id
        return body

    @override
    def get_http_request(self, *, page: PageContext) -> HTTPRequest:
        token = page.next_page_token
        if not isinstance(token, PageToken):  # pragma: no cover - the walk always has one
            raise TypeError(token)
        self.page_token = token
        # A page link is resolved against our own api_url: only its query (`page=2`) is
        # used, so the token is never sent to another host.
        url = self.get_url(page.stream_context) + (f"?{token.link}" if token.link else "")
        headers = {**self.http_headers, "Content-Type": "application/json"}
        method = self.link_method if token.link else "POST"
        return HTTPRequest(url=url, method=method, headers=headers, data=self.request_body(token))

    @override
    def validate_response(self, response: requests.Response) -> None:
        request = response.request
        if response.status_code == 405 and request.method == "POST" and urlsplit(request.url).query:
            raise LinkMethodRefused
        if 300 <= response.status_code < 400:
            raise ProviderError(
                LABEL,
                f"HTTP {response.status_code} redirect from {urlsplit(response.url).path} to "
                f"{response.headers.get('Location', '(no location)')}: check proprofs.api_url "
                "(the ticket list URL is case-sensitive and ends with a slash)",
            )
        super().validate_response(response)

    @override
    def request_decorator(self, func: Callable[..., requests.Response]) -> Callable[..., t.Any]:
        send = super().request_decorator(func)

        def send_falling_back_to_get(
            prepared: requests.PreparedRequest, context: Context | None
        ) -> requests.Response:
            # Whether page links take POST is not documented: POST the same body first,
            # and if the server refuses the method, GET them (same body) from then on.
            try:
                return send(prepared, context)
            except LinkMethodRefused:
                self.link_method = "GET"
                self.logger.info("%s: page links refuse POST (HTTP 405); using GET", LABEL)
                retry = prepared.copy()
                retry.method = "GET"
                return send(retry, context)

        return send_falling_back_to_get

    # -- responses ---------------------------------------------------------------------

    def ticket_data(self, body: t.Any, token: PageToken) -> dict[str, t.Any]:
        """`ticket_data` of a success, or one clear line for the error envelope."""
        if not isinstance(body, dict):
            raise ProviderError(
                LABEL, f"expected a JSON object from {self.path}; check proprofs.api_url"
            )
        status = str(body.get("status") or "").lower()
        if status != "success" and ("description" in body or status == "error"):
            description = " ".join(str(body.get("description") or "no description").split())
            if _EMPTY_RESULT.search(description):
                return {}
            if _CREDENTIAL_WORDS.search(description):
                raise ProviderError(
                    LABEL, f"{description}: check proprofs.account_email and proprofs.token"
                )
            raise ProviderError(
                LABEL, f"{description} (tickets last modified {token.part.describe()}, {self.zone})"
            )
        data = body.get("ticket_data")
        if data in (None, "", [], {}):
            return {}
        if not isinstance(data, dict):
            raise ProviderError(
                LABEL, f"expected ticket_data to be an object, got {type(data).__name__}"
            )
        return data

    @override
    def parse_response(self, response: requests.Response) -> Iterator[dict[str, t.Any]]:
        token = t.cast("PageToken", self.page_token)
        data = self.ticket_data(self.decode_json(response), token)
        tickets = data.get("tickets") or []
        if not isinstance(tickets, list) or not all(isinstance(r, dict) for r in tickets):
            raise ProviderError(
                LABEL, f"expected ticket_data.tickets to be a list of objects from {self.path}"
            )
        total = _integer(data.get("total_tickets"))
        self.check_range(token.part, tickets)
        # ISO 8601 UTC text compares as time: check_zone looks closer only past this
        self._future = utc_iso(datetime.now(timezone.utc).replace(microsecond=0) + ZONE_SLACK)
        assert self.walk is not None
        fresh = self.walk.take_page(token, total, str(data.get("next_page_link") or ""), tickets)
        self.pages_read += 1
        if self.messages_selected:
            self.messages.extend(message_rows(fresh))
        yield from fresh
        # Every ticket of the page is written by now: a completed window moves the bookmark.
        if self.walk.completed is not None:
            self.commit_bookmark(self.walk.completed)
            self.walk.completed = None

    # -- bookmarks ---------------------------------------------------------------------

    @override
    def _increment_stream_state(
        self,
        latest_record: dict[str, t.Any],
        *,
        context: Context | None = None,
    ) -> None:
        # Records come in the server's order; the bookmark moves in commit_bookmark only.
        value = latest_record.get(self.replication_key or "")
        if isinstance(value, str) and (self._max_modified is None or value > self._max_modified):
            self._max_modified = value

    def commit_bookmark(self, edge: datetime) -> None:
        """Everything modified up to `edge` (naive account-zone time) has been written."""
        value = self._max_modified
        if value is None:
            return
        if edge is not EVERYTHING:
            value = min(value, utc_iso(edge.replace(tzinfo=self.zone)))
        if self._committed is not None and value <= self._committed:
            return
        self._committed = value
        super()._increment_stream_state({self.replication_key: value}, context=None)
        self._write_state_message()

    # -- records -----------------------------------------------------------------------

    @property
    def messages_selected(self) -> bool:
        """Whether the messages stream wants this run's messages."""
        return any(child.selected for child in self.child_streams)

    @override
    def post_process(
        self,
        row: dict[str, t.Any],
        context: Context | None = None,
    ) -> dict[str, t.Any] | None:
        row["ticket_id"] = str(row.get("ticket_id"))
        row["deleted"] = self.deleted_flag(row)
        for key in ("custom_fields", "labels"):
            row[key] = as_list(row.get(key))
        for key in ("staff", "inbox"):
            row[key] = as_object(row.get(key))
        messages = row.get("messages")
        if isinstance(messages, list):
            convert = self.convert_time
            for message in messages:
                if isinstance(message, dict):
                    created = message.get("created")
                    message["created"] = convert(created) if isinstance(created, str) else None
                    message["reply_by"] = as_object(message.get("reply_by"))
        row = self.normalise_timestamps(row)
        self.check_zone(row)
        return row

    def check_range(self, part: Slice, tickets: list[dict[str, t.Any]]) -> None:
        """Warn once when an answer holds tickets outside the range asked for."""
        if self._range_warned:
            return
        start = part.start.strftime(DATE_FORMAT)
        end = part.end.strftime(DATE_FORMAT) if part.end is not None else None
        for ticket in tickets:
            modified = local_second(ticket.get("modified_date_time"))
            if modified and (modified < start or (end is not None and modified > end)):
                self._range_warned = True
                self.logger.warning(
                    "%s: asked for tickets modified %s, got ticket %s modified %s: the API "
                    "may not filter on end_last_modified_date as its sample request says",
                    LABEL,
                    part.describe(),
                    ticket.get("ticket_id"),
                    ticket.get("modified_date_time"),
                )
                return

    def check_zone(self, row: dict[str, t.Any]) -> None:
        """Warn once when a ticket seems modified in the future: the zone setting is off."""
        modified = row.get("modified_date_time")
        if self._zone_warned or not isinstance(modified, str) or modified <= self._future:
            return
        ahead = datetime.fromisoformat(modified) - datetime.now(timezone.utc)
        if ahead > ZONE_SLACK:
            self._zone_warned = True
            self.logger.warning(
                "%s: ticket %s was last modified %s, %.1f hours from now: is proprofs.timezone "
                "(%s) the account's time zone?",
                LABEL,
                row.get("ticket_id"),
                modified,
                ahead.total_seconds() / 3600,
                self.zone,
            )

    def deleted_flag(self, row: dict[str, t.Any]) -> bool | None:
        """`deleted` as a boolean; an unrecognised value is reported once and emitted as null."""
        value = row.get("deleted")
        flag = as_bool(value)
        if flag is None and value not in (None, "") and str(value) not in self._unknown_deleted:
            self._unknown_deleted.add(str(value))
            self.logger.warning(
                '%s: ticket %s has deleted=%r (expected "0" or "1"); emitted as null',
                LABEL,
                row.get("ticket_id"),
                value,
            )
        return flag

    @override
    def generate_child_contexts(
        self,
        record: dict[str, t.Any],
        context: Context | None,
    ) -> Iterable[dict[str, t.Any] | None]:
        # Messages come nested in the page: one hand-over per page, no requests of their own.
        if self.messages:
            yield {"tickets_page": self.pages_read}


def message_rows(tickets: list[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
    """Each nested message as its own row, keyed by ticket_id and position (1 = first)."""
    rows = []
    for ticket in tickets:
        messages = ticket.get("messages")
        if not isinstance(messages, list):
            continue
        for position, message in enumerate(messages, start=1):
            if isinstance(message, dict):
                rows.append(
                    {"ticket_id": str(ticket.get("ticket_id")), "position": position, **message}
                )
    return rows


def _integer(value: t.Any) -> int | None:
    """total_tickets is a string in the API ("1")."""
    try:
        return int(str(value).strip())
    except ValueError:
        return None


class ProProfsTicketMessagesStream(PageFedStream):
    """Messages nested in the ticket pages; no requests of their own."""

    name = "proprofs_ticket_messages"
    parent_stream_type = ProProfsTicketsStream
    primary_keys = ("ticket_id", "position")
    schema = load_schema("proprofs_ticket_messages")

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        parent = t.cast("ProProfsTicketsStream", self.parent)
        rows, parent.messages = parent.messages, []
        for row in rows:
            if isinstance(row.get("created"), str):
                row["created"] = parent.convert_time(row["created"])
            row["reply_by"] = as_object(row.get("reply_by"))
            yield row


STREAMS: tuple[type[t.Any], ...] = (ProProfsTicketsStream, ProProfsTicketMessagesStream)
