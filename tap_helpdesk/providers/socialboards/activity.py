"""The activity walk of an incremental run (read before the creation slices).

The list's only order is `last_thread_activity_desc`: newest thread element first. An
incremental run walks it from the top down to (activity bookmark - lookback) and emits
every ticket with activity since then, once. The activity bookmark then moves to the
activity of the top row at the walk's first page, never to anything read later: a ticket
that gets a reply while the walk goes on jumps above that value, so whether or not this
walk met it, the next run's walk reaches it.

Paging is skip/take with one row of overlap, as in the creation slices. Tickets only move
up (activity grows), pushing the rows below them down: a row met twice is emitted once.
Tickets deleted or hidden above the cursor pull rows up past it unseen: the next page must
hold a row of the page before with its activity unchanged (the trail), which proves that
every row after it follows; when none is there, the walk reads back one page at a time,
at most MAX_BACKUPS times, then stops with one line.

What activity cannot reveal: a change that adds no thread element (a status, category or
tag edit by an agent) leaves `lastThreadElementCreationTime` as it was; only
`socialboards.full_refresh` (or the lookback) re-reads such tickets.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass
from datetime import datetime, timezone

from tap_helpdesk.errors import ProviderError
from tap_helpdesk.providers.socialboards.bounds import ACTIVITY, LABEL, TAKE, rows_unread
from tap_helpdesk.timestamps import parse_datetime, to_utc
from tap_helpdesk.walk import Step, Walk

if t.TYPE_CHECKING:
    from collections.abc import Callable, Generator, Hashable

    import requests

Row = dict[str, t.Any]
MAX_BACKUPS = 5  # pages read back in a row, looking for the trail, before giving up
MAX_READ_BACKS = 20  # read-backs in one walk before giving up


@dataclass(frozen=True)
class ActivityMark:
    """A value of the activity bookmark (the stream's own state key, not its replication key).

    Committed by SocialboardsTicketsStream.commit_bookmark.
    """

    value: str


@dataclass(frozen=True)
class ActivityPage:
    """One request of the activity walk: the list from `skip`.

    `backup` counts pages read back in a row, `round` read-backs in the walk (a skip
    asked for again after one is a new request).
    """

    skip: int
    backup: int = 0
    round: int = 0


def activity_of(row: Row) -> datetime | None:
    """A ticket's last activity, or None when it has none that reads."""
    value = row.get(ACTIVITY)
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_datetime(value, timezone.utc).astimezone(timezone.utc)
    except (TypeError, ValueError):
        return None


class ActivityWalk(Walk[ActivityPage]):
    """Newest activity first, down to `floor` (see the module doc).

    Without a floor (no activity bookmark yet: the creation slices read every ticket), one
    page is read to learn the top, and nothing is emitted.
    """

    def __init__(
        self,
        floor: datetime | None,
        *,
        parse: Callable[[requests.Response], list[Row]] = rows_unread,
        emitted: dict[t.Any, t.Any] | None = None,
        take: int = TAKE,
    ) -> None:
        """Walk down to `floor`; `emitted` is shared with the creation slices."""
        self.floor = floor
        self.parse = parse
        #: id -> the activity text it was emitted with, in this run (shared with the slices)
        self.emitted: dict[t.Any, t.Any] = {} if emitted is None else emitted
        self.take_size = take
        self.next: ActivityPage | None = ActivityPage(0)
        self.top: str | None = None
        self.trail: dict[t.Any, t.Any] = {}  # id -> activity on the last page that followed
        self.largest = 0
        self.requests = self.backups = self.rounds = self.count = 0
        self.seen: set[t.Any] = set()

    def ready(self) -> list[ActivityPage]:
        """The next page (one at a time: it starts at the last row of the one before)."""
        return [self.next] if self.next is not None else []

    def identity(self, token: ActivityPage) -> Hashable:
        """A skip, within one round of read-backs."""
        return ("activity", token.skip, token.round)

    def describe(self, token: ActivityPage) -> str:
        """The request, for error lines."""
        text = f"the list by last activity, skip {token.skip}"
        return text + (f" (read back, {token.backup})" if token.backup else "")

    def request_limit(self) -> int | None:
        """No bound: how many tickets have activity since the floor is not known."""
        return None

    def read(self, token: ActivityPage, response: requests.Response) -> Generator[Row, None, Step]:
        """The tickets of one answer with activity since the floor, not emitted before."""
        emitted, step = self.take(token, self.parse(response))
        yield from emitted
        return step

    def take(self, token: ActivityPage, rows: list[Row]) -> tuple[list[Row], Step]:
        """Digest the answer to `token`: the tickets to emit, and what it said."""
        self.requests += 1
        times = [activity_of(row) for row in rows]
        self._check_order(token, rows, times)
        if self.top is None:
            self.top = next(
                (row[ACTIVITY] for row, at in zip(rows, times, strict=True) if at), None
            )
        notes: tuple[str, ...] = ()
        if token.skip and self.trail and not self._follows(rows):
            notes = self._read_back(token)
            new = sum(1 for row in rows if row.get("id") not in self.seen)
            return [], Step(rows=len(rows), new=new, fingerprint=None, notes=notes)
        self.backups = 0
        floor = self.floor
        fresh: list[Row] = []
        new = 0
        for row, at in zip(rows, times, strict=True):
            ticket_id = row.get("id")
            if ticket_id not in self.seen:
                new += 1
                self.seen.add(ticket_id)
            if at is None or floor is None or at < floor:
                continue  # without a floor, the creation slices read every ticket
            if self.emitted.get(ticket_id) != row.get(ACTIVITY):
                self.emitted[ticket_id] = row.get(ACTIVITY)
                fresh.append(row)
        self.count += len(fresh)
        self.largest = max(self.largest, len(rows))
        self.trail = {row.get("id"): row.get(ACTIVITY) for row in rows}
        self.next = self._after(token, rows, times)
        step = Step(rows=len(rows), new=new, fingerprint=self._fingerprint(token, rows))
        if self.next is None:
            mark = to_utc(self.top) if self.top else None
            step.bookmark = ActivityMark(mark) if mark else None
            step.events = (
                f"{LABEL}: activity walk down to {floor.isoformat() if floor else 'the top'}: "
                f"{self.count} tickets in {self.requests} requests",
            )
        return fresh, step

    def _after(
        self, token: ActivityPage, rows: list[Row], times: list[datetime | None]
    ) -> ActivityPage | None:
        if not rows or len(rows) < min(self.largest, self.take_size) or len(rows) == 1:
            return None  # the end of the list
        last = next((at for at in reversed(times) if at is not None), None)
        if self.floor is None or (last is not None and last < self.floor):
            return None  # past the floor
        return ActivityPage(token.skip + len(rows) - 1, 0, self.rounds)

    def _follows(self, rows: list[Row]) -> bool:
        """Whether the page holds a row of the page before, its activity unchanged."""
        trail = self.trail
        return any(trail.get(row.get("id"), trail) == row.get(ACTIVITY) for row in rows)

    def _read_back(self, token: ActivityPage) -> tuple[str, ...]:
        self.backups += 1
        self.rounds += 1
        if self.backups > MAX_BACKUPS or self.rounds > MAX_READ_BACKS:
            raise ProviderError(
                LABEL,
                f"the answer to {self.describe(token)} holds none of the rows before it "
                f"({self.rounds} pages read back): tickets keep vanishing above the cursor; "
                "try again later",
            )
        back = max(0, token.skip - max(self.largest - 1, 1))
        self.next = ActivityPage(back, self.backups, self.rounds)
        return (
            f"{LABEL}: rows moved up past the cursor at {self.describe(token)} (tickets "
            "deleted or hidden above it); reading a page back",
        )

    def _check_order(
        self, token: ActivityPage, rows: list[Row], times: list[datetime | None]
    ) -> None:
        previous: datetime | None = None
        for row, at in zip(rows, times, strict=True):
            if at is None:
                continue
            if previous is not None and at > previous:
                raise ProviderError(
                    LABEL,
                    f"the answer to {self.describe(token)} is not newest activity first "
                    f"(ticket {row.get('id')} has {row.get(ACTIVITY)} after an older one): "
                    "paging on would skip tickets",
                )
            previous = at

    @staticmethod
    def _fingerprint(token: ActivityPage, rows: list[Row]) -> Hashable | None:
        if not rows:
            return None
        return ("activity", len(rows), str(rows[0].get("id")), str(rows[-1].get("id")))


__all__ = ["MAX_BACKUPS", "ActivityMark", "ActivityPage", "ActivityWalk"]
