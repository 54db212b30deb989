"""Teamwork Desk tickets and the entities sideloaded with them.

Docs: provider-docs/teamwork-desk-tickets.txt; provider-notes.md section 3.
GET {api_url}/desk/api/v2/tickets.json with `filter={"updatedAt":{"$gte":...}}`,
`orderBy=updatedAt&orderMode=asc`, `pageSize` (the API silently clamps it to 100) and
`page`; the end is told by `meta.page.hasMore` / `pagination.hasMorePages`, never by
comparing a page with the size we asked for. `includes=` makes the API return related
objects under `included`: they become their own streams, with no extra requests; a kind is
asked for only while its stream is selected (messages, the heaviest, included).

Tickets nobody sees by default are asked for too: the list filter names every `state`
(active, scheduled, merged, deleted; provider-notes section 3), so deleted tickets reach
the warehouse flagged by `state`; and, with `include_archived` (default on), a second
keyset walk (read first) passes `archived=true`: solved and closed tickets are archived
after 120 days without activity and the list may leave them out. That walk keeps its own
bookmark (ARCHIVED_VALUE in the stream's state): a run stopped in either walk resumes both.
"""

from __future__ import annotations

import json
import sys
import typing as t
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

from singer_sdk import typing as th

from tap_helpdesk import settings
from tap_helpdesk.check import Probe
from tap_helpdesk.client import HelpdeskStream, PageFedStream, all_objects
from tap_helpdesk.errors import ProviderError, UnreadableValue
from tap_helpdesk.paging import KeysetToken, KeysetWalk, later
from tap_helpdesk.providers import Provider
from tap_helpdesk.schemas import stream_schema
from tap_helpdesk.sequence import WalksInTurn
from tap_helpdesk.timestamps import parse_datetime, to_utc, utc_iso
from tap_helpdesk.values import record_error
from tap_helpdesk.walk import Step

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override

if t.TYPE_CHECKING:
    from collections.abc import Generator, Iterable

    import requests
    from singer_sdk.helpers.types import Context

LABEL = "Teamwork Desk"
PROBE_ROWS = 20
PAGE_SIZE = 100  # list endpoints clamp larger values to 100 (provider-notes section 3)
TIMESTAMPS = ("createdAt", "updatedAt", "deletedAt", "archivedAt", "happinessSurveySentAt")
#: times of the sideloaded objects (a message's viewedByCustomerAt besides the common ones)
SIDELOAD_TIMESTAMPS = (*TIMESTAMPS, "viewedByCustomerAt")
#: every ticket state: the list's filter names them all, or it may show active ones only
STATES = ("active", "scheduled", "merged", "deleted")
#: the stream's own state keys for the archived walk's bookmark (the replication key
#: holds the walk over the tickets the list shows without `archived=true`)
ARCHIVED_KEY = "archived_key"
ARCHIVED_VALUE = "archived_value"


@dataclass(frozen=True)
class ArchivedMark:
    """A bookmark of the archived walk: committed to ARCHIVED_VALUE, not the replication key."""

    value: str


def _archived_mark(value: str) -> ArchivedMark | None:
    """The archived walk's bookmark for a key value (None when it is no time)."""
    text = to_utc(value)
    return None if text is None else ArchivedMark(text)


def _z(moment: datetime) -> str:
    """A moment as the API's filters take it: RFC 3339 UTC with `Z`."""
    return utc_iso(moment).replace("+00:00", "Z")


def _has_more(body: dict[str, t.Any]) -> bool:
    meta_page = (body.get("meta") or {}).get("page") or {}
    pagination = body.get("pagination") or {}
    return bool(meta_page.get("hasMore") or pagination.get("hasMorePages"))


