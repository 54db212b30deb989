"""Slices of the ticket list: last-modified windows of under 3 months, and their halves.

Every time here is naive text or a naive datetime in the account zone, as the API takes
and gives them (provider-docs/proprofs-ticket-list.txt).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone, tzinfo

from tap_helpdesk.windows import add_months

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


@dataclass(frozen=True)
class Slice:
    """Tickets last modified in [start, end] (naive account-zone times).

    Optionally with ticket IDs in [low_id, high_id]; a bound left as None is not sent.
    """

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


def split_time_into(part: Slice, count: int) -> list[Slice] | None:
    """`count` parts of equal time, each sharing its edge second with the next.

    Fewer when the window has fewer seconds; None when it cannot be split by time (a tail,
    an ID range, a window shorter than two seconds).
    """
    if part.end is None or part.low_id is not None or part.high_id is not None:
        return None
    seconds = int((part.end - part.start).total_seconds())
    count = min(count, seconds)
    if count < 2:
        return None
    edges = [part.start + timedelta(seconds=seconds * i // count) for i in range(count)]
    edges.append(part.end)
    return [Slice(low, high) for low, high in itertools.pairwise(edges)]


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


def local_now(zone: tzinfo) -> datetime:
    """Now as naive account-zone time, whole seconds."""
    return datetime.now(timezone.utc).astimezone(zone).replace(tzinfo=None, microsecond=0)


def local_second(value: object) -> str:
    """A naive account-zone time as `YYYY-MM-DD HH:MM:SS` text (comparable as text).

    "" for what does not read as a time (such a ticket is never kept for later).
    """
    if isinstance(value, str) and len(value) >= 19 and value[4] == "-" and value[13] == ":":
        return value[:10] + " " + value[11:19]
    try:
        return datetime.fromisoformat(str(value)).strftime(DATE_FORMAT)
    except ValueError:
        return ""
