"""Orbit Desk: a simple offset-paged JSON list API (an imagined provider).

GET {api_url}/api/tickets?updated_since=...&offset=..&limit=.. with a bearer token
answers {"tickets": [...], "total": N}, ordered by id: a ticket updated mid-sync keeps its
place, so offset paging loses nothing, and `total` bounds the walk.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass
from datetime import timezone

from singer_sdk import typing as th

from tap_helpdesk import settings
from tap_helpdesk.client import HelpdeskStream
from tap_helpdesk.errors import ProviderError
from tap_helpdesk.providers import Provider
from tap_helpdesk.timestamps import utc_iso
from tap_helpdesk.walk import Step, Walk, page_fingerprint

if t.TYPE_CHECKING:
    from collections.abc import Generator, Hashable

    import requests

LABEL = "Orbit Desk"
PAGE_SIZE = 50  # documented maximum


@dataclass(frozen=True)
class Page:
    """One request: tickets updated since `since`, from `offset` on."""

    since: str
    offset: int


class OffsetWalk(Walk[Page]):
    """Pages of the list until `total` is reached; the bookmark is the latest update seen."""

    def __init__(self, since: str, parse: t.Callable[[requests.Response], dict[str, t.Any]]):
        self.since = since
        self.parse = parse
        self.next: Page | None = Page(since, 0)
        self.total: int | None = None
        self.latest: str | None = None

    def ready(self) -> list[Page]:
        return [self.next] if self.next else []

    def identity(self, token: Page) -> Hashable:
        return token.offset

    def describe(self, token: Page) -> str:
        return f"tickets updated since {token.since} from offset {token.offset}"

    def request_limit(self) -> int | None:
        return None if self.total is None else -(-self.total // PAGE_SIZE) + 1

    def read(self, token: Page, response: requests.Response) -> Generator[dict, None, Step]:
        body = self.parse(response)
        rows, self.total = body["tickets"], int(body["total"])
        yield from rows
        for row in rows:
            if row.get("updatedAt") and (self.latest is None or row["updatedAt"] > self.latest):
                self.latest = row["updatedAt"]
        offset = token.offset + len(rows)
        self.next = Page(token.since, offset) if rows and offset < self.total else None
        return Step(
            rows=len(rows),
            new=len(rows),
            bookmark=self.latest if self.next is None else None,  # pages are by id
            fingerprint=page_fingerprint(rows, "id"),
        )


class OrbitTicketsStream(HelpdeskStream):
    """Tickets: GET /api/tickets."""

    name = "orbit_tickets"
    path = "/api/tickets"
    primary_keys = ("id",)
    replication_key = "updatedAt"
    schema = th.PropertiesList(
        th.Property("id", th.IntegerType, required=True),
        th.Property("subject", th.StringType),
        th.Property("status", th.StringType),
        th.Property("createdAt", th.DateTimeType),
        th.Property("updatedAt", th.DateTimeType),
    ).to_dict()
    timestamp_fields = ("createdAt", "updatedAt")

    @property
    def http_headers(self) -> dict[str, str]:
        return {
            **super().http_headers,
            "Authorization": f"Bearer {self.provider_config['api_token']}",
        }

    def new_walk(self, context: t.Any) -> OffsetWalk:
        since = utc_iso(self.sync_start(context).astimezone(timezone.utc))
        return OffsetWalk(since, self.page_body)

    def get_url_params(self, context: t.Any, next_page_token: Page | None) -> dict[str, t.Any]:
        assert next_page_token is not None
        return {
            "updated_since": next_page_token.since,
            "offset": next_page_token.offset,
            "limit": PAGE_SIZE,
        }

    def page_body(self, response: requests.Response) -> dict[str, t.Any]:
        body = self.decode_json(response)
        if not isinstance(body, dict) or not isinstance(body.get("tickets"), list):
            raise ProviderError(LABEL, f"expected {{'tickets': [...]}} from {self.path}")
        return body


SETTINGS = th.ObjectType(
    th.Property("api_token", th.StringType, secret=True, title="API token"),
    settings.api_url(None, "https://orbit.example"),
    *settings.rate_settings(10, 600, "Orbit Desk publishes no limit."),
    settings.concurrency(1, "Its pages are read one after another."),
)

PROVIDER = Provider("orbit", LABEL, SETTINGS, ("api_token", "api_url"), (OrbitTicketsStream,))
