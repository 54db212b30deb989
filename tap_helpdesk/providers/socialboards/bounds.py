"""A slice of POST /tickets/list as it is sent, and the ticket fields the walk reads by.

The constants here size the creation-time slices (see slices.CreationSlices).
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from tap_helpdesk.timestamps import parse_datetime

if t.TYPE_CHECKING:
    from collections.abc import Mapping

    import requests

Row = dict[str, t.Any]

LABEL = "Socialboards"
TAKE = 50  # documented maximum ("Max value is 50. default: 25"); larger values are clamped
ACTIVITY = "lastThreadElementCreationTime"  # what the only documented order sorts by
FIRST_WIDTH = timedelta(days=1)  # the first slice; later ones are sized from the density
TARGET_ROWS = 700  # tickets a slice is sized for (about 14 pages)
WIDE_TARGET = 1.5  # ...times this with slices side by side (still well under MAX_SLICE_ROWS)
MAX_SLICE_ROWS = 3000  # a slice is held whole to be sorted: narrow it beyond this
MAX_INSTANT_ROWS = 20_000  # tickets one creation millisecond may hold (it cannot be split)
MIN_SPAN = timedelta(milliseconds=1)  # narrower slices are re-read, not split
MAX_GROWTH = 4.0  # a slice is at most this many times wider than the one before
MAX_ATTEMPTS = 5  # reads of an unsplittable slice before giving up on it
EARLIEST = datetime.min.replace(tzinfo=timezone.utc)


def rows_unread(response: requests.Response) -> list[Row]:
    """The parse of a walk built without one: it is fed rows (`take`), not answers."""
    raise TypeError(f"{LABEL}: this walk reads no answers (built without `parse`)")


def format_bound(moment: datetime) -> str:
    """A slice bound written like the API's own times: 7 fractional digits and an offset."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0+00:00"


def creation_time(row: Mapping[str, t.Any]) -> datetime:
    """A ticket's creation time as an aware datetime (the earliest moment if unreadable)."""
    value = row.get("creationTime")
    if isinstance(value, str) and value:
        try:
            return parse_datetime(value, timezone.utc).astimezone(timezone.utc)
        except (TypeError, ValueError):
            pass
    return EARLIEST


@dataclass(frozen=True)
class Slice:
    """One request: tickets created in [start, end], from `skip` on.

    `recheck` marks the closing look at the top of a slice read in several pages;
    `attempt` counts re-reads of a slice too narrow to split.
    """

    start: datetime
    end: datetime
    skip: int = 0
    recheck: bool = False
    attempt: int = 0

    def describe(self) -> str:
        """The slice as it is sent, for log and error lines."""
        return f"creationTime {format_bound(self.start)}..{format_bound(self.end)}"


__all__ = [
    "ACTIVITY",
    "EARLIEST",
    "LABEL",
    "MAX_ATTEMPTS",
    "TAKE",
    "Row",
    "Slice",
    "creation_time",
    "format_bound",
    "rows_unread",
]
