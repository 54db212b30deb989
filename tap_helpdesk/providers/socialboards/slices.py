"""The creation-time slices walk of POST /tickets/list (see CreationSlices)."""

from __future__ import annotations

import math
import typing as t
from bisect import bisect_right
from dataclasses import dataclass, field, replace
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
WIDE_TARGET = 1.5  # ...times this with slices side by side (still well under MAX_SLICE_ROWS)
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


@dataclass
class SliceRead:
    """One read of one slice: the tickets its pages brought so far, and what to ask next.

    `next` is None once the slice is whole (or its read failed) and only answers `held`
    ahead of their turn are left to hand out.
    """

    bounds: Slice
    next: Slice | None = None
    rows: dict[t.Any, Row] = field(default_factory=dict)
    first_page: dict[t.Any, t.Any] = field(default_factory=dict)  # id -> last activity
    anchor: t.Any = None
    pages: int = 0  # answers digested for this read
    held: list[Slice] = field(default_factory=list)  # digested ahead of their turn
    successor: SliceRead | None = None  # the read that replaced this one
    failed: bool = False  # an answer of it holds the run's error, raised in its turn

    def __post_init__(self) -> None:
        """The first request is the slice itself."""
        if self.next is None:
            self.next = self.bounds


@dataclass(frozen=True)
class Gap:
    """Part of the range not cut into slices yet: [start, end]."""

    start: datetime
    end: datetime


