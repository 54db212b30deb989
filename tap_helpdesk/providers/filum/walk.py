"""Filum CX's walk: the export range in day windows, capped windows split in parts.

POST /external/tickets/export answers with every ticket of a day range at once, with no
paging, at most 5000 rows (a full answer may have been cut with no sign), and a range of
more than 90 days is silently shortened (provider-docs/filum-tickets-export). So the range
is walked in windows of at most 90 days (tap_helpdesk.windows), sized from the rows per day
seen so far, and a window that comes back with 5000 rows is asked for again in parts
(around its busiest day, or in halves) down to one day, then by status, then by priority,
until no part is at the cap. The parts of a split window are independent: `ready()` hands
them out together, in time order.

The docs do not say which date the range applies to (created_at or updated_at); the
answers tell (`learn_filter_field`). The bookmark is the latest value of that date seen in
the rows, moved only once every window up to its day is complete; until the date is
known it is the latest created_at, which is never later than the ticket's updated_at, so
it holds under either reading.
"""

from __future__ import annotations

import typing as t
from collections import Counter
from datetime import date, datetime, time, timedelta, timezone

from tap_helpdesk.errors import ProviderError
from tap_helpdesk.providers.filum.answers import (
    DAY_FIELDS,
    DEFAULT_BOOKMARK_FIELD,
    PRIORITIES,
    ROW_CAP,
    STATUSES,
    ExportAnswer,
    RecentTickets,
    Record,
    answer_fingerprint,
    filter_values,
)
from tap_helpdesk.providers.filum.decoding import CHUNK_BYTES, HeldBody
from tap_helpdesk.providers.filum.plan import ExportPlan
from tap_helpdesk.providers.filum.records import LABEL
from tap_helpdesk.walk import Step, Walk
from tap_helpdesk.windows import (
    Window,
    halves,
    isolate,
    split_by_density,
    split_filter,
)

if t.TYPE_CHECKING:
    from collections.abc import Callable, Generator, Hashable, Iterable, Iterator
    from datetime import tzinfo

    import requests

MAX_WINDOW_DAYS = 90  # a longer range is silently shortened to end_date - 90 days
#: Rows to plan a window for where the density is estimated (95% of the cap): a
#: busier stretch costs one more request, never data.
TARGET_ROWS = 4750


