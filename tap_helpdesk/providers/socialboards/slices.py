"""The creation-time slices walk of POST /tickets/list (see CreationSlices)."""

from __future__ import annotations

import math
import typing as t
from bisect import bisect_right
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

from tap_helpdesk.engine import Step, Walk
from tap_helpdesk.errors import ProviderError
from tap_helpdesk.timestamps import parse_datetime, to_utc

if t.TYPE_CHECKING:
    from collections.abc import Callable, Generator, Hashable, Mapping

    import requests

Row = dict[str, t.Any]

LABEL = "Socialboards"
TAKE = 50  # documented maximum ("Max value is 50. default: 25"); larger values are clamped
ACTIVITY = "lastThreadElementCreationTime"  # what the only documented order sorts by
FIRST_WIDTH = timedelta(days=1)  # the first slice; later ones are sized from the density
TARGET_ROWS = 700  # tickets a slice is sized for (about 14 pages)
MAX_SLICE_ROWS = 3000  # a slice is held whole to be sorted: narrow it beyond this
MAX_INSTANT_ROWS = 20_000  # tickets one creation millisecond may hold (it cannot be split)
MIN_SPAN = timedelta(milliseconds=1)  # narrower slices are re-read, not split
MAX_GROWTH = 4.0  # a slice is at most this many times wider than the one before
MAX_ATTEMPTS = 5  # reads of an unsplittable slice before giving up on it
_EARLIEST = datetime.min.replace(tzinfo=timezone.utc)


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
    return _EARLIEST


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


