"""The creation-time slices walk of POST /tickets/list (see CreationSlices).

The plan of its slices, side by side, and the answers held ahead of their turn are
plan.SlicePlan's; this module reads each answer into its slice and emits a slice whole.
"""

from __future__ import annotations

import typing as t
from dataclasses import replace

from tap_helpdesk.errors import ProviderError
from tap_helpdesk.providers.socialboards.bounds import (
    ACTIVITY,
    EARLIEST,
    LABEL,
    MAX_ATTEMPTS,
    MAX_GROWTH,
    MAX_INSTANT_ROWS,
    MAX_SLICE_ROWS,
    MIN_SPAN,
    TAKE,
    TARGET_ROWS,
    Row,
    Slice,
    creation_time,
    rows_unread,
)
from tap_helpdesk.providers.socialboards.plan import Answer, Gap, SlicePlan, SliceRead
from tap_helpdesk.timestamps import to_utc
from tap_helpdesk.walk import Step

if t.TYPE_CHECKING:
    from collections.abc import Callable, Generator, Hashable, Mapping
    from datetime import datetime

    import requests


class CreationSlices(SlicePlan):
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
        super().__init__(
            start,
            end,
            parse=parse,
            target=target,
            max_rows=max_rows,
            max_instant_rows=max_instant_rows,
            take=take,
        )
        self.to_bookmark = to_bookmark
        #: id -> activity of tickets this run emitted already (the activity walk): a slice
        #: leaves them out unless their activity changed since
        self.emitted: Mapping[t.Any, t.Any] = emitted if emitted is not None else {}
        self.boundary_ids: set[t.Any] = set()  # ids of the last slice: they share its end
        self.keyless_ids: set[t.Any] = set()  # rows without a creation time, emitted once
        self.requests = self.rereads = 0

    # -- the walk contract -------------------------------------------------------------

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

    def read(self, token: Slice, response: requests.Response) -> Generator[Row, None, Step]:
        """The tickets to emit from one answer (a slice's, when it is complete)."""
        answer = self._taken.pop(token, None)
        if answer is None:
            emitted, step = self.take(token, self.parse(response))
        else:
            emitted, step = self._finish(token, answer)
        yield from emitted
        return step

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
            if created is EARLIEST:
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


__all__ = ["CreationSlices"]
