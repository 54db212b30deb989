"""Reading ahead: later slices paged side by side, big windows planned in time parts.

`ReadAhead` is the part of the ticket walk (walk.TicketWalk) that plans for several
requests in flight: `plan_for`, `peek` (an answer ahead of its turn gives its slice's next
page) and the pages held for a slice, and `split_plan` (a slice read in time parts).
At one request in flight none of it is used (see the package doc).
"""

from __future__ import annotations

import math
import typing as t
from dataclasses import dataclass, field

from tap_helpdesk.providers.proprofs.pages import Page, PageToken, allowed_pages
from tap_helpdesk.providers.proprofs.records import link_query
from tap_helpdesk.providers.proprofs.slices import PAGE_SIZE, Slice, split_time_into
from tap_helpdesk.walk import Walk

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from requests import Response

    from tap_helpdesk.providers.proprofs.emitted import Emitted
    from tap_helpdesk.providers.proprofs.pages import Progress

#: With several in flight, a slice is read in time parts of about this many pages at least
#: (each part ends in a partial page: about half a request more per part).
MIN_PART_PAGES = 8


def part_pages(width: int) -> int:
    """Pages a time part is sized to hold with `width` requests in flight.

    While a part is read, the next one is paged ahead and its answers are held by the
    engine, which keeps at most `width` in flight or held: a part of `width - 2` pages is
    held whole beside the page under way and the next part's first page.
    """
    return max(MIN_PART_PAGES, width - 2)


def split_plan(part: Slice, attempt: int, total: int | None, width: int) -> list[Slice] | None:
    """The time parts to read a slice in side by side, from its first total (None: whole).

    Only at several in flight, for a first read of a window or part by time whose pages
    are more than two parts' worth: those are read one after the other at one at a time.
    """
    if width <= 1 or attempt or total is None or part.end is None:
        return None
    share = part_pages(width)
    pages = math.ceil(total / PAGE_SIZE)
    if pages <= 2 * share:
        return None
    return split_time_into(part, math.ceil(pages / share))


@dataclass
class Lookahead:
    """A later slice's pages answered ahead of their turn (peeked; see ReadAhead.peek).

    The answers stay held by the engine until their turn; the walk keeps what it needs to
    page on: their tokens and parsed pages, and the next page to ask for.
    """

    first_total: int | None
    #: tokens answered and peeked, not yet read, in page order
    held: list[PageToken] = field(default_factory=list)
    #: the page to ask for after them (None: the last page peeked has no next link)
    following: PageToken | None = None
    #: pages peeked so far in this read of the slice
    pages: int = 0

    @property
    def allowed_pages(self) -> int | None:
        """Most pages this read can take, from its first total (None: no total)."""
        return allowed_pages(self.first_total)


