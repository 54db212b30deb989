"""The windows of one Filum export walk: planned ahead, split in place, read in time order.

One at a time (max_concurrent_requests 1) this is the walk of old: the next window is
planned once every part of the last one is read, sized from its rows per day
(tap_helpdesk.windows.WindowPlanner does the same for ProProfs). With several requests in
flight, windows are planned ahead, up to one more than the width listed, each sized from
the rows per day the latest window in time has shown so far (nothing is planned ahead of
the first window: until one has been looked at there is no estimate; nor the last one when the
range ends today: tickets changed during the run land on today, so, as one at a time, it is
asked for once every window before it is read). A later window's
answer looked at ahead of its turn (`look`, the walk's `peek`) updates that estimate at
once and, if capped, puts its parts in the plan right after it; the capped window itself
stays listed, in its place, until it is read. A wrong estimate costs a split, never a
ticket: every window's rows are read, capped or not.

`pending` lists every window decided and not read, in time order: a capped window and its
parts overlap, and the first of them bounds how far the walk has got (`done_through`).
"""

from __future__ import annotations

import typing as t
from datetime import date, timedelta

from tap_helpdesk.windows import Window

if t.TYPE_CHECKING:
    from collections.abc import Callable

Answer = t.TypeVar("Answer")


class ExportPlan(t.Generic[Answer]):
    """Day windows over [first, last] (see the module doc)."""

    def __init__(
        self,
        first: date,
        last: date,
        *,
        max_days: int,
        target_rows: int,
        is_capped: Callable[[Answer], bool],
        rows_of: Callable[[Answer], int],
        refine: Callable[[Window[date], Answer], list[Window[date]] | None],
        hold_last: bool = False,
    ) -> None:
        """Windows of at most `max_days` aiming at `target_rows`; `refine` splits a capped one.

        `hold_last`: the window reaching `last` is planned only once every window before
        it is read (the range ends today, where tickets changed during the run land).
        """
        self.first, self.last = first, last
        self.max_days, self.target_rows = max(max_days, 1), target_rows
        self._is_capped, self._rows_of, self._refine = is_capped, rows_of, refine
        self.hold_last = hold_last
        #: the most requests in flight (windows are planned ahead only above 1)
        self.width = 1
        #: windows decided and not read, in time order
        self.pending: list[Window[date]] = []
        #: windows read so far
        self.settled = 0
        #: the first day not yet in a planned window
        self.cursor = first
        #: window -> the top-level window it is a part of
        self._top: dict[Window[date], Window[date]] = {}
        #: top-level window -> [rows, days] of its parts looked at (unfiltered ones only)
        self._seen: dict[Window[date], list[int]] = {}
        #: what became of windows looked at ahead of their turn (see `look`)
        self._looked: dict[Window[date], bool | None] = {}

    # -- planning ----------------------------------------------------------------------

    def ready(self) -> list[Window[date]]:
        """The windows to read, in time order, planned ahead up to the width (empty: done)."""
        while self.cursor <= self.last and self._plans_more():
            self._plan_window()
        return list(self.pending)

    def _plans_more(self) -> bool:
        if not self.pending:
            return True
        if self.hold_last and (self.last - self.cursor).days < self.span_limit():
            return False  # the last window waits for every window before it
        return self.width > 1 and len(self.pending) <= self.width and self.rows_per_day is not None

    def _plan_window(self) -> None:
        remaining = (self.last - self.cursor).days + 1
        count = -(-remaining // self.span_limit())
        span = -(-remaining // count)
        window: Window[date] = Window(self.cursor, self.cursor + timedelta(days=span - 1))
        self.cursor = window.end + timedelta(days=1)
        self.pending.append(window)
        self._top[window] = window
        self._seen[window] = [0, 0]

    @property
    def rows_per_day(self) -> float | None:
        """Rows per day of the latest top-level window in time with a part looked at."""
        for rows, days in reversed(self._seen.values()):
            if days:
                return rows / days
        return None

    def span_limit(self) -> int:
        """The most days the next window may cover, from the estimate."""
        density = self.rows_per_day
        if not density:
            return self.max_days
        return min(self.max_days, max(1, int(self.target_rows / density)))

    def windows_left(self) -> int:
        """Windows still to plan after those planned, at the estimate."""
        remaining = (self.last - self.cursor).days + 1
        return -(-remaining // self.span_limit()) if remaining > 0 else 0

    # -- answers -----------------------------------------------------------------------

    def looked(self, window: Window[date]) -> bool:
        """Whether the window's answer was looked at ahead of its turn."""
        return window in self._looked

    def look(self, window: Window[date], answer: Answer) -> bool | None:
        """Take in what an answer showed, ahead of its turn or in it (once per window).

        Returns None when the window is capped and split (its parts follow it in
        `pending`), else whether it is complete (False: capped and cannot be split).
        """
        if window in self._looked:
            return self._looked[window]
        outcome: bool | None = True
        if self._is_capped(answer):
            parts = self._refine(window, answer)
            if parts:
                place = self.pending.index(window) + 1
                self.pending[place:place] = parts
                for part in parts:
                    self._top[part] = self._top[window]
                outcome = None
            else:
                outcome = False
        if outcome is not None and not window.filters:
            seen = self._seen[self._top[window]]
            seen[0] += self._rows_of(answer)
            seen[1] += (window.end - window.start).days + 1
        self._looked[window] = outcome
        return outcome

    def settle(self, window: Window[date], answer: Answer) -> bool | None:
        """The window is read: what became of it (as `look` says), and it leaves `pending`."""
        outcome = self.look(window, answer)
        del self._looked[window]
        self.pending.remove(window)
        self._top.pop(window, None)
        self.settled += 1
        return outcome

    @property
    def done_through(self) -> date | None:
        """The latest day such that every window up to it is read (None: none yet)."""
        if self.pending:
            return self.pending[0].start - timedelta(days=1)
        return self.cursor - timedelta(days=1) if self.cursor > self.first else None


__all__ = ["ExportPlan"]
