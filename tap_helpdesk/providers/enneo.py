"""Enneo (enneo.MIND) ticket exports.

Docs: provider-docs/enneo-ticket-export.txt; provider-notes.md section 5.
GET {api_url}/api/mind/export/{ticket|reporting_tickets}?format=json&limit=..&offset=..
returns a bare JSON array; there is no total and no next marker, so a short page is
confirmed by one more request before the walk ends (tap_helpdesk.paging). Timestamps
are naive (`2024-05-12 09:00:00`) in an undocumented zone: they are read in
`enneo.timezone`.
"""

from __future__ import annotations

import sys
import typing as t
from datetime import datetime, timezone

import msgspec
from singer_sdk import typing as th

from tap_helpdesk import settings
from tap_helpdesk.check import Probe
from tap_helpdesk.client import HelpdeskStream, parse_records
from tap_helpdesk.paging import KeysetToken, KeysetWalk
from tap_helpdesk.providers import Provider
from tap_helpdesk.schemas import stream_schema
from tap_helpdesk.timestamps import in_zone_naive, to_utc

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context

LABEL = "Enneo"
PAGE_SIZE = 1000  # documented maximum: 1 <= limit <= 1000
PROBE_ROWS = 20
_raw_decoder = msgspec.json.Decoder()


def parse_raw_data(value: t.Any) -> dict[str, t.Any] | None:
    """rawData is the ticket payload as a JSON string: parse it into an object.

    A value that is not a JSON object is kept verbatim under `_raw`, so the column stays
    an object for every record.
    """
    if value is None or value == "":
        return None
    if isinstance(value, dict):
        return value
    if isinstance(value, str):
        try:
            parsed = _raw_decoder.decode(value)
        except msgspec.DecodeError:
            return {"_raw": value}
        return parsed if isinstance(parsed, dict) else {"_raw": value}
    return {"_raw": value}


class EnneoExportStream(HelpdeskStream):
    """An Enneo export endpoint, walked by modification time (see tap_helpdesk.paging)."""

    primary_keys = ("id",)
    replication_key = "modifiedAt"
    bearer_token_setting = "api_token"
    is_sorted = True
    STATE_MSG_FREQUENCY = PAGE_SIZE

    #: Filter/order key of the modification time (`t.modifiedAt` on /export/ticket).
    modified_key: t.ClassVar[str]

    @override
    def new_walk(self, context: Context | None) -> KeysetWalk:
        start = in_zone_naive(self.sync_start(context), self.zone)
        return KeysetWalk(
            self.provider_label,
            "modifiedAt",
            start,
            page_size=PAGE_SIZE,
            parse=self.page_rows,
            to_bookmark=lambda value: to_utc(value, self.zone),
            ceiling=in_zone_naive(datetime.now(timezone.utc), self.zone),
        )

    @override
    def probe(self) -> Probe:
        # The newest tickets first: their order, and the newest time against the clock.
        params = self.get_url_params(None, KeysetToken(None))
        params.update(limit=PROBE_ROWS, orderByDirection="desc")
        probe = self.probe_request(params)
        probe.rows = parse_records(self, probe.response)
        probe.asked, probe.order_field, probe.descending = PROBE_ROWS, "modifiedAt", True
        probe.time_field = "modifiedAt"
        return probe

    def page_rows(self, response: requests.Response) -> tuple[list[dict[str, t.Any]], None]:
        """The rows of one export page; the API has no has-more marker."""
        return parse_records(self, response), None

    @override
    def get_url_params(
        self,
        context: Context | None,
        next_page_token: KeysetToken | None,
    ) -> dict[str, t.Any]:
        token = next_page_token or KeysetToken(None)
        params: dict[str, t.Any] = {
            "format": "json",
            "limit": PAGE_SIZE,
            "offset": token.offset,
            "orderByField": self.modified_key,
            "orderByDirection": "asc",
        }
        filters: list[tuple[str, str]] = []
        if token.cursor:
            filters.append((">=", token.cursor))
        end = self.sync_end()
        upper = [in_zone_naive(end, self.zone)] if end is not None else []
        if token.until:
            upper.append(token.until)
        if upper:
            filters.append(("<=", min(upper)))
        for index, (comparator, value) in enumerate(filters):
            params[f"filters[{index}][key]"] = self.modified_key
            params[f"filters[{index}][comparator]"] = comparator
            params[f"filters[{index}][value]"] = value
        return params

    @override
    def post_process(
        self,
        row: dict[str, t.Any],
        context: Context | None = None,
    ) -> dict[str, t.Any] | None:
        if "rawData" in row:
            row["rawData"] = parse_raw_data(row["rawData"])
        return self.normalise_timestamps(row)


class EnneoTicketsStream(EnneoExportStream):
    """Tickets: GET /api/mind/export/ticket."""

    name = "enneo_tickets"
    path = "/api/mind/export/ticket"
    modified_key = "t.modifiedAt"
    schema = stream_schema()
    timestamp_fields = (
        "createdAt",
        "modifiedAt",
        "closedAt",
        "dueBy",
        "firstResponseDueBy",
        "lastMessageAt",
        "lastCustomerMessageAt",
        "autoExecuteAt",
    )


class EnneoReportingTicketsStream(EnneoExportStream):
    """Reporting rows per ticket: GET /api/mind/export/reporting_tickets."""

    name = "enneo_reporting_tickets"
    path = "/api/mind/export/reporting_tickets"
    modified_key = "modifiedAt"
    schema = stream_schema()
    timestamp_fields = (
        "createdAt",
        "closedAt",
        "modifiedAt",
        "dueBy",
        "lastMessageAt",
        "lastCustomerMessageAt",
    )


STREAMS: tuple[type[HelpdeskStream], ...] = (EnneoTicketsStream, EnneoReportingTicketsStream)

SETTINGS = th.ObjectType(
    th.Property(
        "api_token",
        th.StringType,
        secret=True,
        title="API token",
        description="An enneo.MIND JWT; a Service Worker API key does not expire.",
    ),
    settings.api_url(None, "https://acme.enneo.ai"),
    settings.timezone(
        "UTC",
        "Enneo exports naive times and does not document their zone; set your "
        "instance's zone (e.g. Europe/Berlin) if they are local.",
    ),
    *settings.rate_settings(10, 600, "Enneo publishes no limit; this is a conservative default."),
    settings.concurrency(1, "Its keyset walk is sequential."),
)

PROVIDER = Provider("enneo", LABEL, SETTINGS, ("api_token", "api_url"), STREAMS)
