"""The plan of the creation-time slices walk: the reads in creation order, side by side.

SlicePlan holds the range as slices being read and gaps not cut yet, cuts slices ahead
when several requests are in flight (plan_for, ready), holds the answers of later slices
digested ahead of their turn (peek), and gives a failed read's place to the reads that
replace it. What an answer tells its slice's read is slices.CreationSlices'.
"""

from __future__ import annotations

import abc
import math
import typing as t
from bisect import bisect_right
from dataclasses import dataclass, field

from tap_helpdesk.errors import ProviderError
from tap_helpdesk.providers.socialboards.bounds import (
    FIRST_WIDTH,
    LABEL,
    MIN_SPAN,
    WIDE_TARGET,
    Row,
    Slice,
)
from tap_helpdesk.walk import Walk

if t.TYPE_CHECKING:
    from collections.abc import Callable, Hashable
    from datetime import datetime

    import requests


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


class SlicePlan(Walk[Slice]):
    """The slices of [start, end] in creation order, and which requests they list when.

    The plan is the range as reads of slices and gaps not cut into slices yet. One at a
    time, only the first read lists its next request; side by side (`plan_for`), slices
    are cut ahead and an answer of a later one is digested early (`peek`) and held in its
    place (see CreationSlices).
    """

    def __init__(
        self,
        start: datetime,
        end: datetime,
        *,
        parse: Callable[[requests.Response], list[Row]],
        target: int,
        max_rows: int,
        max_instant_rows: int,
        take: int,
    ) -> None:
        """Plan [start, end]: its first slice, and the rest not cut yet."""
        self.begin = start
        self.end = end
        self.parse = parse
        self.target = self.base_target = target
        self.max_rows = max_rows
        self.max_instant_rows = max_instant_rows
        self.take_size = take
        self.width = FIRST_WIDTH  # of the next slice
        first = Slice(start, min(start + self.width, end))
        #: the range in creation order: slices being read, and the parts not cut yet
        self.plan: list[SliceRead | Gap] = [SliceRead(first)]
        if first.end < end:
            self.plan.append(Gap(first.end, end))
        self.parallel = 1  # requests in flight planned for (plan_for)
        self.largest = 0  # most rows in one answer so far: the server's page size
        self.known: list[datetime] = []  # creation times seen ahead, in a slice too large
        self.slices = 0  # slices read whole and emitted
        self.closed = 0  # answers digested by reads no longer open (emitted or replaced)
        self.growing = True  # the last slice read whole was thin: the next grows 4-fold
        self._taken: dict[Slice, Answer] = {}  # digested ahead of their turn

    # -- planned ahead -----------------------------------------------------------------

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

    @abc.abstractmethod
    def _digest(self, read: SliceRead, token: Slice, rows: list[Row]) -> Answer:
        """What the answer to `token` tells its slice's read (the read moves on)."""

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


__all__ = ["Answer", "Gap", "SlicePlan", "SliceRead"]