class CreationSlices(Walk[Slice]):
    """Walks [start, end] in creation-time slices and says which tickets to emit when.

    Each slice is a fixed set (creation times never change) listed newest activity first.
    A slice that fits in one answer is a snapshot. A longer one is paged with skip, each
    page starting at the last row of the one before (the anchor):
    - tickets that do not move keep their relative order, so while the anchor is found,
      everything after it is still ahead; rows before it were read already (a reply
      moved a ticket above, pushing them down) or are simply added;
    - tickets that do move go to the very top, behind the cursor. A last look at the top
      of the slice picks them up; it is conclusive once it shows a ticket of the first
      page unchanged, since every ticket that moved since sits above that one.
    An anchor that is gone (it moved, or tickets were deleted above it) or a top that is
    all moved tickets makes the slice be read again, narrower.

    A slice is emitted only when whole, sorted by creation time, and the bookmark moves to
    its latest creation time then. Each next slice is sized for `target` tickets at the
    density of the last one (at most 4 times wider); one that grows past `max_rows`
    tickets is dropped and cut shorter where its tickets lie.

    The last page is one shorter than both `take` and the largest answer so far (the
    server clamps `take` silently, and one serving more than asked is not at its end
    with a page of `take`), or empty.

    One request at a time: a page starts at the anchor of the one before, and a slice's
    width comes from the density of the one before.

    Rows without a creation time cannot be placed in a slice: each is emitted once, when
    first met, never counted as a slice's row, and counted in a warning at the end.
    """

    def __init__(
        self,
        start: datetime,
        end: datetime,
        *,
        parse: Callable[[requests.Response], list[Row]] = rows_unread,
        target: int = TARGET_ROWS,
        max_rows: int = MAX_SLICE_ROWS,
        max_instant_rows: int = MAX_INSTANT_ROWS,
        take: int = TAKE,
        to_bookmark: Callable[[str], t.Any] = to_utc,
        emitted: Mapping[t.Any, t.Any] | None = None,
    ) -> None:
        """Slice [start, end]; `parse` reads an answer's rows (see the class doc)."""
        self.begin = start
        self.end = end
        self.parse = parse
        self.target = target
        self.max_rows = max_rows
        self.max_instant_rows = max_instant_rows
        self.take_size = take
        self.to_bookmark = to_bookmark
        #: id -> activity of tickets this run emitted already (the activity walk): a slice
        #: leaves them out unless their activity changed since
        self.emitted: Mapping[t.Any, t.Any] = emitted if emitted is not None else {}
        self.width = FIRST_WIDTH  # of the next slice
        self.current: Slice | None = Slice(start, min(start + self.width, end))
        self.largest = 0  # most rows in one answer so far: the server's page size
        self.rows: dict[t.Any, Row] = {}  # the slice read so far, by id
        self.first_page: dict[t.Any, t.Any] = {}  # id -> last activity, on the first page
        self.anchor: t.Any = None
        self.boundary_ids: set[t.Any] = set()  # ids of the last slice: they share its end
        self.known: list[datetime] = []  # creation times seen ahead, in a slice too large
        self.keyless_ids: set[t.Any] = set()  # rows without a creation time, emitted once
        self.slices = self.requests = self.rereads = 0
        self.slice_began = 0  # requests answered before the current slice's first page
        #: the slice the last answer completed: (slice, tickets emitted, latest creationTime)
        self.slice_done: tuple[Slice, int, str | None] | None = None

    # -- the walk contract -------------------------------------------------------------

    def ready(self) -> list[Slice]:
        """The next request (one at a time, see the class doc)."""
        return [self.current] if self.current is not None else []

    def identity(self, token: Slice) -> Hashable:
        """A slice, skip, recheck and attempt asked for twice did not move."""
        return token

    def describe(self, token: Slice) -> str:
        """The request as it is filtered."""
        text = token.describe()
        if token.recheck:
            return text + " (last look at its top)"
        return text + (f" skip {token.skip}" if token.skip else "")

    def position(self) -> tuple[str, float | None] | None:
        """The start of the slice being read, and the share of the range behind it."""
        if self.current is None:
            return None
        span = (self.end - self.begin).total_seconds()
        done = (self.current.start - self.begin).total_seconds() / span if span > 0 else None
        return (f"creationTime {self.current.start.isoformat()}", done)

    def request_limit(self) -> int:
        """Requests answered before this slice, and the most this slice can take.

        A slice is held to `max_rows` tickets (one creation millisecond: to
        `max_instant_rows`); each page that is not the last brings at least half a page
        of them unless tickets move faster than the walk reads; plus its last page and
        the look at its top. A server that never ends a slice meets this bound.
        """
        page = self.largest or self.take_size
        token = self.current
        unsplittable = token is not None and token.end - token.start <= MIN_SPAN
        cap = self.max_instant_rows if unsplittable else self.max_rows + page
        return self.slice_began + math.ceil(cap / max(1, (page - 1) // 2)) + 2

    def read(self, token: Slice, response: requests.Response) -> Generator[Row, None, Step]:
        """The tickets to emit from one answer (a slice's, when it is complete)."""
        emitted, step = self.take(token, self.parse(response))
        yield from emitted
        return step

    # -- one answer --------------------------------------------------------------------

    def take(self, token: Slice, rows: list[Row]) -> tuple[list[Row], Step]:
        """Digest the answer to `token`: the tickets to emit now, and what it said."""
        self.requests += 1
        keyed, loose = self._split(token, rows)
        # Rows a slice shares with the one before (both bounds are inclusive) and rows
        # without a creation time met before are not this slice's: they count neither way.
        own = [row for row in keyed if row.get("id") not in self.boundary_ids]
        new = sum(1 for row in own if row.get("id") not in self.rows)
        fingerprint = None if token.recheck else self._fingerprint(token, rows)
        if token.recheck:
            emitted, notes = self._recheck(token, rows, keyed)
        else:
            emitted, notes = self._page(token, rows, keyed)
        events: tuple[str, ...] = ()
        bookmark = None
        if self.slice_done is not None:
            done, count, latest = self.slice_done
            self.slice_done = None
            events = (f"{LABEL}: {done.describe()}: {count} tickets",)
            bookmark = self.to_bookmark(latest) if latest is not None else None
        if self.current is None and self.keyless_ids:
            notes += (
                f"{LABEL}: {len(self.keyless_ids)} tickets had no creationTime: they were "
                "emitted, and the bookmark ignores them",
            )
        step = Step(
            rows=len(own) + len(loose),
            new=new + len(loose),
            bookmark=bookmark,
            fingerprint=fingerprint,
            notes=notes,
            events=events,
        )
        return loose + emitted, step

    def _split(self, token: Slice, rows: list[Row]) -> tuple[list[Row], list[Row]]:
        """Rows with a creation time (checked to lie in the slice), and those without one.

        Only rows without one met for the first time are kept.
        """
        keyed: list[Row] = []
        loose: list[Row] = []
        for row in rows:
            created = creation_time(row)
            if created is _EARLIEST:
                if row.get("id") not in self.keyless_ids:
                    self.keyless_ids.add(row.get("id"))
                    loose.append(row)
                continue
            if not token.start <= created <= token.end:
                raise ProviderError(
                    LABEL,
                    f"the answer to {self.describe(token)} holds ticket {row.get('id')} "
                    f"created {row.get('creationTime')}, outside the range asked for: the "
                    "server ignored from/to, paging on would skip or repeat tickets",
                )
            keyed.append(row)
        return keyed, loose

    @staticmethod
    def _fingerprint(token: Slice, rows: list[Row]) -> Hashable | None:
        # pages of one read of one slice never hold the same rows; a re-read may
        if not rows:
            return None
        first, last = rows[0].get("id"), rows[-1].get("id")
        return (token.start, token.end, token.attempt, len(rows), str(first), str(last))

    def _page(
        self, token: Slice, rows: list[Row], keyed: list[Row]
    ) -> tuple[list[Row], tuple[str, ...]]:
        if token.skip == 0:
            self.rows = {}
            self.first_page = {row.get("id"): row.get(ACTIVITY) for row in rows}
        elif self.anchor is not None and self.anchor not in {row.get("id") for row in rows}:
            return self._read_again(token, "a ticket moved or vanished at a page edge")
        for row in keyed:
            self.rows[row.get("id")] = row  # a later read is the fresher one
        last_page = not rows or len(rows) < min(self.largest, self.take_size)
        self.largest = max(self.largest, len(rows))
        if last_page:
            if token.skip == 0:
                return self._complete(token), ()  # one answer: a snapshot
            self.current = replace(token, skip=0, recheck=True)
            return [], ()
        if token.end - token.start > MIN_SPAN:
            if len(self.rows) > self.max_rows:
                return self._too_many(token), ()
        elif len(self.rows) > self.max_instant_rows:
            raise ProviderError(
                LABEL,
                f"more than {self.max_instant_rows} tickets in {token.describe()}, a "
                "range that cannot be split further: the server's answers do not end",
            )
        overlap = 1 if len(rows) > 1 else 0
        self.anchor = rows[-1].get("id") if overlap else None
        self.current = replace(token, skip=token.skip + len(rows) - overlap)
        return [], ()

    def _recheck(
        self, token: Slice, rows: list[Row], keyed: list[Row]
    ) -> tuple[list[Row], tuple[str, ...]]:
        unchanged = any(
            row.get("id") in self.first_page and self.first_page[row.get("id")] == row.get(ACTIVITY)
            for row in rows
        )
        if not unchanged:
            return self._read_again(token, "too many tickets moved to the top")
        for row in keyed:
            self.rows[row.get("id")] = row
        return self._complete(replace(token, recheck=False, skip=0)), ()

    def _read_again(self, token: Slice, why: str) -> tuple[list[Row], tuple[str, ...]]:
        self.rereads += 1
        self.rows = {}
        span = token.end - token.start
        if span > MIN_SPAN:
            self.width = span / 2
            self._start(Slice(token.start, token.start + self.width))
        elif token.attempt + 1 < MAX_ATTEMPTS:
            self._start(Slice(token.start, token.end, attempt=token.attempt + 1))
        else:
            raise ProviderError(
                LABEL,
                f"tickets in {token.describe()} kept moving while they were read "
                f"({MAX_ATTEMPTS} attempts); try again later",
            )
        return [], (f"{LABEL}: {why} in {token.describe()}; reading it again",)

    def _too_many(self, token: Slice) -> list[Row]:
        # A slice must be held whole to be emitted in creation order: keep it bounded. What
        # was read is not wasted: those creation times say where tickets are, and the next
        # slices are cut so that none holds more than half a target of them.
        span = token.end - token.start
        held = sorted(creation_time(row) for row in self.rows.values())
        self.rows = {}
        self.rereads += 1
        self.known = held
        self.width = max(min(span * (self.target / len(held) / 2), span / 2), MIN_SPAN)
        self._next_slice(token.start)
        return []

    def _learn_density(self, token: Slice, count: int) -> None:
        # The next slice aims at `target` tickets at the density of this one, and grows at
        # most 4-fold (an empty or thin slice says little about what follows).
        span = token.end - token.start
        limit = max(span * MAX_GROWTH, MIN_SPAN)
        self.width = max(min(span * (self.target / count), limit), MIN_SPAN) if count else limit

    def _complete(self, token: Slice) -> list[Row]:
        self.slices += 1
        rows, self.rows = list(self.rows.values()), {}
        emitted = self.emitted
        fresh = [
            row
            for row in rows
            if row.get("id") not in self.boundary_ids
            and (not emitted or emitted.get(row.get("id"), emitted) != row.get(ACTIVITY))
        ]
        self.boundary_ids = {row.get("id") for row in rows}
        keys = {id(row): creation_time(row) for row in rows}
        fresh.sort(key=lambda row: keys[id(row)])
        latest = max(rows, key=lambda row: keys[id(row)]).get("creationTime") if rows else None
        self.slice_done = (token, len(fresh), latest)
        self._learn_density(token, len(rows))
        if token.end >= self.end:
            self.current = None
        else:
            self._next_slice(token.end)
        return fresh

    def _next_slice(self, start: datetime) -> None:
        end = min(start + self.width, self.end)
        self.known = self.known[bisect_right(self.known, start) :]
        crowd = self.target // 2
        if len(self.known) > crowd:
            end = min(end, self.known[crowd])
        self._start(Slice(start, end))

    def _start(self, token: Slice) -> None:
        self.current = token
        self.slice_began = self.requests


__all__ = [
    "ACTIVITY",
    "MAX_ATTEMPTS",
    "CreationSlices",
    "Slice",
    "creation_time",
    "format_bound",
]