class SideloadBuffer:
    """Related objects of the current page, each id emitted once per run."""

    def __init__(self) -> None:
        """Nothing queued, nothing emitted yet."""
        self._pending: dict[str, list[dict[str, t.Any]]] = {}
        self._seen: dict[str, set[t.Any]] = {}

    def add(self, included: dict[str, t.Any]) -> None:
        """Queue the objects of one page that were not emitted before."""
        for key, objects in included.items():
            if not isinstance(objects, list):
                continue
            seen = self._seen.setdefault(key, set())
            pending = self._pending.setdefault(key, [])
            for obj in objects:
                if isinstance(obj, dict) and obj.get("id") not in seen:
                    seen.add(obj.get("id"))
                    pending.append(obj)

    @property
    def has_pending(self) -> bool:
        """Whether a page brought objects not yet handed to their streams."""
        return any(self._pending.values())

    def drain(self, key: str) -> list[dict[str, t.Any]]:
        """Hand over (and forget) the queued objects of one kind."""
        return self._pending.pop(key, [])


class TicketWalks(WalksInTurn):
    """The archived walk, then the walk over the list as it shows by default.

    Their answers are compared within a walk only: where `archived=true` adds nothing the
    list left out (no archived ticket changed, or the API ignores it) both walks' first
    pages hold the same rows, and that is no sign of a server stuck on one page.
    """

    def __init__(self, walks: list[KeysetWalk], archived: KeysetWalk | None) -> None:
        """Read `walks` in turn; `archived` is the one of them with `archived=true`."""
        super().__init__(*walks)
        self.archived = archived

    @override
    def read(
        self, token: tuple[int, KeysetToken], response: requests.Response
    ) -> Generator[dict[str, t.Any], None, Step]:
        step = yield from super().read(token, response)
        if step.fingerprint is None:
            return step
        return replace(step, fingerprint=(token[0], step.fingerprint))

    @override
    def describe(self, token: tuple[int, KeysetToken]) -> str:
        text = super().describe(token)
        return f"archived tickets, {text}" if self.walks[token[0]] is self.archived else text


