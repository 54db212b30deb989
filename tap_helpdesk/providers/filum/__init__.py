"""Filum CX ticket export (provider-docs/filum-tickets-export.txt; provider-notes.md section 1).

- records.py: the export's columns and the records they become
- decoding.py: CSV and JSON bodies, decoded as they arrive; cut and empty bodies
- answers.py: the export's row cap and fields; what one answer held (ExportAnswer) and
  the tickets already emitted (RecentTickets)
- plan.py: the day windows planned ahead, capped windows split in place, in time order
- walk.py: the day-window walk that reads the answers in turn and peeks at later ones,
  capped windows split, the bookmark from the data
- stream.py: the filum_tickets stream
"""

from __future__ import annotations

from singer_sdk import typing as th

from tap_helpdesk import settings
from tap_helpdesk.providers import Provider
from tap_helpdesk.providers.filum.answers import ExportAnswer, RecentTickets
from tap_helpdesk.providers.filum.decoding import ExportDecoder, json_values
from tap_helpdesk.providers.filum.records import COLUMNS, LABEL, custom_columns, field_name
from tap_helpdesk.providers.filum.stream import FilumTicketsStream
from tap_helpdesk.providers.filum.walk import FilumWalk

STREAMS = (FilumTicketsStream,)

SETTINGS = th.ObjectType(
    th.Property(
        "api_token",
        th.StringType,
        secret=True,
        title="API token",
        description="Filum CX API token (Settings > API tokens, created by an admin).",
    ),
    th.Property(
        "organization_id",
        th.StringType,
        title="Organization ID",
        description="Sent as the organization-id header.",
    ),
    settings.api_url("https://api.filum.ai", "https://api.filum.ai"),
    th.Property(
        "export_format",
        th.StringType,
        default="csv",
        allowed_values=["csv", "json"],
        title="Export format",
        description="csv (UTF-16LE, tab-separated; the documented default) or json.",
    ),
    settings.timezone("UTC+7", "Filum documents its export times as UTC+7."),
    th.Property(
        "custom_fields_as_columns",
        th.BooleanType,
        default=False,
        title="Custom fields as columns",
        description="Also emit each workspace custom field as a top-level column "
        "(discovered from a small sample export); they are always in custom_fields.",
    ),
    th.Property(
        "on_unsplittable_cap",
        th.StringType,
        default="error",
        allowed_values=["error", "warn"],
        title="When a one-day window stays capped",
        description="A one-day window still at 5000 rows after splitting by status "
        "and priority may be truncated: fail (error) or log a warning (warn).",
    ),
    *settings.rate_settings(5, 50, "Filum documents 5/s and 50/min."),
    settings.concurrency(
        4,
        "Windows are planned ahead from the rows per day seen so far and an answer that "
        "arrives early is held until its turn: at 4, with exports taking 2.5 s, 48 exports "
        "a minute of the 50 (96%) against 21 at 1, 0 429s, the same records, peak memory "
        "x1.03 (docs/performance.md).",
    ),
)

PROVIDER = Provider("filum", LABEL, SETTINGS, ("api_token", "organization_id"), STREAMS)


__all__ = [
    "COLUMNS",
    "LABEL",
    "PROVIDER",
    "SETTINGS",
    "STREAMS",
    "ExportAnswer",
    "ExportDecoder",
    "FilumTicketsStream",
    "FilumWalk",
    "RecentTickets",
    "custom_columns",
    "field_name",
    "json_values",
]