@dataclass
class Answer:
    """One answer digested by its slice's read, waiting for its turn to be emitted."""

    keyed_ids: list[t.Any] = field(default_factory=list)  # ids of rows with a creation time
    new_ids: list[t.Any] = field(default_factory=list)  # ...not in its read before it
    loose: list[Row] = field(default_factory=list)  # rows without a creation time
    fingerprint: Hashable | None = None
    notes: tuple[str, ...] = ()
    whole: tuple[Slice, list[Row]] | None = None  # the slice it completed, and its tickets
    error: ProviderError | None = None  # raised in its turn


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
    density of the last one read whole (at most 4 times wider); one that grows past
    `max_rows` tickets is dropped and cut shorter where its tickets lie.

    The last page is one shorter than both `take` and the largest answer so far (the
    server clamps `take` silently, and one serving more than asked is not at its end
    with a page of `take`), or empty.

    **Slices side by side** (planned for several requests in flight, `plan_for`): a
    slice's pages are sequential, but slices are independent, so once one slice was read
    whole the following ones are cut ahead at the latest density and paged at the same
    time. An answer of a later slice that arrives early is digested by its slice's read
    (`peek`: that slice's next page is decided from it) and held, in its place, until
    every slice before it is emitted: records, bookmarks and the shared-bound rule (a
    ticket at the instant two slices share belongs to the earlier) go exactly as one
    slice at a time. A read that fails (re-read narrower, too many tickets) is replaced
    in place; the answers it had held are handed out, emptied of tickets, in their turn.
    What is held is bounded by the engine's requests in flight.

    Rows without a creation time cannot be placed in a slice: each is emitted once, when
    its answer's turn comes, never counted as a slice's row, and counted in a warning at
    the end.
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
        self.target = self.base_target = target
        self.max_rows = max_rows
        self.max_instant_rows = max_instant_rows
        self.take_size = take
        self.to_bookmark = to_bookmark
        #: id -> activity of tickets this run emitted already (the activity walk): a slice
        #: leaves them out unless their activity changed since
        self.emitted: Mapping[t.Any, t.Any] = emitted if emitted is not None else {}
        self.width = FIRST_WIDTH  # of the next slice
        first = Slice(start, min(start + self.width, end))
        #: the range in creation order: slices being read, and the parts not cut yet
        self.plan: list[SliceRead | Gap] = [SliceRead(first)]
        if first.end < end:
            self.plan.append(Gap(first.end, end))
        self.parallel = 1  # requests in flight planned for (plan_for)
        self.largest = 0  # most rows in one answer so far: the server's page size
        self.boundary_ids: set[t.Any] = set()  # ids of the last slice: they share its end
        self.known: list[datetime] = []  # creation times seen ahead, in a slice too large
        self.keyless_ids: set[t.Any] = set()  # rows without a creation time, emitted once
        self.slices = self.requests = self.rereads = 0
        self.closed = 0  # answers digested by reads no longer open (emitted or replaced)
        self.growing = True  # the last slice read whole was thin: the next grows 4-fold
        self._taken: dict[Slice, Answer] = {}  # digested ahead of their turn

    # -- the walk contract -------------------------------------------------------------

    def plan_for(self, width: int) -> None:
        """Several requests in flight: later slices are paged side by side.

        Slices are then sized for WIDE_TARGET times as many tickets: the pages of the next
        slice are read while the current one is, so a longer slice costs no time, and
        fewer slices cost fewer requests (each has its part page and its look at the top).
        """
        self.parallel = max(1, width)
        self.target = self.base_target if width <= 1 else round(self.base_target * WIDE_TARGET)

    def ready(self) -> list[Slice]:
        """Per slice in creation order, its answers held and its next request.

        One at a time: the first slice's next request only. Side by side: slices are cut
        ahead (once one was read whole) until one more request than in flight is listed.
        """
        tokens: list[Slice] = []
        index = 0
        while index < len(self.plan):
            item = self.plan[index]
            if isinstance(item, Gap):
                if not tokens or self._room_ahead(len(tokens)):
                    self._cut(index)
                    continue
                index += 1  # later reads' answers held are listed all the same
                continue
            tokens.extend(item.held)
            if item.next is not None:
                tokens.append(item.next)
            if self.parallel == 1 and tokens:
                break
            index += 1
        return tokens

    @property
    def current(self) -> Slice | None:
        """The request to be read next (None once the walk is finished)."""
        tokens = self.ready()
        return tokens[0] if tokens else None

    @property
    def rows(self) -> dict[t.Any, Row]:
        """The tickets of the first slice read so far, by id."""
        head = self._head()
        return head.rows if head is not None else {}

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
        if not self.plan:
            return None
        first = self.plan[0]
        start = first.start if isinstance(first, Gap) else first.bounds.start
        span = (self.end - self.begin).total_seconds()
        done = (start - self.begin).total_seconds() / span if span > 0 else None
        return (f"creationTime {start.isoformat()}", done)

    def request_limit(self) -> int:
        """Requests of the reads closed so far, and the most each open read can take.

        A slice is held to `max_rows` tickets (one creation millisecond: to
        `max_instant_rows`); each page that is not the last brings at least half a page
        of them unless tickets move faster than the walk reads; plus its last page and
        the look at its top. A server that never ends a slice meets this bound.
        """
        page = max(1, ((self.largest or self.take_size) - 1) // 2)
        cap = self.max_rows + (self.largest or self.take_size)
        limit = self.closed
        for item in self.plan:
            if isinstance(item, SliceRead):
                unsplittable = item.bounds.end - item.bounds.start <= MIN_SPAN
                rows = self.max_instant_rows if unsplittable else cap
                limit += math.ceil(rows / page) + 2
        return limit

    def read(self, token: Slice, response: requests.Response) -> Generator[Row, None, Step]:
        """The tickets to emit from one answer (a slice's, when it is complete)."""
        answer = self._taken.pop(token, None)
        if answer is None:
            emitted, step = self.take(token, self.parse(response))
        else:
            emitted, step = self._finish(token, answer)
        yield from emitted
        return step

    def peek(self, token: Slice, response: requests.Response) -> bool:
        """An answer of a later slice, arrived early: its read decides its next page now.

        The answer is held, in its place, until `read` (what it holds is kept digested).
        """
        read = self._reading(token)
        if read is None or token in self._taken:
            return False
        rows = self.parse(response)
        try:
            answer = self._digest(read, token, rows)
        except ProviderError as error:  # raised in its turn, after the slices before it
            answer = Answer(error=error)
            read.next, read.failed = None, True
        while read.successor is not None:
            read = read.successor
        read.held.append(token)
        self._taken[token] = answer
        return True

    # -- one answer --------------------------------------------------------------------

    def take(self, token: Slice, rows: list[Row]) -> tuple[list[Row], Step]:
        """Digest the answer to `token` in its turn: the tickets to emit, and what it said."""
        answer = self._taken.pop(token, None)
        if answer is None:
            read = self._reading(token)
            if read is None:
                raise TypeError(f"{LABEL}: {self.describe(token)} is no request of this walk")
            answer = self._digest(read, token, rows)
        return self._finish(token, answer)

    def _digest(self, read: SliceRead, token: Slice, rows: list[Row]) -> Answer:
        """What the answer to `token` tells its slice's read (the read moves on)."""
        self.requests += 1
        read.pages += 1
        keyed, loose = self._split(token, rows)
        answer = Answer(
            keyed_ids=[row.get("id") for row in keyed],
            new_ids=[row.get("id") for row in keyed if row.get("id") not in read.rows],
            loose=loose,
            # pages of one read of one slice never hold the same rows; a re-read may
            fingerprint=None if token.recheck else self._fingerprint(token, rows),
        )
        if token.recheck:
            self._recheck(read, token, rows, keyed, answer)
        else:
            self._page(read, token, rows, keyed, answer)
        return answer

    def _finish(self, token: Slice, answer: Answer) -> tuple[list[Row], Step]:
        """An answer's turn: its tickets leave (a slice's, sorted, once whole)."""
        if answer.error is not None:
            raise answer.error
        for item in self.plan:
            if isinstance(item, SliceRead) and token in item.held:
                item.held.remove(token)
                break
        # Rows a slice shares with the one before (both bounds are inclusive) and rows
        # without a creation time met before are not this slice's: they count neither way.
        boundary = self.boundary_ids
        own = sum(1 for key in answer.keyed_ids if key not in boundary)
        new = sum(1 for key in answer.new_ids if key not in boundary)
        loose = [row for row in answer.loose if row.get("id") not in self.keyless_ids]
        self.keyless_ids.update(row.get("id") for row in loose)
        emitted: list[Row] = []
        events: tuple[str, ...] = ()
        bookmark = None
        if answer.whole is not None:
            done, rows = answer.whole
            emitted, latest = self._emit_slice(rows)
            events = (f"{LABEL}: {done.describe()}: {len(emitted)} tickets",)
            bookmark = self.to_bookmark(latest) if latest is not None else None
        self._close_finished()
        notes = answer.notes
        if not self.plan and self.keyless_ids:
            notes += (
                f"{LABEL}: {len(self.keyless_ids)} tickets had no creationTime: they were "
                "emitted, and the bookmark ignores them",
            )
        step = Step(
            rows=own + len(loose),
            new=new + len(loose),
            bookmark=bookmark,
            fingerprint=answer.fingerprint,
            notes=notes,
            events=events,
        )
        return loose + emitted, step

    def _split(self, token: Slice, rows: list[Row]) -> tuple[list[Row], list[Row]]:
        """Rows with a creation time (checked to lie in the slice), and those without one."""
        keyed: list[Row] = []
        loose: list[Row] = []
        for row in rows:
            created = creation_time(row)
            if created is _EARLIEST:
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
        if not rows:
            return None
        first, last = rows[0].get("id"), rows[-1].get("id")
        return (token.start, token.end, token.attempt, len(rows), str(first), str(last))

    def _page(
        self, read: SliceRead, token: Slice, rows: list[Row], keyed: list[Row], answer: Answer
    ) -> None:
        if token.skip == 0:
            read.rows = {}
            read.first_page = {row.get("id"): row.get(ACTIVITY) for row in rows}
        elif read.anchor is not None and read.anchor not in {row.get("id") for row in rows}:
            self._read_again(read, token, "a ticket moved or vanished at a page edge", answer)
            return
        for row in keyed:
            read.rows[row.get("id")] = row  # a later read is the fresher one
        last_page = not rows or len(rows) < min(self.largest, self.take_size)
        self.largest = max(self.largest, len(rows))
        if last_page:
            if token.skip == 0:
                self._complete(read, token, answer)  # one answer: a snapshot
            else:
                read.next = replace(token, skip=0, recheck=True)
            return
        if token.end - token.start > MIN_SPAN:
            if len(read.rows) > self.max_rows:
                self._too_many(read, token)
                return
        elif len(read.rows) > self.max_instant_rows:
            raise ProviderError(
                LABEL,
                f"more than {self.max_instant_rows} tickets in {token.describe()}, a "
                "range that cannot be split further: the server's answers do not end",
            )
        overlap = 1 if len(rows) > 1 else 0
        read.anchor = rows[-1].get("id") if overlap else None
        read.next = replace(token, skip=token.skip + len(rows) - overlap)

    def _recheck(
        self, read: SliceRead, token: Slice, rows: list[Row], keyed: list[Row], answer: Answer
    ) -> None:
        first_page = read.first_page
        unchanged = any(
            row.get("id") in first_page and first_page[row.get("id")] == row.get(ACTIVITY)
            for row in rows
        )
        if not unchanged:
            self._read_again(read, token, "too many tickets moved to the top", answer)
            return
        for row in keyed:
            read.rows[row.get("id")] = row
        self._complete(read, replace(token, recheck=False, skip=0), answer)

    def _read_again(self, read: SliceRead, token: Slice, why: str, answer: Answer) -> None:
        self.rereads += 1
        read.rows = {}
        span = token.end - token.start
        if span > MIN_SPAN:
            self.width = span / 2
            half = Slice(token.start, token.start + self.width)
            self._replace(read, [SliceRead(half), Gap(half.end, token.end)])
        elif token.attempt + 1 < MAX_ATTEMPTS:
            again = Slice(token.start, token.end, attempt=token.attempt + 1)
            self._replace(read, [SliceRead(again)])
        else:
            raise ProviderError(
                LABEL,
                f"tickets in {token.describe()} kept moving while they were read "
                f"({MAX_ATTEMPTS} attempts); try again later",
            )
        answer.notes = (f"{LABEL}: {why} in {token.describe()}; reading it again",)

    def _too_many(self, read: SliceRead, token: Slice) -> None:
        # A slice must be held whole to be emitted in creation order: keep it bounded. What
        # was read is not wasted: those creation times say where tickets are, and the next
        # slices are cut so that none holds more than half a target of them.
        span = token.end - token.start
        held = sorted(creation_time(row) for row in read.rows.values())
        read.rows = {}
        self.rereads += 1
        self.known = held
        self.width = max(min(span * (self.target / len(held) / 2), span / 2), MIN_SPAN)
        self._replace(read, [Gap(token.start, token.end)])

    def _learn_density(self, token: Slice, count: int) -> None:
        # The next slice aims at `target` tickets at the density of this one, and grows at
        # most 4-fold (an empty or thin slice says little about what follows).
        span = token.end - token.start
        limit = max(span * MAX_GROWTH, MIN_SPAN)
        wanted = span * (self.target / count) if count else limit
        self.width = max(min(wanted, limit), MIN_SPAN)
        self.growing = wanted >= limit

    def _complete(self, read: SliceRead, token: Slice, answer: Answer) -> None:
        rows, read.rows = list(read.rows.values()), {}
        read.next = None
        answer.whole = (token, rows)
        self._learn_density(token, len(rows))

    def _emit_slice(self, rows: list[Row]) -> tuple[list[Row], str | None]:
        """A whole slice in its turn: its tickets not emitted before, by creation time."""
        self.slices += 1
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
        return fresh, latest

    # -- the plan ----------------------------------------------------------------------

    def _room_ahead(self, listed: int) -> bool:
        """Whether to cut one more slice ahead, `listed` requests being listed already.

        Once a slice was read whole at a density that sizes the next (not while slices
        still grow 4-fold: that growth is from the slice before, not yet read), and only
        while every read after the first is read whole too: the requests in flight then
        serve the next slice's pages, not first pages of slices whose turn is far (held,
        they would keep their places), and each slice is cut at the latest density.
        """
        if not self.slices or self.growing or listed > self.parallel:
            return False
        reads = [item for item in self.plan if isinstance(item, SliceRead)]
        return all(read.next is None and not read.failed for read in reads[1:])

    def _head(self) -> SliceRead | None:
        return next((item for item in self.plan if isinstance(item, SliceRead)), None)

    def _reading(self, token: Slice) -> SliceRead | None:
        """The open read whose next request `token` is."""
        return next(
            (item for item in self.plan if isinstance(item, SliceRead) and item.next == token),
            None,
        )

    def _cut(self, index: int) -> None:
        """The next slice from the front of the gap at `index`, at the latest density."""
        gap = self.plan[index]
        if not isinstance(gap, Gap):
            raise TypeError(f"{LABEL}: only a gap is cut into slices")
        end = min(gap.start + self.width, gap.end)
        self.known = self.known[bisect_right(self.known, gap.start) :]
        crowd = self.target // 2
        if len(self.known) > crowd:
            end = min(end, self.known[crowd])
        parts: list[SliceRead | Gap] = [SliceRead(Slice(gap.start, end))]
        if end < gap.end:
            parts.append(Gap(end, gap.end))
        self.plan[index : index + 1] = parts

    def _replace(self, read: SliceRead, parts: list[SliceRead | Gap]) -> None:
        """A failed read gives way to `parts` (a gap joins the gap after it, if any)."""
        index = next(i for i, item in enumerate(self.plan) if item is read)
        self.closed += read.pages
        after = self.plan[index + 1] if index + 1 < len(self.plan) else None
        last = parts[-1]
        if isinstance(last, Gap) and isinstance(after, Gap) and after.start == last.end:
            parts[-1] = Gap(last.start, after.end)
            self.plan[index : index + 2] = parts
        else:
            self.plan[index : index + 1] = parts
        if isinstance(self.plan[index], Gap):
            self._cut(index)
        first = self.plan[index]
        if not isinstance(first, SliceRead):
            raise TypeError(f"{LABEL}: a slice is cut from every gap")
        first.held = read.held  # emptied of tickets, handed out in their turn
        read.held = []
        read.successor = first

    def _close_finished(self) -> None:
        """Reads whose every answer is out leave the plan."""
        while self.plan:
            first = self.plan[0]
            if not isinstance(first, SliceRead) or first.next is not None or first.held:
                return
            self.closed += first.pages
            self.plan.pop(0)


__all__ = [
    "ACTIVITY",
    "MAX_ATTEMPTS",
    "CreationSlices",
    "Slice",
    "creation_time",
    "format_bound",
]
