"""Enneo (enneo.MIND) exports: tickets, reporting tickets, messages and worklog.

Docs: provider-docs/enneo-ticket-export.txt; provider-notes.md section 5;
https://docs.enneo.ai/de/api-reference/export/export-reporting-messages and
.../export-reporting-worklog.
GET {api_url}/api/mind/export/{ticket|reporting_*}?format=json&limit=..&offset=..
returns a bare JSON array; there is no total and no next marker, so a short page is
confirmed by one more request before the walk ends (tap_helpdesk.paging). Timestamps
are naive (`2024-05-12 09:00:00`) in an undocumented zone: they are read in
`enneo.timezone`.
"""

from __future__ import annotations

import sys
import typing as t
from datetime import datetime, timezone
from functools import cached_property

import msgspec
from singer_sdk import typing as th

from tap_helpdesk import settings
from tap_helpdesk.check import Probe
from tap_helpdesk.client import HelpdeskStream, parse_records
from tap_helpdesk.paging import KeysetToken, KeysetWalk
from tap_helpdesk.providers import Provider
from tap_helpdesk.schemas import stream_schema
from tap_helpdesk.surrogates import decode_replacing
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


def parse_raw_data(value: object) -> dict[str, t.Any] | None:
    """Parse rawData, the ticket payload as a JSON string, into an object.

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
        except (msgspec.DecodeError, RecursionError):
            read, parsed = decode_replacing(value.encode(), LABEL)
            if not read:
                return {"_raw": value}
        return parsed if isinstance(parsed, dict) else {"_raw": value}
    return {"_raw": value}


class EnneoExportStream(HelpdeskStream):
    """An Enneo export endpoint, walked by its replication key (see tap_helpdesk.paging).

    Every export speaks the same protocol; a stream names its row id (the first primary
    key, which the walk uses to drop the rows of a tie group it already emitted), its
    replication key (a row field) and that field's filter/order key.
    """

    primary_keys = ("id",)
    replication_key = "modifiedAt"
    bearer_token_setting = "api_token"  # noqa: S105 (the setting's name, not a secret)
    is_sorted = True
    STATE_MSG_FREQUENCY = PAGE_SIZE

    #: Filter/order key of the replication key (`t.modifiedAt` on /export/ticket).
    cursor_key: t.ClassVar[str]

    @override
    def new_walk(self, context: Context | None) -> KeysetWalk:
        start = in_zone_naive(self.sync_start(context), self.zone)
        # The walk's ceiling: now, or end_date when it is earlier (every request is bounded
        # by it then, see get_url_params: no sub-range is cut past it).
        now, end = datetime.now(timezone.utc), self.sync_end()
        ceiling = min(now, end) if end is not None else now
        return KeysetWalk(
            self.provider_label,
            self.key_field,
            start,
            page_size=PAGE_SIZE,
            id_field=self.primary_keys[0],
            parse=self.page_rows,
            parse_keys=self.page_keys,
            to_bookmark=self.bookmark_of,
            ceiling=in_zone_naive(ceiling, self.zone),
            ceiling_is_end=ceiling < now,
            zone=self.zone,
            stream=self.name,
        )

    @property
    def key_field(self) -> str:
        """The replication key's row field (every export stream names one)."""
        if self.replication_key is None:
            raise TypeError(f"{type(self).__name__} names no replication_key")
        return self.replication_key

    def bookmark_of(self, value: str) -> str | None:
        """The replication key value of a page's last row, in UTC.

        UnreadableValue when it is no time: the walk names the row (keyset_range).
        """
        return to_utc(value, self.zone)

    @override
    def probe(self) -> Probe:
        # The newest rows first: their order, and the newest time against the clock.
        params = self.get_url_params(None, KeysetToken(None))
        params.update(limit=PROBE_ROWS, orderByDirection="desc")
        probe = self.probe_request(params)
        probe.rows = parse_records(self, probe.response)
        probe.asked, probe.order_field, probe.descending = PROBE_ROWS, self.replication_key, True
        probe.time_field = self.replication_key
        return probe

    def page_rows(self, response: requests.Response) -> tuple[list[dict[str, t.Any]], None]:
        """The rows of one export page; the API has no has-more marker."""
        return parse_records(self, response), None

    def page_keys(self, response: requests.Response) -> tuple[list[dict[str, t.Any]], None]:
        """The rows of one export page with only their id and key (a fifth of the cost).

        Anything but an array of objects is parsed whole, for its error line.
        """
        try:
            keys = self._keys_decoder.decode(response.content)
        except (msgspec.DecodeError, msgspec.ValidationError):
            return self.page_rows(response)
        ident, key = self.primary_keys[0], self.key_field
        return [{ident: row.ident, key: row.key} for row in keys], None

    @cached_property
    def _keys_decoder(self) -> msgspec.json.Decoder[list[t.Any]]:
        fields = [("ident", object, None), ("key", object, None)]
        rename = {"ident": self.primary_keys[0], "key": self.key_field}
        row_keys = msgspec.defstruct("PageKeys", fields, rename=rename)
        return msgspec.json.Decoder(list[row_keys])  # type: ignore[valid-type]

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
            "orderByField": self.cursor_key,
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
            params[f"filters[{index}][key]"] = self.cursor_key
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
    cursor_key = "t.modifiedAt"
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
    cursor_key = "modifiedAt"
    schema = stream_schema()
    timestamp_fields = (
        "createdAt",
        "closedAt",
        "modifiedAt",
        "dueBy",
        "lastMessageAt",
        "lastCustomerMessageAt",
    )