class FilumWalk(Walk[Window[date]]):
    """The export walk of one run over the days [first, last] of the Filum zone."""

    def __init__(
        self,
        first: date,
        last: date,
        zone: tzinfo,
        records: Callable[[requests.Response, Iterable[bytes] | None], Iterator[Record]],
        *,
        filter_field: str | None = None,
        warn_unsplittable: bool = False,
        read_whole: Callable[[requests.Response], None] = lambda response: None,
        ends_today: bool = False,
    ) -> None:
        """Walk [first, last] with `records` decoding each answer.

        `filter_field` is the date the export range applies to, as an earlier run learned
        it; `read_whole(response)` is told of an answer read to its end ahead of its turn;
        `ends_today`: `last` is today, whose window is asked for after every other.
        """
        self.first, self.last, self.zone = first, last, zone

        self.records = records
        self.read_whole = read_whole
        #: the date the export range applies to, once an answer has shown it
        self.filter_field = filter_field
        self.warn_unsplittable = warn_unsplittable
        self.plan: ExportPlan[ExportAnswer] = ExportPlan(
            first,
            last,
            max_days=MAX_WINDOW_DAYS,
            target_rows=TARGET_ROWS,
            is_capped=lambda answer: answer.rows >= ROW_CAP,
            rows_of=lambda answer: answer.rows,
            refine=self.refine,
            hold_last=ends_today,
        )
        self.recent = RecentTickets()
        #: per day field, the latest value of each answer not yet behind done_through
        self._latest: dict[str, list[str]] = {name: [] for name in DAY_FIELDS}
        #: per day field, the latest value of the rows of the windows complete so far
        self._complete: dict[str, str] = {}
        #: bodies of answers read ahead of their turn, and what reading one raised
        self._held: dict[Window[date], HeldBody] = {}
        self._failed: dict[Window[date], Exception] = {}

    # -- the walk contract -------------------------------------------------------------

    def plan_for(self, width: int) -> None:
        """Plan windows ahead for `width` requests in flight (plan.py)."""
        self.plan.width = max(width, 1)

    def ready(self) -> list[Window[date]]:
        """The windows decided and not read, in time order; planned ahead above width 1.

        One at a time: the parts of the current window, or the next window, sized from
        the rows per day of the one before.
        """
        return self.plan.ready()

    def identity(self, token: Window[date]) -> Hashable:
        """A window and its filters."""
        return token

    def describe(self, token: Window[date]) -> str:
        """`day 2024-11-11 (statuses=open, priorities=high)` or `days 2024-01-01..2024-03-30`."""
        return describe(token)

    def request_limit(self) -> int:
        """The windows read, those decided, and the windows the rest will take.

        The rest is sized at the density seen so far (it grows when a window is split).
        """
        return self.plan.settled + len(self.plan.pending) + self.plan.windows_left()

    def position(self) -> tuple[str, float | None] | None:
        """The last day exported, and the share of the range up to it."""
        done = self.plan.done_through
        total = (self.last - self.first).days + 1
        if done is None or total <= 0:
            return (f"days {self.first}..{self.last}", 0.0)
        return (f"exported through {done}", min(((done - self.first).days + 1) / total, 1.0))

    def read(
        self, token: Window[date], response: requests.Response
    ) -> Generator[Record, None, Step]:
        """The rows of one export not emitted before, as they arrive; then what it told."""
        failed = self._failed.pop(token, None)
        if failed is not None:  # met while it was read ahead of its turn: raised in order
            raise failed
        held = self._held.pop(token, None)
        self.recent.forget_before(self.day_start_utc(token.start), self.filter_field)
        answer = ExportAnswer()
        count, is_new = answer.count, self.recent.is_new
        new = 0
        first: Record | None = None
        record: Record | None = None
        # Rows are emitted as they arrive: a capped answer's rows are real tickets too,
        # and its parts bring them again, unchanged, to be dropped here.
        for record in self.records(response, held.chunks() if held else None):
            count(record)
            if first is None:
                first = record
            if is_new(record):
                new += 1
                yield record
        return self.settle(token, answer, new, answer_fingerprint(answer, first, record))

    def peek(self, token: Window[date], response: requests.Response) -> bool:
        """A later window's answer, arrived early: read it whole, plan from it.

        Its body is read at once (its request_timeout is not spent waiting for its turn)
        and kept, compressed, for its turn, when its rows are emitted. Its rows per day
        update the estimate the next windows are planned from, and a capped one is split
        at once (plan.py): only once the date the range applies to is known. Before, an
        answer is checked against its range under both dates, and nothing is planned from
        it until its turn (its days could be read from the wrong date). An answer outside
        its range is not taken in: its turn raises, before any of its rows goes out.

        Returns:
            Whether the plan changed.
        """
        if token not in self.plan.pending or self.plan.looked(token):
            return False
        if token in self._held or token in self._failed:
            return False
        held, answer = HeldBody(), ExportAnswer()
        try:
            for record in self.records(response, held.tee(response.iter_content(CHUNK_BYTES))):
                answer.count(record)
        except Exception as exc:  # any error is the answer's: raised in its turn, in order
            self._failed[token] = exc
            return False
        self.read_whole(response)
        outside = self.outside_range(token, answer)
        if outside:
            self._failed[token] = ProviderError(LABEL, outside)
            return False
        self._held[token] = held
        if self.filter_field is None:
            return False
        self.plan.look(token, answer)
        return True

    # -- one answer --------------------------------------------------------------------

    def settle(
        self, window: Window[date], answer: ExportAnswer, new: int, fingerprint: Hashable | None
    ) -> Step:
        """Account for one answer: split it if capped, learn, move the bookmark."""
        events = [f"{LABEL}: {describe(window)} -> {answer.rows} rows"]
        outside = self.outside_range(window, answer)
        if outside:
            raise ProviderError(LABEL, outside)
        learned = self.learn_filter_field(window, answer)
        if learned:
            events.append(learned)
        for name, values in self._latest.items():
            value = answer.latest(name)
            if value:
                values.append(value)
        complete = self.plan.settle(window, answer)
        notes: tuple[str, ...] = ()
        if complete is False:
            notes = (self.cap_exceeded(window, answer),)
        return Step(
            rows=answer.rows,
            new=new,
            bookmark=self.bookmark(),
            # two parts of a capped window may legitimately hold the same rows
            fingerprint=None if answer.rows >= ROW_CAP else fingerprint,
            notes=notes,
            events=tuple(events),
        )

    def outside_range(self, window: Window[date], answer: ExportAnswer) -> str | None:
        """Why an answer cannot be the export of its window, or None.

        A row whose date the range applies to (either date, until that is known) falls
        more than a day outside the window: the server ignored the range. A day's margin
        leaves room for a zone setting that differs from the provider's.
        """
        names = (self.filter_field,) if self.filter_field else DAY_FIELDS
        earliest = window.start - timedelta(days=1)
        latest = window.end + timedelta(days=1)
        spans = {name: self.span_of(answer, name) for name in names}
        if not any(spans.values()):
            return None
        for span in spans.values():
            if span and earliest <= span[0] and span[1] <= latest:
                return None
        name, (first, last) = next((n, s) for n, s in spans.items() if s)
        which = name if self.filter_field else " or ".join(names)
        return (
            f"the answer to {describe(window)} holds tickets whose {which} is on "
            f"{first if first < earliest else last}, outside the range asked for: the "
            "server ignored the export's date range"
        )

    def span_of(self, answer: ExportAnswer, name: str) -> tuple[date, date] | None:
        """The Filum-zone days of the earliest and latest value of one of DAY_FIELDS."""
        first, last = answer.earliest(name), answer.latest(name)
        if first is None or last is None:
            return None
        return (self.zone_day(first), self.zone_day(last))

    def zone_day(self, value: str) -> date:
        """The Filum-zone day of an ISO 8601 UTC time."""
        return datetime.fromisoformat(value).astimezone(self.zone).date()

    @property
    def bookmark_field(self) -> str:
        """The record field whose values the bookmark holds."""
        return self.filter_field or DEFAULT_BOOKMARK_FIELD

    def bookmark(self) -> str | None:
        """The latest bookmark field value among the rows of the windows complete so far.

        Only values on a day no later than the last complete one count (None: none yet).
        """
        done = self.plan.done_through
        if done is None:
            return None
        bound = self.day_start_utc(done + timedelta(days=1))
        for name, values in self._latest.items():
            behind = [value for value in values if value < bound]
            if behind:
                self._complete[name] = max(self._complete.get(name, ""), *behind)
                values[:] = [value for value in values if value >= bound]
        return self._complete.get(self.bookmark_field)

    def day_start_utc(self, day: date) -> str:
        """The first moment of a Filum-zone day, as ISO 8601 UTC text."""
        return datetime.combine(day, time(), tzinfo=self.zone).astimezone(timezone.utc).isoformat()

    # -- splitting ---------------------------------------------------------------------

    def refine(self, window: Window[date], answer: ExportAnswer) -> list[Window[date]] | None:
        """A capped window in parts sized from its rows per day.

        Around its busiest day, or in halves when they do not tell; one day by statuses,
        then by priorities.
        """
        days = self.rows_per_day(window, answer)
        parts = split_by_density(window, days, capacity=ROW_CAP - 1, target=TARGET_ROWS)
        if parts:
            return parts
        busiest = max(days, key=days.__getitem__) if days else None
        if busiest is not None and days[busiest] * 2 < answer.rows:
            busiest = None
        parts = (isolate(window, busiest) if busiest else None) or halves(window)
        if parts:
            return parts
        if "priorities" not in window.filter_names:
            statuses = filter_values(STATUSES, answer.statuses)
            parts = split_filter(window, "statuses", statuses, answer.statuses)
            if parts:
                return parts
            if answer.without_priority:  # no priority filter would select these tickets
                return None
        priorities = filter_values(PRIORITIES, answer.priorities)
        return split_filter(window, "priorities", priorities, answer.priorities)

    def rows_per_day(self, window: Window[date], answer: ExportAnswer) -> Counter[date]:
        """Rows per Filum-zone day of a capped answer, or nothing for a one-day window.

        Days are read from the date the API filters on: the one learned, else whichever of
        created_at and updated_at falls inside the window for every row.
        """
        if window.start == window.end:
            return Counter()
        for name in (self.filter_field,) if self.filter_field else DAY_FIELDS:
            days = self.days_of(answer, name)
            if days and window.start <= min(days) and max(days) <= window.end:
                return days
        return Counter()

    def days_of(self, answer: ExportAnswer, name: str) -> Counter[date]:
        """Rows per Filum-zone day of one of the answer's DAY_FIELDS."""
        days: Counter[date] = Counter()
        for hour, rows in answer.hours(name).items():
            moment = datetime.fromisoformat(f"{hour}:00:00+00:00")
            days[moment.astimezone(self.zone).date()] += rows
        return days

    def learn_filter_field(self, window: Window[date], answer: ExportAnswer) -> str | None:
        """Which date the export range applies to (undocumented), once an answer shows it.

        It shows when every row's created_at falls inside the window and some updated_at
        does not, or the reverse. Returns the line that says so.
        """
        if self.filter_field is not None or not answer.rows:
            return None
        spans = {name: self.days_of(answer, name) for name in DAY_FIELDS}
        if not all(spans.values()):
            return None
        inside = [
            name
            for name, days in spans.items()
            if window.start <= min(days) and max(days) <= window.end
        ]
        if len(inside) != 1:
            return None
        self.filter_field = inside[0]
        return (
            f"{LABEL}: the export range applies to {self.filter_field} (all {answer.rows} "
            f"rows of {describe(window)} have it inside); the bookmark holds its latest value"
        )

    def cap_exceeded(self, window: Window[date], answer: ExportAnswer) -> str:
        """A one-day window still at the cap after every split: an error, or a warning."""
        why = (
            f"; {answer.without_priority} of them have no priority, which no filter selects"
            if answer.without_priority and "priorities" not in window.filter_names
            else ""
        )
        message = (
            f"{describe(window)} still returns {ROW_CAP} rows, the export cap, after "
            f"splitting by day, status and priority{why}: rows beyond the cap cannot be read"
        )
        if self.warn_unsplittable:
            return f"{LABEL}: {message}; continuing (filum.on_unsplittable_cap=warn)"
        raise ProviderError(
            LABEL, f"{message}. Set filum.on_unsplittable_cap=warn to accept these {ROW_CAP}."
        )


def describe(window: Window[date]) -> str:
    """`day 2024-11-11 (statuses=open, priorities=high)` or `days 2024-01-01..2024-03-30`."""
    text = (
        f"day {window.start}"
        if window.start == window.end
        else f"days {window.start}..{window.end}"
    )
    if window.filters:
        text += " (" + ", ".join(f"{n}={','.join(v)}" for n, v in window.filters) + ")"
    return text
