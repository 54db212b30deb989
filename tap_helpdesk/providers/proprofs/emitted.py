"""Which tickets were emitted, kept only where a later read can meet them again."""

from __future__ import annotations

import heapq
import typing as t
from array import array
from bisect import bisect_left
from datetime import datetime

from tap_helpdesk.providers.proprofs.slices import DATE_FORMAT, Slice, local_second

#: `Emitted.passed` / `TicketWalk.completed` after a tail that fitted on one page:
#: everything is read.
EVERYTHING = datetime.max

Row = dict[str, t.Any]
#: IDs gathered in a set (about 1 MB at most) before they are merged into the sorted array;
#: each merge is one Python step an ID already merged: at 4096 a window of 60,000 IDs cost
#: 2.0 us an ID, at 16384 0.9 us (sorted() merging in C: 1.3 us, but a list of them all)
MERGE_EVERY = 16384


class SeenIds:
    """The ticket IDs one read of a slice met, in about 10 bytes an ID past the latest.

    A 3-month window holds up to a quarter of a year's tickets; in a set each ID costs
    about 70 bytes (50,000 tickets: 3.5 MB). Numeric IDs are kept in a sorted array of
    8-byte integers instead, the latest (up to MERGE_EVERY) in a set until they are merged
    in; any other ID in a set of its own.
    """

    def __init__(self) -> None:
        """No ID met yet."""
        self._sorted = array("q")
        self._recent: set[int] = set()
        self._other: set[int | str] = set()

    def __contains__(self, identity: object) -> bool:
        """Whether `identity` was met."""
        if identity in self._recent or identity in self._other:
            return True
        if type(identity) is not int:
            return False
        index = bisect_left(self._sorted, identity)
        return index < len(self._sorted) and self._sorted[index] == identity

    def add(self, identity: int | str) -> bool:
        """Note `identity` as met; whether it was not met before."""
        if identity in self:
            return False
        if type(identity) is int and -(1 << 63) <= identity < 1 << 63:
            self._recent.add(identity)
            if len(self._recent) >= MERGE_EVERY:
                # merged as it streams: no list of every ID as Python objects at once
                self._sorted = array("q", heapq.merge(self._sorted, sorted(self._recent)))
                self._recent = set()
        else:
            self._other.add(identity)
        return True

    def __len__(self) -> int:
        """IDs met."""
        return len(self._sorted) + len(self._recent) + len(self._other)


class Emitted:
    """Which tickets were emitted, kept only where a later read can meet them again.

    Within one read of a slice a ticket is taken once (a server whose pages overlap
    shows it twice; the read is then not trusted, see TicketWalk). A ticket comes again
    only (1) when a slice that changed is re-read: the IDs its first read met are kept
    until the walk has passed its end; (2) when it was modified at or after the end of
    the slice that brought it (the edge second two windows share, an API that ignores the
    end bound, a tail): kept with its version until the walk has passed that time.
    Everything else is forgotten once its slice is read, so memory does not grow with the
    number of tickets.
    """

    def __init__(self) -> None:
        """Nothing emitted yet."""
        #: IDs met by the read of the current slice
        self._slice = SeenIds()
        #: (end of a slice being re-read, the IDs its first read met)
        self._guards: list[tuple[datetime, SeenIds]] = []
        #: ticket_id -> (modified_date_time, its local second) for tickets not yet passed
        self._ahead: dict[str, tuple[t.Any, str]] = {}
        self._end_text = ""
        #: the latest modification (local second text) of the tickets emitted
        self.latest = ""

    def start_slice(self, part: Slice) -> None:
        """A slice's first page is being taken."""
        self._slice = SeenIds()
        self._end_text = part.end.strftime(DATE_FORMAT) if part.end is not None else ""

    def unseen(self, tickets: list[Row]) -> tuple[list[Row], int]:
        """The tickets of a page not emitted before in this version (noted as emitted).

        Also how many of the page's tickets this read of the slice had not met.
        """
        fresh = []
        met, ahead, end_text, latest = self._slice, self._ahead, self._end_text, self.latest
        new = 0
        for ticket in tickets:
            key, version = str(ticket.get("ticket_id")), ticket.get("modified_date_time")
            identity = _id_key(key)
            if not met.add(identity):
                continue
            new += 1
            known = ahead.get(key)
            if known is not None and known[0] == version:
                continue
            if self._guards and any(identity in ids for _end, ids in self._guards):
                continue
            local = local_second(version)
            if local >= end_text:
                ahead[key] = (version, local)
            latest = max(latest, local)
            fresh.append(ticket)
        self.latest = latest
        return fresh, new

    def guard(self, part: Slice) -> None:
        """The current slice changed while read and will be re-read."""
        if part.end is not None:
            self._guards.append((part.end, self._slice))
        self._slice = SeenIds()

    def passed(self, edge: datetime) -> None:
        """Every ticket modified up to `edge` has been read: forget what cannot come again."""
        self._slice = SeenIds()
        self._guards = [(end, ids) for end, ids in self._guards if end > edge]
        if edge is EVERYTHING:
            self._ahead.clear()
            return
        edge_text = edge.strftime(DATE_FORMAT)
        self._ahead = {k: v for k, v in self._ahead.items() if v[1] >= edge_text}

    def __len__(self) -> int:
        """Tickets remembered (kept until the walk has passed them)."""
        return len(self._ahead) + sum(len(ids) for _end, ids in self._guards)


def _id_key(ticket_id: str) -> int | str:
    return int(ticket_id) if ticket_id.isdigit() and len(ticket_id) < 19 else ticket_id