class ReadAhead(Walk[PageToken]):
    """The ticket walk's planning for several in flight (its state is set by TicketWalk)."""

    #: (slice, attempt) still to read, the earliest last (a stack)
    pending: list[tuple[Slice, int]]
    progress: Progress | None
    parse: Callable[[Response, PageToken], Page]
    emitted: Emitted
    requests: int
    finished_requests: int
    replanned: int
    #: requests the engine keeps in flight (plan_for); at 1 nothing is peeked
    width: int
    #: (slice, attempt) -> its pages answered ahead of their turn (held by the engine)
    ahead: dict[tuple[Slice, int], Lookahead]
    #: slices whose first page was listed (it may be in flight: it stays listed)
    listed: set[tuple[Slice, int]]

    def plan_for(self, width: int) -> None:
        """Several requests in flight: later slices are paged side by side (peek)."""
        self.width = max(width, 1)

    def peek(self, token: PageToken, response: Response) -> bool:
        """A later slice's page answered ahead of its turn: ask for its next page now.

        Only its link (and its first total, which bounds the slice's pages) is taken from
        it now; the answer stays held, in its place, and `read` takes it in its turn
        exactly as at one request at a time (tickets, totals, re-reads, bookmark).
        """
        key = (token.part, token.attempt)
        ahead = self.ahead.get(key)
        expected = ahead.following if ahead is not None else self._first_planned(key)
        if self.width == 1 or token != expected:
            return False
        page = self.parse(response, token)
        if ahead is None and self._split_ahead(key, page.total):
            return True  # no longer listed: the engine drops the answer
        if ahead is None:
            ahead = self.ahead[key] = Lookahead(page.total)
        ahead.held.append(token)
        ahead.pages += 1
        ahead.following = self._following(token, page, ahead)
        return True

    # -- slices paged ahead -------------------------------------------------------------

    def _pages_of(self, following: PageToken) -> list[PageToken]:
        """A slice's pages held (peeked) then the next to ask for; else `following` alone."""
        ahead = self.ahead.get((following.part, following.attempt))
        if ahead is None:
            return [following]
        if not ahead.held or ahead.held[0] != following:  # pragma: no cover - defensive
            self._forget((following.part, following.attempt))
            return [following]
        listed = list(ahead.held)
        if ahead.following is not None:
            listed.append(ahead.following)
        return listed

    def _first_planned(self, key: tuple[Slice, int]) -> PageToken | None:
        """The first page of a slice planned (not the one being read), else None."""
        return PageToken(key[0], "", key[1]) if key in self.pending else None

    @staticmethod
    def _following(token: PageToken, page: Page, ahead: Lookahead) -> PageToken | None:
        """The page a peeked answer links to (None: its last page, or a link not to follow).

        A link back to a page held, or past the total, is not followed: the page is read
        in its turn, where the walk stops the run with one line (`_check_link`, WalkGuard).
        """
        link = link_query(page.next_link) if page.next_link and page.tickets else ""
        allowed = ahead.allowed_pages
        following = PageToken(token.part, link, token.attempt)
        if not link or following in ahead.held or (allowed is not None and ahead.pages >= allowed):
            return None
        return following

    def _release(self, token: PageToken) -> None:
        """A peeked page is read in its turn: its slice stops listing it as held."""
        key = (token.part, token.attempt)
        ahead = self.ahead.get(key)
        if ahead is not None and token in ahead.held:
            ahead.held.remove(token)
            if not ahead.held:  # the slice is read from here as at one at a time
                del self.ahead[key]

    def _forget_unplanned(self) -> None:
        """Forget what was peeked for slices no longer read (the plan changed)."""
        planned = set(self.pending)
        if self.progress is not None:
            planned.add((self.progress.token.part, self.progress.token.attempt))
        for key in [key for key in self.ahead if key not in planned]:
            self._forget(key)

    def _forget(self, key: tuple[Slice, int]) -> None:
        del self.ahead[key]

    # -- slices read in time parts side by side ------------------------------------------

    def _split_ahead(self, key: tuple[Slice, int], total: int | None) -> bool:
        """A planned slice's first page, peeked, shows it is to be read in parts: plan them.

        Decided before its turn, so its parts are paged ahead at once; the answer itself is
        dropped unread (its tickets come in the parts).
        """
        parts = split_plan(key[0], key[1], total, self.width)
        if not parts:
            return False
        self.listed.discard(key)
        at = self.pending.index(key)
        self.pending[at : at + 1] = [(part, 0) for part in reversed(parts)]
        return True

    def _split_in_turn(self, progress: Progress, total: int | None) -> tuple[str, ...] | None:
        """The slice whose first page was just read in turn is to be read in parts.

        That page's tickets are emitted; their IDs are kept (Emitted.guard) until the walk
        has passed the slice's end, so the parts do not emit them again. The read is over,
        without completing anything. None: the slice is read whole.
        """
        token = progress.token
        parts = split_plan(token.part, token.attempt, total, self.width)
        if not parts:
            return None
        self.progress = None
        self.finished_requests = self.requests
        self.replanned += len(self.pending)
        self.pending.extend((part, 0) for part in reversed(parts))
        self.emitted.guard(token.part)
        return ()
