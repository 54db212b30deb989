"""The ticket walk: last-modified slices, page links, re-reads and tails (see the package doc)."""

from __future__ import annotations

import typing as t
from datetime import datetime

from tap_helpdesk.errors import ProviderError
from tap_helpdesk.providers.proprofs.ahead import ReadAhead
from tap_helpdesk.providers.proprofs.emitted import EVERYTHING, Emitted, Row
from tap_helpdesk.providers.proprofs.pages import Page, PageToken, Progress
from tap_helpdesk.providers.proprofs.records import as_integer, link_query
from tap_helpdesk.providers.proprofs.slices import (
    DATE_FORMAT,
    SECOND,
    TAIL_MARGIN,
    Slice,
    local_second,
    split_ids,
    split_time,
)
from tap_helpdesk.walk import MAX_WAIT_SECONDS, Step, page_fingerprint

if t.TYPE_CHECKING:
    from collections.abc import Callable, Generator, Sequence

    import requests

    from tap_helpdesk.providers.proprofs.ahead import Lookahead

#: Reads of a slice that keeps changing and cannot be split (or whose pages do not add up
#: to its total) before the run gives up on it.
MAX_ATTEMPTS = 5
#: Tails read after the windows (each holds what changed while the one before was read).
MAX_TAILS = 50


#: why a read of a slice is not trusted
CHANGED = "changed"  # its total moved, or its pages overlapped: read it again in parts
UNEVEN = "uneven"  # its pages hold fewer tickets than a total that held still


def _page_given(answer: requests.Response, token: PageToken) -> Page:
    """An answer that is a Page already (what the walk's own tests hand it)."""
    return t.cast("Page", answer)


