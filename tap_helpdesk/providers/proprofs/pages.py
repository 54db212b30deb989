"""The ticket walk's requests (PageToken), answers (Page) and what a read of a slice met."""

from __future__ import annotations

import math
import typing as t
from dataclasses import dataclass, field

from tap_helpdesk.providers.proprofs.slices import PAGE_SIZE, Slice

if t.TYPE_CHECKING:
    from tap_helpdesk.providers.proprofs.emitted import Row

#: Pages a read may take past ceil(total / 25): the docs' sample links on to page 2 and
#: 3 for a total of 1 ticket, so one empty page past the last is an answer, not a fault.
EXTRA_PAGES = 1


@dataclass(frozen=True)
class PageToken:
    """One request: a slice and a page of it."""

    part: Slice
    #: query of next_page_link; "" asks for the first page
    link: str = ""
    #: earlier reads of the same slice (keeps tokens of consecutive requests distinct)
    attempt: int = 0


@dataclass(frozen=True)
class Page:
    """What one answer held: total_tickets, next_page_link and the tickets."""

    total: int | None
    next_link: str
    tickets: list[Row]


@dataclass
class Progress:
    """What the pages of the slice being read said so far."""

    token: PageToken
    first_total: int | None = None
    last_total: int | None = None
    rows: int = 0
    #: tickets this read met (a ticket on two pages counts once)
    distinct: int = 0
    pages: int = 0
    next_link: str = ""
    #: ticket IDs met, kept only for a slice that cannot be halved by time
    ids: list[int] = field(default_factory=list)
    #: a tail from start only that did not fit on one page
    more: bool = False
    #: the latest modification in a tail's answer (local second text)
    latest: str = ""

    @property
    def allowed_pages(self) -> int | None:
        """Most pages this read can take, from its first total (None: no total)."""
        return allowed_pages(self.first_total)


def allowed_pages(first_total: int | None) -> int | None:
    """Most pages a read of a slice can take, from its first total (None: no total)."""
    if first_total is None:
        return None
    return max(1, math.ceil(first_total / PAGE_SIZE)) + EXTRA_PAGES
