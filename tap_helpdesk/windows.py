"""Date windows: slicing a range into API-sized windows and splitting a window that hit a cap.

Several providers answer only for a bounded range (Filum: 90 days, ProProfs: 3 months,
Socialboards: whatever range we choose) and some truncate silently at a row cap (Filum:
5000). The walk below keeps a stack of windows: a window whose answer may be truncated is
replaced by its refinements (halves, then per-filter-value slices) until every leaf is
complete, or the caller is told that a leaf cannot be split any further.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

Moment = t.TypeVar("Moment", date, datetime)
Row = t.TypeVar("Row")


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


def even_windows(start: Moment, end: Moment, max_span: timedelta) -> list[Window[Moment]]:
    """Slice [start, end] into the fewest windows of at most `max_span`, of even size.

    For dates both ends are inclusive and `max_span` counts days (90 days: start..start+89).
    Even sizes keep every window as far from a row cap as the fewest requests allow.
    """
    if end < start:
        return []
    if not isinstance(start, datetime):
        days = (end - start).days + 1
        count = -(-days // max(max_span.days, 1))
        base, extra = divmod(days, count)
        windows: list[Window[Moment]] = []
        cursor = start
        for index in range(count):
            length = base + (1 if index < extra else 0)
            windows.append(Window(cursor, cursor + timedelta(days=length - 1)))
            cursor += timedelta(days=length)
        return windows
    count = max(1, -(-t.cast("timedelta", end - start) // max_span))
    span = t.cast("timedelta", end - start) / count
    edges = [start + span * index for index in range(count)] + [end]
    return [Window(edges[i], edges[i + 1]) for i in range(count)]


def add_months(moment: Moment, months: int) -> Moment:
    """Calendar month arithmetic, clamping the day (Jan 31 + 1 month -> Feb 28/29)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    days_in_month = [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    return moment.replace(year=year, month=month, day=min(moment.day, days_in_month))


def month_windows(start: Moment, end: Moment, months: int) -> list[Window[Moment]]:
    """Slice [start, end] into consecutive windows of at most `months` calendar months."""
    windows: list[Window[Moment]] = []
    cursor = start
    step = timedelta(days=1) if not isinstance(start, datetime) else timedelta(seconds=1)
    while cursor <= end:
        stop = min(add_months(cursor, months) - step, end)
        windows.append(Window(cursor, stop))
        cursor = stop + step
    return windows


def halves(window: Window[Moment]) -> list[Window[Moment]] | None:
    """Split a window in two by time, or None when it is a single day (dates) or second."""
    is_date = not isinstance(window.start, datetime)
    unit = timedelta(days=1) if is_date else timedelta(seconds=1)
    if window.end - window.start < unit:
        return None
    span = window.end - window.start
    middle = window.start + (timedelta(days=span.days // 2) if is_date else span / 2)
    return [replace(window, end=middle), replace(window, start=middle + unit)]


class CapExceeded(Exception):
    """A window still returns a full (possibly truncated) result and cannot be split."""

    def __init__(self, window: Window[t.Any]) -> None:
        super().__init__(window.describe())
        self.window = window


def walk_windows(
    windows: t.Iterable[Window[Moment]],
    fetch: t.Callable[[Window[Moment]], list[Row]],
    *,
    is_truncated: t.Callable[[list[Row]], bool],
    refine: t.Callable[[Window[Moment]], list[Window[Moment]] | None],
) -> t.Iterator[tuple[Window[Moment], list[Row], bool]]:
    """Fetch each window; replace any truncated one by its refinements, depth first.

    Yields `(window, rows, complete)`. `complete` is False only for a leaf that is still
    truncated after every refinement: the caller decides whether that is an error. Windows
    are yielded in time order, so a caller can bookmark after each complete window.
    """
    stack = list(reversed(list(windows)))
    while stack:
        window = stack.pop()
        rows = fetch(window)
        if not is_truncated(rows):
            yield window, rows, True
            continue
        children = refine(window)
        if not children:
            yield window, rows, False
            continue
        stack.extend(reversed(children))