class TicketWalk(ReadAhead):
    """Which slice and page to ask for next, and whether a window was read completely."""

    def __init__(
        self,
        label: str,
        pending: list[tuple[Slice, int]],
        tail_from: datetime | None,
        *,
        clock: Callable[[], datetime],
        parse: Callable[[requests.Response, PageToken], Page] = _page_given,
        on_page: Callable[[list[Row]], None] | None = None,
        to_bookmark: Callable[[str], object] = str,
    ) -> None:
        """Read the slices of `pending` (the earliest last), then a tail from `tail_from`.

        `parse` decodes an answer into a Page (by default the answer is one already: the
        walk's own tests); `to_bookmark` turns a local second into a bookmark value.
        """
        self.label = label
        #: (slice, attempt) still to read, the earliest last (a stack)
        self.pending = pending
        #: where the tail read starts (None: an end_date in the past bounds the run)
        self.tail_from = tail_from
        #: now as naive account-zone time, whole seconds
        self.clock = clock
        #: answer -> Page (decoding and the error envelope are the stream's)
        self.parse = parse
        #: receives each page's fresh tickets before they are emitted (nested messages)
        self.on_page = on_page
        #: local second text -> a value of the replication key
        self.to_bookmark = to_bookmark
        self.tails = 0
        #: the end of the window the last answer completed (EVERYTHING after the last tail)
        self.completed: datetime | None = None
        self.progress: Progress | None = None
        #: what was emitted, to emit each version once
        self.emitted = Emitted()
        #: answers read, and those of reads that are over
        self.requests = 0
        self.finished_requests = 0
        #: requests the engine may have sent for planned slices and dropped when the walk
        #: changed its plan (slices read again go first): they are sent again
        self.replanned = 0
        self._range_noted = False
        #: requests the engine keeps in flight (plan_for); at 1 nothing is peeked
        self.width = 1
        #: (slice, attempt) -> its pages answered ahead of their turn (held by the engine)
        self.ahead: dict[tuple[Slice, int], Lookahead] = {}
        #: slices whose first page was listed (it may be in flight: it stays listed)
        self.listed: set[tuple[Slice, int]] = set()
        #: the range the walk covers, for progress lines
        self._span = (pending[-1][0].start, pending[0][0].end) if pending else None

    # -- the walk contract -------------------------------------------------------------

    def ready(self) -> Sequence[PageToken]:
        """The next page of the slice being read, then the first pages of the slices planned.

        Those are independent of the current answer, earliest first; the tail last.

        With several in flight (plan_for), each slice's pages answered ahead (peeked, held
        by the engine) come in its place, followed by the page they link to; and a slice not
        yet asked for is listed only once the slices before it (but the one being read) have
        all their pages answered. The pages held ahead then belong to the slice read next,
        which takes them at once in its turn: pages held for slices further on would fill
        the requests in flight for longer, and the slice read next gain fewer.
        """
        if self.ahead:
            self._forget_unplanned()
        tokens: list[PageToken] = []
        progress = self.progress
        if progress is not None and progress.next_link:
            token = progress.token
            tokens += self._pages_of(PageToken(token.part, progress.next_link, token.attempt))
        waiting = False  # a slice listed before, not the head's, has pages still to come
        for part, attempt in reversed(self.pending):
            ahead = self.ahead.get((part, attempt))
            if ahead is None and waiting and (part, attempt) not in self.listed:
                continue
            head = not tokens
            tokens += self._pages_of(PageToken(part, "", attempt))
            if self.width > 1:
                self.listed.add((part, attempt))
            if self.width > 1 and not head and (ahead is None or ahead.following is not None):
                waiting = True
        if not tokens and self.tail_from is not None:
            tokens.append(PageToken(Slice(self.tail_from, None)))
        return tokens

    def read(self, token: PageToken, response: requests.Response) -> Generator[Row, None, Step]:
        """The tickets of one answer not emitted before; the walk moves on."""
        page = self.parse(response, token)  # a peeked answer again: only its link was kept
        self._release(token)
        fresh, step = self.take(token, page)
        if self.on_page is not None:
            self.on_page(fresh)
        yield from fresh
        return step

    def wait_before(self, token: PageToken) -> float:
        """A window is read once its end is TAIL_MARGIN in the past (see slices)."""
        end = token.part.end
        if end is None:
            return 0.0
        return max(0.0, (end + TAIL_MARGIN - self.clock()).total_seconds())

    def position(self) -> tuple[str, float | None] | None:
        """The start of the slice being read (or next), and how far into the windows."""
        part = self.progress.token.part if self.progress is not None else None
        if part is None and self.pending:
            part = self.pending[-1][0]
        if part is None:
            return ("tail", None) if self.tail_from is not None else None
        fraction = None
        start, end = self._span or (None, None)
        if start is not None and end is not None and end > start:
            done = (part.start - start).total_seconds() / (end - start).total_seconds()
            fraction = min(max(done, 0.0), 1.0)
        return part.start.strftime(DATE_FORMAT), fraction

    def request_limit(self) -> int | None:
        """The pages of the read under way (from its total), one per slice planned, the tail.

        Links that go on forever reach it.
        """
        current = 0
        progress = self.progress
        if progress is not None and progress.next_link:
            allowed = progress.allowed_pages
            if allowed is None:
                return None
            current = allowed
        planned = 1 if self.tail_from is not None else 0
        for part, attempt in self.pending:
            ahead = self.ahead.get((part, attempt))
            # a slice paged ahead may take as many pages as its first total allows
            allowed = ahead.allowed_pages if ahead is not None else 1
            if allowed is None:
                return None
            planned += allowed
        return self.finished_requests + self.replanned + current + planned

    def describe(self, token: PageToken) -> str:
        """The request, for error lines."""
        text = f"tickets modified {token.part.describe()}"
        if token.link:
            text += f", {token.link}"
        return text + (f" (read {token.attempt + 1})" if token.attempt else "")

    # -- one answer --------------------------------------------------------------------

    def take(self, token: PageToken, page: Page) -> tuple[list[Row], Step]:
        """Account for one answer: its tickets not emitted before, and what it said."""
        self.requests += 1
        tickets = page.tickets
        if self.progress is None or token.link == "":
            self._start_read(token, page.total)
        progress = t.cast("Progress", self.progress)
        progress.pages += 1
        progress.rows += len(tickets)
        progress.last_total = page.total
        link = link_query(page.next_link) if page.next_link and tickets else ""
        if token.part.end is None:
            # A tail from start only is complete on one page; a longer one is no snapshot
            # and is read again as a window (its links are not followed).
            total = page.total
            progress.more = bool(link) or (total is not None and total > len(tickets))
            progress.latest = max(map(local_second, _modified(tickets)), default="")
            link = ""
        elif split_time(token.part) is None:
            progress.ids += [i for i in map(as_integer, _ids(tickets)) if i]
        self._check_link(token, progress, link, page.next_link)
        progress.next_link = link
        fresh, new = self.emitted.unseen(tickets)
        progress.distinct += new
        notes = self._range_note(token.part, tickets)
        self.completed = None
        split = self._split_in_turn(progress, page.total) if progress.pages == 1 else None
        if split is not None:
            notes += split
        elif not link:
            notes += self._finish(progress)
        step = Step(
            rows=len(tickets),
            new=new,
            bookmark=self._bookmark(),
            fingerprint=(token.part, token.attempt, page_fingerprint(tickets, "ticket_id")),
            notes=notes,
        )
        return fresh, step

    def _start_read(self, token: PageToken, total: int | None) -> None:
        self.listed.discard((token.part, token.attempt))
        if (token.part, token.attempt) in self.pending:
            self.pending.remove((token.part, token.attempt))
        self.progress = Progress(token, first_total=total)
        self.emitted.start_slice(token.part)

    def _check_link(self, token: PageToken, progress: Progress, link: str, raw: str) -> None:
        if link and link == token.link:
            raise ProviderError(self.label, f"next_page_link repeats the page it is on ({raw})")
        allowed = progress.allowed_pages
        if link and allowed is not None and progress.pages >= allowed:
            raise ProviderError(
                self.label,
                f"next_page_link goes on past {progress.pages} pages for "
                f"{progress.first_total} tickets modified {token.part.describe()}",
            )

    def _range_note(self, part: Slice, tickets: list[Row]) -> tuple[str, ...]:
        """Once: an answer holds a ticket outside the range asked for."""
        if self._range_noted:
            return ()
        start = part.start.strftime(DATE_FORMAT)
        end = part.end.strftime(DATE_FORMAT) if part.end is not None else None
        for ticket in tickets:
            modified = local_second(ticket.get("modified_date_time"))
            if modified and (modified < start or (end is not None and modified > end)):
                self._range_noted = True
                return (
                    f"{self.label}: asked for tickets modified {part.describe()}, got ticket "
                    f"{ticket.get('ticket_id')} modified {ticket.get('modified_date_time')}: "
                    "the API may not filter on end_last_modified_date as its sample request "
                    "says",
                )
        return ()

    def _bookmark(self) -> object:
        """The bookmark once the answer's tickets are written (None: none yet).

        The latest modification emitted, never past the end of the window just completed.
        """
        edge, latest = self.completed, self.emitted.latest
        if edge is None or not latest:
            return None
        if edge is not EVERYTHING:
            latest = min(latest, edge.strftime(DATE_FORMAT))
        return self.to_bookmark(latest)

    # -- the end of a read -------------------------------------------------------------

    def _finish(self, progress: Progress) -> tuple[str, ...]:
        """A read is over: whether it completed its window, and what to read next."""
        self.progress = None
        self.finished_requests = self.requests
        part = progress.token.part
        if part.end is None:
            notes = self._after_tail(progress)
            self.completed = None if progress.more else EVERYTHING
        else:
            trouble = self.trouble(progress)
            notes = self._reread(progress, trouble) if trouble else ()
            # (the last ID range of a second is the one open upwards)
            self.completed = part.end if trouble is None and part.high_id is None else None
            if trouble:
                self.emitted.guard(part)
        if self.completed is not None:
            self.emitted.passed(self.completed)
        return notes

    @staticmethod
    def trouble(progress: Progress) -> str | None:
        """Why the read of a slice is not trusted (None: it is complete).

        Slices end in the past: a ticket modified meanwhile leaves, which lowers the total
        (CHANGED); pages that overlap show an order that moved (CHANGED); pages short of a
        total that held still did not move (UNEVEN).
        """
        first, last = progress.first_total, progress.last_total
        overlap = progress.rows > progress.distinct
        if first is None or last is None:
            return CHANGED if overlap else None
        if first != last:
            return CHANGED
        if progress.distinct >= last:
            return None
        return CHANGED if overlap else UNEVEN

    def _reread(self, progress: Progress, trouble: str) -> tuple[str, ...]:
        """Read a slice again, in parts or whole.

        In halves when it changed (by time, or by ticket ID for a second too busy to
        halve), whole when its pages did not add up.
        """
        token = progress.token
        parts = None
        if trouble == CHANGED:
            parts = split_time(token.part) or split_ids(token.part, progress.ids)
        self.replanned += len(self.pending)
        if parts:
            self.pending.extend((part, 0) for part in reversed(parts))
        elif token.attempt + 1 < MAX_ATTEMPTS:
            self.pending.append((token.part, token.attempt + 1))
        else:
            raise ProviderError(
                self.label,
                f"tickets modified {token.part.describe()} kept changing while they were "
                f"paged through, or their pages do not add up to total_tickets ({MAX_ATTEMPTS} "
                f"reads, total_tickets {progress.first_total} then {progress.last_total}, "
                f"{progress.distinct} read); run the sync again",
            )
        what = (
            "changed while they were paged through"
            if trouble == CHANGED
            else "came on pages that do not add up to total_tickets"
        )
        return (
            f"{self.label}: tickets modified {token.part.describe()} {what} (total "
            f"{progress.first_total}, then {progress.last_total}; {progress.distinct} read): "
            f"reading them again{' in halves' if parts else ''}",
        )

    def _after_tail(self, progress: Progress) -> tuple[str, ...]:
        """A tail on one page is complete; a longer one is read as a window ending now.

        The window holds what the tail showed and ends TAIL_MARGIN in the past when it is
        read, so that a ticket modified meanwhile leaves it; the next tail starts there.
        The walk never sleeps: a window that could be read only after more than
        MAX_WAIT_SECONDS (the tail reaches past this machine's clock) is left to the next
        run, and the bookmark stays before it.
        """
        self.tail_from = None
        if not progress.more:
            return ()
        start = progress.token.part.start
        since = start.strftime(DATE_FORMAT)
        if self.tails >= MAX_TAILS:
            return (
                f"{self.label}: tickets keep changing while they are read ({MAX_TAILS} tails); "
                f"those modified since {since} are left to the next run (the bookmark stays "
                "before them)",
            )
        now = self.clock()
        latest = datetime.fromisoformat(progress.latest) if progress.latest else now
        end = max(now, start + SECOND, latest)
        if (end + TAIL_MARGIN - now).total_seconds() > MAX_WAIT_SECONDS:
            return (
                f"{self.label}: tickets modified since {since} did not fit on one page and "
                f"reach past this machine's clock (now {now.strftime(DATE_FORMAT)}, latest "
                f"{end.strftime(DATE_FORMAT)}): they are left to the next run (the bookmark "
                "stays before them); is proprofs.timezone the account's time zone?",
            )
        self.tails += 1
        self.pending.append((Slice(start, end), 0))
        self.tail_from = end
        return ()


def _modified(tickets: list[Row]) -> t.Iterator[t.Any]:
    return (ticket.get("modified_date_time") for ticket in tickets)


def _ids(tickets: list[Row]) -> t.Iterator[t.Any]:
    return (ticket.get("ticket_id") for ticket in tickets)
