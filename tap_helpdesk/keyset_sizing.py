"""How wide the keyset walk cuts its sub-ranges (paging.py), and key text arithmetic.

Sub-ranges are cut to hold about `RANGE_FILL` of a page each, at the rows per second of
key the latest full page or whole sub-range showed, never wider than `RANGE_GROWTH` times
the last; a whole sub-range holding less than `RANGE_DRY` of a page says the data may end
there.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone, tzinfo

from tap_helpdesk.timestamps import parse_datetime

#: Rows a bounded sub-range is cut to hold, in pages: below 1 so that most take one request
#: (RANGE_FILL_FIRST while only single pages were seen: one page misjudges its neighbours).
RANGE_FILL = 0.9
RANGE_FILL_FIRST = 0.8
#: A sub-range is never cut wider than this many times the last one.
RANGE_GROWTH = 2.0
#: A whole sub-range holding less than this share of a page: the data may end there, so
#: the rest is one open-ended range (split anew where it meets a full page again).
RANGE_DRY = 0.1


class RangeSizer:
    """The width of the next sub-range, from the rows per second of key seen so far."""

    def __init__(self) -> None:
        """Nothing seen yet: no density, no width."""
        #: seconds of key the latest sub-range was cut to span (0: none cut yet)
        self.width = 0.0
        #: rows per second of key, from the latest page or whole range; whether from a
        #: whole range yet (an average over more follows a ramp or a weekly cycle late)
        self.density: float | None = None
        self.whole_ranges = False
        #: the latest whole sub-range held next to no rows (RANGE_DRY): the data may end
        self.ran_dry = False

    def saw_page(self, rows: int, span: float) -> None:
        """A full page of `rows` spanning `span` seconds of key."""
        self.ran_dry = False
        self.density = rows / max(span, 1.0)

    def saw_range(self, rows: int, span: float, page_rows: int) -> None:
        """A bounded sub-range read to its end: `rows` over its `span` seconds of key."""
        self.whole_ranges = True
        self.ran_dry = rows < RANGE_DRY * page_rows
        self.density = rows / max(span, 1.0)

    def expected(self, seconds: float) -> float:
        """Rows expected in `seconds` of key at the latest density (inf when unknown)."""
        return seconds * self.density if self.density is not None else math.inf

    def cut_width(self, page_rows: int) -> None:
        """Size the next sub-range (`width`): RANGE_FILL of a page at the latest density."""
        fill = RANGE_FILL if self.whole_ranges else RANGE_FILL_FIRST
        width = fill * page_rows / self.density if self.density else float("inf")
        if self.width:
            width = min(width, self.width * RANGE_GROWTH)
        self.width = max(width, 1.0)


def key_seconds(text: str) -> float:
    """Key text as seconds since the epoch (naive text read as UTC: only spans matter)."""
    return parse_datetime(text, timezone.utc).timestamp()


def key_text(seconds: float, like: str, zone: tzinfo | None = None) -> str:
    """Whole-second key text at `seconds`, written in the form of `like` (the ceiling).

    Naive text in `zone` is never a local time that does not exist (the hour skipped when
    DST begins): a server that reads its filter values in the zone takes `02:05:18` on
    such a day for 03:05:18, one that compares text for 02:05:18, and the two would cut
    the range at different rows. The first existing time after the gap means the same to
    both.
    """
    moment = datetime.fromtimestamp(int(seconds), timezone.utc)
    if zone is not None and not like.endswith("Z") and like[-6:-5] not in "+-":
        naive = moment.replace(tzinfo=None)
        existing = naive.replace(tzinfo=zone).astimezone(timezone.utc).astimezone(zone)
        moment = existing.replace(tzinfo=timezone.utc)  # the text of an existing local time
    text = moment.strftime("%Y-%m-%dT%H:%M:%S" if "T" in like else "%Y-%m-%d %H:%M:%S")
    if like.endswith("Z"):
        return text + "Z"
    if like[-6:-5] in "+-" and like[-3:-2] == ":":
        return moment.isoformat()
    return text


__all__ = ["RANGE_DRY", "RANGE_FILL", "RangeSizer", "key_seconds", "key_text"]
