"""Date windows: slicing a range into API-sized windows and splitting a window that hit a cap.

Several providers answer only for a bounded range (Filum: 90 days, ProProfs: 3 months,
Socialboards: whatever range we choose) and some truncate silently at a row cap (Filum:
5000). The walk below keeps the windows still to fetch in time order: a window whose answer
may be truncated is replaced, in place, by its refinements (halves, then per-filter-value
slices) until every leaf is complete, or the caller is told that a leaf cannot be split
any further. A capped window
can also be cut from the rows per day its answer showed (split_by_density). A planner sizes
the windows from the rows the earlier ones held, so that dense data is cut into windows that
fit under the cap rather than windows that must be split.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

Moment = t.TypeVar("Moment", date, datetime)
Page = t.TypeVar("Page")


@dataclass(frozen=True)
class Window(t.Generic[Moment]):
    """A closed range [start, end] of dates or datetimes, plus optional list filters."""

    start: Moment
    end: Moment
    filters: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())

    def describe(self) -> str:
        """Human-readable window for log and error lines."""
        text = f"{self.start.isoformat()}..{self.end.isoformat()}"
        for name, values in self.filters:
            text += f" {name}={','.join(values)}"
        return text

    def with_filter(self, name: str, values: t.Sequence[str]) -> Window[Moment]:
        """The same range narrowed to `name` in `values`."""
        return replace(self, filters=(*self.filters, (name, tuple(values))))

    @property
    def filter_names(self) -> set[str]:
        """Filters already applied to this window."""
        return {name for name, _values in self.filters}


def add_months(moment: Moment, months: int) -> Moment:
    """Calendar month arithmetic, clamping the day (Jan 31 + 1 month -> Feb 28/29)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    days_in_month = [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    return moment.replace(year=year, month=month, day=min(moment.day, days_in_month))


def halves(window: Window[Moment]) -> list[Window[Moment]] | None:
    """Split a window in two by time, or None when it is a single day (dates) or second."""
    is_date = not isinstance(window.start, datetime)
    unit = timedelta(days=1) if is_date else timedelta(seconds=1)
    if window.end - window.start < unit:
        return None
    span = window.end - window.start
    middle = window.start + (timedelta(days=span.days // 2) if is_date else span / 2)
    return [replace(window, end=middle), replace(window, start=middle + unit)]


def isolate(window: Window[Moment], moment: Moment) -> list[Window[Moment]] | None:
    """Split a window into [start, moment), [moment], (moment, end], dropping empty parts.

    For a capped window whose rows crowd onto one day (a sale, an outage): that day is
    asked for alone, and the quiet days around it in at most two more requests, where
    halving would take two requests per level down to the day. None when the window is
    that single day.
    """
    is_date = not isinstance(window.start, datetime)
    unit = timedelta(days=1) if is_date else timedelta(seconds=1)
    if not window.start <= moment <= window.end or window.start == window.end:
        return None
    parts = [
        replace(window, end=moment - unit) if window.start < moment else None,
        replace(window, start=moment, end=moment),
        replace(window, start=moment + unit) if moment < window.end else None,
    ]
    return [part for part in parts if part is not None]


def split_by_density(
    window: Window[date],
    rows_per_day: t.Mapping[date, int],
    *,
    capacity: int,
    target: int,
) -> list[Window[date]] | None:
    """Consecutive parts of a capped window, each sized to fit under the cap.

    A capped answer shows some days whole and others cut. When its rows leave out the
    window's first days (the export kept the newest rows), every day after its earliest day
    is whole, that day is cut and the days before are unknown; when they leave out the last
    days, the mirror. Whole days are packed by their own counts, up to `capacity` rows a
    part. Unknown days are taken at the whole days' density, planned for `target` rows a
    part (the margin absorbs a busier stretch); the cut day goes with them, unless it
    showed half a cap or more, when it is asked for alone. Days are never split. None when
    the rows span the whole window (a sample: no day is known whole) or no day is whole.
    """
    seen = sorted(d for d, rows in rows_per_day.items() if rows and window.start <= d <= window.end)
    if not seen or window.start == window.end:
        return None
    one = timedelta(days=1)
    first, last = seen[0], seen[-1]
    if first > window.start:  # the newest rows were kept
        cut, whole = first, _days(first + one, window.end)
        unknown = _days(window.start, first - one)
    elif last < window.end:  # the oldest rows were kept
        cut, whole = last, _days(window.start, last - one)
        unknown = _days(last + one, window.end)
    else:
        return None
    if not whole:
        return None
    density = sum(rows_per_day.get(d, 0) for d in whole) / len(whole)
    scale = capacity / max(target, 1)
    weights = {d: float(rows_per_day.get(d, 0)) for d in whole}
    weights.update(dict.fromkeys(unknown, density * scale))
    weights[cut] = max(rows_per_day.get(cut, 0), density) * scale
    if rows_per_day.get(cut, 0) * 2 >= capacity:
        estimated = [unknown, [cut]]
    else:
        estimated = [sorted([*unknown, cut])]
    runs = [*estimated, whole] if cut == first else [whole, *reversed(estimated)]
    parts: list[Window[date]] = []
    for run in runs:
        if run:
            parts += _pack(window, run, weights, capacity)
    return parts


def _pack(
    window: Window[date], days: list[date], weights: t.Mapping[date, float], capacity: int
) -> list[Window[date]]:
    """Consecutive `days` in as few parts as keep each within `capacity`, of even weight.

    Packing greedily gives the fewest parts but a small last one; the same number of parts
    cut at the day boundaries nearest to even shares keeps every part as far from the cap
    as it can be (kept only when no part is then over capacity).
    """
    greedy: list[list[date]] = []
    run, load = [days[0]], weights[days[0]]
    for current in days[1:]:
        if load + weights[current] > capacity:
            greedy.append(run)
            run, load = [], 0.0
        run.append(current)
        load += weights[current]
    greedy.append(run)
    share = sum(weights[d] for d in days) / len(greedy)
    even: list[list[date]] = []
    run, load = [], 0.0
    for current in days:
        goal = share * (len(even) + 1)
        if run and len(even) < len(greedy) - 1 and load + weights[current] / 2 > goal:
            even.append(run)
            run = []
        run.append(current)
        load += weights[current]
    even.append(run)
    fits = all(len(r) == 1 or sum(weights[d] for d in r) <= capacity for r in even)
    runs = even if fits and len(even) == len(greedy) else greedy
    return [replace(window, start=r[0], end=r[-1]) for r in runs]


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def split_filter(
    window: Window[Moment],
    name: str,
    values: t.Sequence[str],
    weights: t.Mapping[str, int] | None = None,
) -> list[Window[Moment]] | None:
    """Split a window in two by the values of one list filter, or None when one value is left.

    The window's own values for `name` are split when it already has that filter, else
    `values`. `weights` (say, rows per value in the truncated answer) balance the two parts
    so that each is as far from the cap as possible; each part keeps the values' order.
    """
    current = dict(window.filters).get(name)
    pool = list(dict.fromkeys(current if current is not None else values))
    if len(pool) < 2:
        return None
    weight = weights or {}
    groups: list[list[str]] = [[], []]
    totals = [0, 0]
    for value in sorted(pool, key=lambda v: -weight.get(v, 0)):
        side = min((0, 1), key=lambda i: (totals[i], len(groups[i])))
        groups[side].append(value)
        totals[side] += weight.get(value, 0)
    parts = sorted(
        ([v for v in pool if v in group] for group in groups), key=lambda g: pool.index(g[0])
    )
    return [_with_values(window, name, part) for part in parts]


def _with_values(window: Window[Moment], name: str, values: t.Sequence[str]) -> Window[Moment]:
    if name not in window.filter_names:
        return window.with_filter(name, values)
    filters = tuple((n, tuple(values)) if n == name else (n, v) for n, v in window.filters)
    return replace(window, filters=filters)


class WindowPlanner:
    """Date windows over [start, end] of at most `max_days`, sized from the rows seen so far.

    Knowing nothing, it slices into the fewest windows, of even size. After
    each window it knows how many rows per day that window held, and sizes the rest so that
    one window should hold about `target_rows` (say 80% of a row cap): dense data gets
    windows that fit under the cap instead of windows that must be split, sparse data keeps
    the widest windows. Call `observe` with every leaf of `WindowWalk` (the windows and
    rows that complete the current window). Leaves narrowed by a filter belong to a day too
    busy for any window: such days are left out of the estimate, as they say nothing about
    the days around them.
    """

    def __init__(
        self, start: date, end: date, max_days: int, target_rows: int | None = None
    ) -> None:
        """Windows over `start`..`end`, at most `max_days` long, aiming at `target_rows`."""
        self.start = start
        self.end = end
        self.max_days = max(max_days, 1)
        self.target_rows = target_rows
        self._rows = 0
        self._busy_days: set[date] = set()
        self._rows_per_day = 0.0

    def observe(self, window: Window[date], rows: int) -> None:
        """Count the rows of one leaf of the current window."""
        if window.filters:
            self._busy_days.add(window.start)
        else:
            self._rows += rows

    def span_limit(self) -> int:
        """The most days the next window may cover, from the density seen so far."""
        limit = self.max_days
        if self.target_rows and self._rows_per_day > 0:
            limit = min(limit, max(1, int(self.target_rows / self._rows_per_day)))
        return limit

    def windows_left(self, after: date | None) -> int:
        """Windows still to come after the day `after` (None: all), at today's density."""
        first = self.start if after is None else max(self.start, after + timedelta(days=1))
        remaining = (self.end - first).days + 1
        return -(-remaining // self.span_limit()) if remaining > 0 else 0

    def __iter__(self) -> t.Iterator[Window[date]]:
        """The windows, each sized from the density of the ones before."""
        cursor = self.start
        while cursor <= self.end:
            remaining = (self.end - cursor).days + 1
            count = -(-remaining // self.span_limit())
            span = -(-remaining // count)
            window: Window[date] = Window(cursor, cursor + timedelta(days=span - 1))
            self._rows, self._busy_days = 0, set()
            yield window
            self._rows_per_day = self._rows / max(span - len(self._busy_days), 1)
            cursor = window.end + timedelta(days=1)


class WindowWalk(t.Generic[Moment, Page]):
    """Which windows to fetch; a truncated one is replaced by its refinements, in place.

    `ready()` lists the windows that can be fetched now, in time order: the leaves of the
    current top-level window not yet settled (the parts of a split window are independent
    of each other), or, once they are all settled, the next top-level window. Top-level
    windows are taken from `windows` one at a time, so a `WindowPlanner` can size each
    from the ones before. `settle(window, page)` reports an answer (in the order `ready()`
    gave) and says whether it was a leaf, complete or still truncated after every
    refinement (the caller decides whether that is an error). `done_through` says how far
    the walk has got, for a bookmark that never skips a window.
    """

    def __init__(
        self,
        windows: t.Iterable[Window[Moment]],
        *,
        is_truncated: t.Callable[[Page], bool],
        refine: t.Callable[[Window[Moment], Page], list[Window[Moment]] | None],
    ) -> None:
        """Walk `windows`; `refine` splits a window whose page `is_truncated`."""
        self._windows: t.Iterator[Window[Moment]] = iter(windows)
        self._is_truncated: t.Callable[[Page], bool] = is_truncated
        self._refine: t.Callable[[Window[Moment], Page], list[Window[Moment]] | None] = refine
        #: leaves of the current top-level window still to settle, in time order
        self._pending: list[Window[Moment]] = []
        self._finished = False
        #: the top-level window being walked
        self.top: Window[Moment] | None = None
        #: windows settled so far
        self.settled = 0

    def ready(self) -> list[Window[Moment]]:
        """The windows that can be fetched now, in time order (empty: the walk is done)."""
        if not self._pending and not self._finished:
            top = next(self._windows, None)
            if top is None:
                self._finished = True
            else:
                self.top = top
                self._pending = [top]
        return list(self._pending)

    def settle(self, window: Window[Moment], page: Page) -> bool | None:
        """Report the answer to `window`, and say what became of it.

        None when it was replaced by its refinements, else whether the leaf is complete
        (False: still truncated, and cannot be split).
        """
        index = self._pending.index(window)
        self.settled += 1
        if not self._is_truncated(page):
            del self._pending[index]
            return True
        children = self._refine(window, page)
        if children:
            self._pending[index : index + 1] = children
            return None
        del self._pending[index]
        return False

    @property
    def pending(self) -> int:
        """Windows of the current top-level window decided but not settled."""
        return len(self._pending)

    @property
    def done_through(self) -> Moment | None:
        """The latest moment M such that every window up to M has been settled."""
        if self.top is None:
            return None
        if not self._pending:
            return self.top.end
        unit = timedelta(seconds=1) if isinstance(self.top.start, datetime) else timedelta(days=1)
        moment: Moment = self._pending[0].start - unit
        return moment
