"""Teamwork Desk tickets and the entities sideloaded with them.

Docs: provider-docs/teamwork-desk-tickets.txt; provider-notes.md section 3.
GET {api_url}/desk/api/v2/tickets.json with `filter={"updatedAt":{"$gte":...}}`,
`orderBy=updatedAt&orderMode=asc`, `pageSize` (the API silently clamps it to 100) and
`page`; the end is told by `meta.page.hasMore` / `pagination.hasMorePages`, never by
comparing a page with the size we asked for. `includes=` makes the API return related
objects under `included`: they become their own streams, with no extra requests.
"""

from __future__ import annotations

import json
import sys
import typing as t
from datetime import datetime, timezone

from singer_sdk import typing as th

from tap_helpdesk import settings
from tap_helpdesk.check import Probe
from tap_helpdesk.client import HelpdeskStream, PageFedStream
from tap_helpdesk.errors import ProviderError
from tap_helpdesk.paging import KeysetToken, KeysetWalk
from tap_helpdesk.providers import Provider
from tap_helpdesk.schemas import stream_schema
from tap_helpdesk.timestamps import to_utc, utc_iso

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    import requests
    from singer_sdk.helpers.types import Context

LABEL = "Teamwork Desk"
PROBE_ROWS = 20
PAGE_SIZE = 100  # list endpoints clamp larger values to 100 (provider-notes section 3)
TIMESTAMPS = ("createdAt", "updatedAt", "deletedAt", "archivedAt", "happinessSurveySentAt")


def _has_more(body: dict[str, t.Any]) -> bool:
    meta_page = (body.get("meta") or {}).get("page") or {}
    pagination = body.get("pagination") or {}
    return bool(meta_page.get("hasMore") or pagination.get("hasMorePages"))


class SideloadBuffer:
    """Related objects of the current page, each id emitted once per run."""

    def __init__(self) -> None:
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


class TeamworkDeskTicketsStream(HelpdeskStream):
    """Tickets: GET /desk/api/v2/tickets.json, walked by updatedAt."""

    name = "teamwork_desk_tickets"
    path = "/desk/api/v2/tickets.json"
    primary_keys = ("id",)
    replication_key = "updatedAt"
    bearer_token_setting = "api_key"
    is_sorted = True
    schema = stream_schema()
    timestamp_fields = TIMESTAMPS
    STATE_MSG_FREQUENCY = PAGE_SIZE

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.walk = KeysetWalk(self.provider_label, "updatedAt", None, page_size=PAGE_SIZE)
        self.sideloads = SideloadBuffer()

    @override
    def new_walk(self, context: Context | None) -> KeysetWalk:
        start = utc_iso(self.sync_start(context)).replace("+00:00", "Z")
        self.walk = KeysetWalk(
            self.provider_label,
            "updatedAt",
            start,
            page_size=PAGE_SIZE,
            parse=self.page_rows,
            to_bookmark=to_utc,
            ceiling=utc_iso(datetime.now(timezone.utc).replace(microsecond=0)).replace(
                "+00:00", "Z"
            ),
        )
        return self.walk

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
        next_page_token: KeysetToken | None,
    ) -> dict[str, t.Any]:
        token = next_page_token or KeysetToken(None)
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
            "page": 1 + token.offset // max(self.walk.page.size, 1),
        }
        if bounds:
            params["filter"] = json.dumps({"updatedAt": bounds}, separators=(",", ":"))
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
        if not isinstance(body, dict) or not isinstance(body.get("tickets"), list):
            raise ProviderError(
                self.provider_label,
                f"expected an object with a 'tickets' list from {self.path}; "
                f"check {self.provider}.api_url",
            )
        self.sideloads.add(body.get("included") or {})
        return body["tickets"], _has_more(body)

    @override
    def generate_child_contexts(
        self,
        record: dict[str, t.Any],
        context: Context | None,
    ) -> Iterable[dict[str, t.Any] | None]:
        # Children are fed from the page's `included`, not per ticket: one hand-over per page.
        if self.sideloads.has_pending:
            yield {"sideload_page": self.walk.page.last_key}


class TeamworkSideloadStream(PageFedStream):
    """Objects from `included` of the ticket pages; no requests of their own."""

    parent_stream_type = TeamworkDeskTicketsStream
    primary_keys = ("id",)
    included_key: t.ClassVar[str]

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        parent = self._tap.streams[TeamworkDeskTicketsStream.name]
        assert isinstance(parent, TeamworkDeskTicketsStream)
        for obj in parent.sideloads.drain(self.included_key):
            for field in TIMESTAMPS:
                value = obj.get(field)
                if isinstance(value, str):
                    obj[field] = to_utc(value)
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
    *settings.rate_settings(None, 120, "Teamwork Desk documents 120 requests per minute."),
    settings.concurrency(1, "Its keyset walk is sequential."),
)

PROVIDER = Provider("teamwork_desk", LABEL, SETTINGS, ("api_key", "api_url"), STREAMS)