class EnneoActivityStream(EnneoExportStream):
    """An export of what happened on tickets (messages, edits)."""

    @override
    def probe(self) -> Probe:
        # The connection check probes each provider through its first stream by name, and
        # for Enneo that is an activity export: its figures (order, page size, zone) are
        # read from the reporting tickets, the export every Enneo account has.
        tickets = self._helpdesk_tap.streams.get(EnneoReportingTicketsStream.name)
        if isinstance(tickets, EnneoReportingTicketsStream):
            return tickets.probe()
        return super().probe()


class EnneoReportingMessagesStream(EnneoActivityStream):
    """One row per message: GET /api/mind/export/reporting_messages.

    The messages are the ticket's original message, the replies of customers and agents,
    and internal notes (docs.enneo.ai/en/analytics). A message is written once, so
    createdAt is its replication key. Key: conversationId, the message's own id (the
    conversations of /ticket/{id}/conversation carry it as `id` beside their ticketId:
    ids of one conversation table, not numbered per ticket).
    """

    name = "enneo_reporting_messages"
    path = "/api/mind/export/reporting_messages"
    primary_keys = ("conversationId",)
    replication_key = "createdAt"
    cursor_key = "createdAt"
    schema = stream_schema()
    timestamp_fields = ("createdAt",)


class EnneoReportingWorklogStream(EnneoActivityStream):
    """One row per edit of a ticket: GET /api/mind/export/reporting_worklog.

    Incremental on `date`, the time of the edit. Enneo aggregates a user's edits of a
    ticket within one day (docs.enneo.ai/en/guides/analytics/worklog): a row may still
    grow that day, which `lookback_days` re-reads.
    """

    name = "enneo_reporting_worklog"
    path = "/api/mind/export/reporting_worklog"
    primary_keys = ("userWorklogId",)
    replication_key = "date"
    cursor_key = "date"
    schema = stream_schema()
    timestamp_fields = ("date", "closingDateForSLA", "pendingDueBy", "firstPendingAt")


STREAMS: tuple[type[HelpdeskStream], ...] = (
    EnneoTicketsStream,
    EnneoReportingTicketsStream,
    EnneoReportingMessagesStream,
    EnneoReportingWorklogStream,
)

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
    *settings.rate_settings(
        20,
        600,
        "Enneo publishes no limit: the minute's budget (600) is the one kept, with bursts of "
        "at most 20 a second (twice its average).",
    ),
    settings.concurrency(
        3,
        "Above 1 the modification-time range is read in sub-ranges side by side: at 250 ms "
        "an answer 3 read 100,000 tickets in 12 s against 31 s one at a time (594 requests/"
        "min of 600, 11% more requests; docs/performance.md). It relies on the export's "
        "<= filter; a server ignoring it stops the run with one line (then set 1).",
    ),
)

PROVIDER = Provider("enneo", LABEL, SETTINGS, ("api_token", "api_url"), STREAMS)