class TeamworkDeskTicketsStream(HelpdeskStream):
    """Tickets: GET /desk/api/v2/tickets.json, walked by updatedAt."""

    name = "teamwork_desk_tickets"
    path = "/desk/api/v2/tickets.json"
    primary_keys = ("id",)
    replication_key = "updatedAt"
    bearer_token_setting = "api_key"  # noqa: S105 (the setting's name, not a secret)
    is_sorted = True
    schema = stream_schema()
    timestamp_fields = TIMESTAMPS
    STATE_MSG_FREQUENCY = PAGE_SIZE

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """The SDK's stream, with a walk over the list until a run plans its own."""
        super().__init__(*args, **kwargs)
        #: this run's walks: (include_archived) the archived tickets, then those the list shows
        self.walks: list[KeysetWalk] = [self._keyset(None, to_utc)]
        self.archived_walk: KeysetWalk | None = None
        self.sideloads = SideloadBuffer()
        self.pages_read = 0

    @override
    def new_walk(self, context: Context | None) -> TicketWalks:
        # Archived first: a ticket changed while the run goes on leaves the archive (it is
        # active again) for the list the second walk reads to its end, so each ticket is
        # read in its newest form whichever walk it was in.
        self.walks = [self._keyset(_z(self.sync_start(context)), to_utc)]
        self.archived_walk = None
        if self.provider_config.get("include_archived", True):
            start = _z(self.archived_start(context))
            self.archived_walk = self._keyset(start, _archived_mark)
            self.walks.insert(0, self.archived_walk)
        return TicketWalks(self.walks, self.archived_walk)

    def _keyset(self, start: str | None, to_bookmark: t.Callable[[str], t.Any]) -> KeysetWalk:
        return KeysetWalk(
            self.provider_label,
            "updatedAt",
            start,
            page_size=PAGE_SIZE,
            parse=self.page_rows,
            to_bookmark=to_bookmark,
            ceiling=_z(datetime.now(timezone.utc).replace(microsecond=0)),
            stream=self.name,
        )

    def archived_start(self, context: Context | None) -> datetime:
        """Where the archived walk starts: its bookmark minus lookback_days, or start_date."""
        floor = self.config_start_date()
        value = self.get_context_state(context).get(ARCHIVED_VALUE)
        if not value:
            return floor
        try:
            moment = parse_datetime(str(value), timezone.utc)
        except (TypeError, ValueError):
            raise ProviderError(
                self.provider_label,
                f"the state's {ARCHIVED_VALUE} of {self.name}, {value!r}, is not a timestamp: "
                f"fix the state file or clear it (meltano state clear <state id> {self.name})",
            ) from None
        lookback = timedelta(days=float(self.config.get("lookback_days") or 0))
        return max(moment - lookback, floor)

    @override
    def commit_bookmark(self, value: t.Any, context: Context | None = None) -> None:
        if not isinstance(value, ArchivedMark):
            super().commit_bookmark(value, context)
            return
        state = self.get_context_state(context)
        current = state.get(ARCHIVED_VALUE)
        if current is not None and not later(value.value, str(current)):
            return  # never back (the lookback re-reads older ones)
        state[ARCHIVED_KEY] = self.replication_key
        state[ARCHIVED_VALUE] = value.value
        self.state_manager.is_flushed = False
        self._write_state_message()

    def requested_includes(self) -> list[str]:
        """Sideloads to ask for: those whose stream is selected."""
        return [
            child.included_key
            for child in self.child_streams
            if isinstance(child, TeamworkSideloadStream) and child.selected
        ]

    @override
    def get_url_params(
        self,
        context: Context | None,
        next_page_token: tuple[int, KeysetToken] | KeysetToken | None,
    ) -> dict[str, t.Any]:
        if isinstance(next_page_token, tuple):
            index, token = next_page_token
        else:
            index, token = 0, next_page_token or KeysetToken(None)
        walk = self.walks[index]
        bounds: dict[str, str] = {}
        if token.cursor:
            bounds["$gte"] = token.cursor
        end = self.sync_end()
        upper = [utc_iso(end).replace("+00:00", "Z")] if end is not None else []
        if token.until:
            upper.append(token.until)
        if upper:
            bounds["$lte"] = min(upper)
        params: dict[str, t.Any] = {
            "orderBy": "updatedAt",
            "orderMode": "asc",
            "pageSize": PAGE_SIZE,
            "page": 1 + token.offset // max(walk.page.size, 1),
        }
        query: dict[str, t.Any] = {"updatedAt": bounds} if bounds else {}
        query["state"] = {"$in": list(STATES)}
        params["filter"] = json.dumps(query, separators=(",", ":"))
        if walk is self.archived_walk:
            params["archived"] = "true"
        includes = self.requested_includes()
        if includes:
            params["includes"] = ",".join(includes)
        return params

    @override
    def probe(self) -> Probe:
        # The newest tickets first; times carry `Z`, so the zone needs no check.
        params = self.get_url_params(None, KeysetToken(None))
        params.update(pageSize=PROBE_ROWS, orderMode="desc", page=1)
        params.pop("includes", None)
        probe = self.probe_request(params)
        probe.rows = self.page_rows(probe.response)[0]
        probe.asked, probe.order_field, probe.descending = PROBE_ROWS, "updatedAt", True
        probe.time_field, probe.naive_times = "updatedAt", False
        return probe

    def page_rows(self, response: requests.Response) -> tuple[list[dict[str, t.Any]], bool]:
        """The tickets of one page and its has-more marker; its sideloads are queued."""
        body = self.decode_json(response)
        tickets = body.get("tickets") if isinstance(body, dict) else None
        if not isinstance(tickets, list) or not all_objects(tickets):
            raise ProviderError(
                self.provider_label,
                f"expected an object with a 'tickets' list of objects from {self.path}; "
                f"check {self.provider}.api_url",
            )
        self.sideloads.add(self.checked_included(body))
        self.pages_read += 1
        return body["tickets"], _has_more(body)

    def checked_included(self, body: dict[str, t.Any]) -> dict[str, t.Any]:
        """The page's `included`, each kind asked for a list of objects with an id.

        One clear line otherwise: a sideload is never dropped in silence.
        """
        included = body.get("included") or {}
        if not isinstance(included, dict):
            raise ProviderError(self.provider_label, f"'included' of {self.path} is not an object")
        for key in self.requested_includes():
            objects = included.get(key)
            if objects is None:
                continue  # a page whose tickets have none of that kind
            if not isinstance(objects, list):
                raise ProviderError(
                    self.provider_label, f"included.{key} of {self.path} is not a list"
                )
            if any(not isinstance(obj, dict) or obj.get("id") is None for obj in objects):
                raise ProviderError(
                    self.provider_label,
                    f"included.{key} of {self.path} holds an entry without an id",
                )
        return included

    @override
    def generate_child_contexts(
        self,
        record: dict[str, t.Any],
        context: Context | None,
    ) -> Iterable[dict[str, t.Any] | None]:
        # Children are fed from the page's `included`, not per ticket: one hand-over per page.
        if self.sideloads.has_pending:
            yield {"sideload_page": self.pages_read}


