"""Filum CX ticket export (provider-docs/filum-tickets-export.txt; provider-notes.md section 1).

- records.py: the export's columns and the records they become
- decoding.py: CSV and JSON bodies, decoded as they arrive; cut and empty bodies
- walk.py: the day-window walk, capped windows split, the bookmark from the data
- stream.py: the filum_tickets stream
"""

from __future__ import annotations

from tap_helpdesk.providers.filum.decoding import ExportDecoder, json_values
from tap_helpdesk.providers.filum.records import COLUMNS, LABEL, custom_columns, field_name
from tap_helpdesk.providers.filum.stream import FilumTicketsStream
from tap_helpdesk.providers.filum.walk import ExportAnswer, FilumWalk, RecentTickets

STREAMS = (FilumTicketsStream,)

__all__ = [
    "COLUMNS",
    "LABEL",
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