class TeamworkSideloadStream(PageFedStream):
    """Objects from `included` of the ticket pages; no requests of their own."""

    parent_stream_type = TeamworkDeskTicketsStream
    primary_keys = ("id",)
    included_key: t.ClassVar[str]

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        parent = self._tap.streams[TeamworkDeskTicketsStream.name]
        if not isinstance(parent, TeamworkDeskTicketsStream):
            raise TypeError(f"{self.name}: its parent is not the Teamwork Desk tickets stream")
        for obj in parent.sideloads.drain(self.included_key):
            try:
                parent.convert_time.convert_fields(obj, SIDELOAD_TIMESTAMPS)
            except UnreadableValue as problem:
                raise record_error(LABEL, self.name, obj, self.primary_keys, problem) from None
            yield obj


def _sideload(stream_name: str, key: str) -> type[TeamworkSideloadStream]:
    return type(
        f"TeamworkDesk{stream_name.title()}Stream",
        (TeamworkSideloadStream,),
        {
            "name": f"teamwork_desk_{stream_name}",
            "included_key": key,
            "schema": stream_schema(),
            "__doc__": f"Teamwork Desk {stream_name}, from `included.{key}` of ticket pages.",
        },
    )


SIDELOADS: dict[str, str] = {
    "customers": "customers",
    "users": "users",
    "inboxes": "inboxes",
    "companies": "companies",
    "tags": "tags",
    "statuses": "ticketstatuses",
    "priorities": "ticketpriorities",
    "types": "tickettypes",
    "sources": "ticketsources",
    # each ticket's thread: threadType message / forward / note / eventInfo, as sent
    "messages": "messages",
}

STREAMS: tuple[type[t.Any], ...] = (
    TeamworkDeskTicketsStream,
    *(_sideload(name, key) for name, key in SIDELOADS.items()),
)

SETTINGS = th.ObjectType(
    th.Property(
        "api_key",
        th.StringType,
        secret=True,
        title="API key",
        description="Teamwork Desk API key (profile > API keys), sent as a Bearer token.",
    ),
    settings.api_url(None, "https://acme.teamwork.com (EU: https://acme.eu.teamwork.com)"),
    th.Property(
        "include_archived",
        th.BooleanType,
        default=True,
        title="Include archived tickets",
        description="Also walk the tickets listed only with archived=true (solved and "
        "closed tickets are archived after 120 days without activity), with a bookmark of "
        "its own: one more request per 100 archived tickets changed since the last run.",
    ),
    *settings.rate_settings(None, 120, "Teamwork Desk documents 120 requests per minute."),
    settings.concurrency(
        1,
        "One at a time already reaches the 120/min budget at 250 ms an answer; above 1 "
        "the updatedAt range is read in sub-ranges side by side, for slower answers.",
    ),
)

PROVIDER = Provider("teamwork_desk", LABEL, SETTINGS, ("api_key", "api_url"), STREAMS)
