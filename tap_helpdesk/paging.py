"""The keyset walk: paging over a list ordered by a modification time.

One range is walked by `KeysetRange` (tap_helpdesk/keyset_range.py: ties, short pages
confirmed, order checks, rows without the key); this module holds the walk over them.

**Sub-ranges side by side** (when the engine keeps several requests in flight). One keyset
walk is sequential: each page starts where the last ended. So, once the first page (walked
alone, its short page confirmed) shows how many tickets a second of
modification time holds, the range from its last key to the walk's start (the ceiling) is
cut into sub-ranges expected to hold about `RANGE_FILL` of a page each, every one a keyset
walk of its own between `>= lower` and `<= upper` (each cut from what the latest page or
whole sub-range showed, never wider than twice the last). The last sub-range is
open-ended and is the walk of old: it confirms its short page, follows changes past the
ceiling `MAX_PAGES_PAST_CEILING` pages at most. A bounded sub-range ends at a page shorter
than the server was seen to serve (learnt on the first page): no confirming request each.
Requests spent on nothing are kept few: what is left is one last range where one page is
expected to hold it; a sub-range holding next to nothing (`RANGE_DRY`: the data may end
there) makes the rest one open-ended range, split anew where it meets a full page again;
and where every request is bounded by the ceiling anyway (an end_date before now,
`ceiling_is_end`), the last sub-range is bounded too and needs no confirming request.

A sub-range read early is **held**: the engine shows its answer to the walk as soon as it
arrives (`peek`: the walk decides that sub-range's next page from it) but keeps the answer
itself, in its place, until every sub-range before it is read. Records therefore leave in
ascending key order, every bookmark is the last key of a page whose predecessors are all
out, and the STATE after any page is a point from which a rerun loses nothing (a ticket
modified meanwhile moves past the ceiling, where the last sub-range or the next run's
bookmark finds it). What is held is bounded by the engine's requests in flight. Rows at
exactly a bound come in both neighbours' answers: the later one drops them. A sub-range
whose answer holds rows a second or more past its upper bound (a server ignoring the
filter) stops the run with one line: max_concurrent_requests 1 walks without bounds.
Bounds in naive local text are times that exist in the walk's zone (never in the hour DST
skips, which servers read differently), and a page peeked at is taken in by its rows' ids
and keys (`parse_keys`), parsed whole only when it goes out.
"""

from __future__ import annotations

import math
import typing as t
from datetime import timezone, tzinfo

from tap_helpdesk.errors import ProviderError
from tap_helpdesk.keyset_range import (
    MAX_PAGES_PAST_CEILING,
    KeysetPage,
    KeysetRange,
    KeysetToken,
    Row,
    later,
)
from tap_helpdesk.keyset_sizing import RangeSizer, key_seconds, key_text
from tap_helpdesk.timestamps import parse_datetime
from tap_helpdesk.walk import Step, Walk

if t.TYPE_CHECKING:
    from collections.abc import Callable, Generator, Hashable

    import requests


class KeysetWalk(Walk[KeysetToken]):
    """The keyset walk of one run.

    In sub-ranges side by side when planned for several requests in flight (see the
    module doc).
    """

    def __init__(
        self,
        label: str,
        key: str,
        start: str | None,
        *,
        page_size: int,
        parse: Callable[[requests.Response], tuple[list[Row], bool | None]] | None = None,
        parse_keys: Callable[[requests.Response], tuple[list[Row], bool | None]] | None = None,
        id_field: str = "id",
        to_bookmark: Callable[[str], t.Any] = str,
        ceiling: str | None = None,
        ceiling_is_end: bool = False,
        zone: tzinfo | None = None,
        stream: str = "",
    ) -> None:
        """Walk `key` upwards from `start` (None: from the first row), `page_size` rows a page.

        Args:
            label: the provider's name, for error lines.
            key: the field the walk pages on (the stream's replication key).
            start: the key value to start from, None for the first row.
            page_size: rows asked for per page.
            parse: reads one page's answer into its rows and the API's has-more marker.
            parse_keys: as `parse`, each row holding only its id and key (what a page
                peeked at ahead of its turn is taken in by; its rows are parsed whole when
                they go out); None: `parse`.
            id_field: the field that identifies a row.
            to_bookmark: the bookmark value for a key's text.
            ceiling: now, as key text, when the walk began (or the end of the range
                when it is earlier); None: no bound.
            ceiling_is_end: every request is bounded by the ceiling (an end_date before
                now): nothing is read past it, so the last sub-range is bounded too and
                ends, as the others, at a page shorter than the server serves.
            zone: the zone naive key text is written in (None: text with an offset, or
                UTC): the bounds of sub-ranges are existing local times in it.
            stream: the stream walked, for the line on a row whose key is no time.
        """
        self.label = label
        self.stream = stream
        self.key = key
        self.id_field = id_field
        self.page_size = page_size
        #: response -> (rows, the API's has-more marker or None where it has none)
        self.parse = parse
        self.parse_keys = parse_keys
        self.to_bookmark = to_bookmark
        #: now, as key text, when the walk began: the bound of confirming requests
        self.ceiling = ceiling
        self.ceiling_is_end = ceiling_is_end and ceiling is not None
        self.zone = zone
        self.start = start
        #: rows per page the server was seen to serve when it served fewer than asked
        self.served: int | None = None
        #: ids of rows without the key: emitted once, never a cursor (a filter on the key
        #: leaves them out; a server that keeps sending them does not make progress)
        self.keyless_ids: set[t.Any] = set()
        self._keyless_emitted: set[t.Any] = set()
        self.requests = 0
        #: the sub-ranges not read to their end, in key order (one unless split)
        self.ranges: list[KeysetRange] = [KeysetRange(self, start, None, 0)]
        #: the last page read (with sub-ranges: the last full one, whose size is the page's)
        self.page = KeysetPage()
        self.width = 1
        #: where the part not yet cut into sub-ranges begins (None: nothing left to cut)
        self._uncut: float | None = None
        #: how wide sub-ranges are cut, from the rows per second of key seen so far
        self.sizer = RangeSizer()
        self._taken: dict[Hashable, tuple[list[int], Step]] = {}
        self._owner: dict[Hashable, KeysetRange] = {}
        self._emitted_key: str | None = None

    # -- the walk contract -------------------------------------------------------------

    @property
    def next(self) -> KeysetToken | None:
        """The next page of the first range (the only one unless split)."""
        return self.ranges[0].next if self.ranges else None

    @property
    def pages_past_ceiling(self) -> int:
        """Pages of the open-ended (last) range asked for from past the ceiling."""
        return self.ranges[-1].pages_past_ceiling if self.ranges else 0

    def plan_for(self, width: int) -> None:
        """Several requests in flight: cut sub-ranges once the first page is read."""
        self.width = max(width, 1)

    def ready(self) -> list[KeysetToken]:
        """Per range in key order: the pages held, then its next page.

        Ranges are cut until one more than `width` requests is listed (sent as the head is
        read).
        """
        if self.width == 1:
            head = self.next
            return [head] if head is not None else []
        tokens: list[KeysetToken] = []
        for part in self.ranges:
            tokens.extend(part.held)
            if part.next is not None:
                tokens.append(part.next)
        # one to send next (a walk with something left to cut has a ceiling: see _split)
        while len(tokens) <= self.width and self._uncut is not None and self.ceiling is not None:
            part = self._cut(self._uncut, self.ceiling)
            if part.next is not None:
                tokens.append(part.next)
        for token in tokens:
            self._owner.setdefault(self.identity(token), self._range_of(token))
        return tokens

    def identity(self, token: KeysetToken) -> Hashable:
        """A cursor and offset (within one sub-range's bound) asked for twice did not move."""
        if token.until is None or token.confirm:
            return (token.cursor, token.offset)
        return (token.cursor, token.offset, token.until)

    def describe(self, token: KeysetToken) -> str:
        """The request as it is filtered."""
        text = f"{self.key_name} >= {token.cursor}" if token.cursor else "the first page"
        if token.until is not None and not token.confirm:
            text += f" and <= {token.until}"
        return text + (f" (offset {token.offset})" if token.offset else "")

    def position(self) -> tuple[str, float | None] | None:
        """The cursor, and how far it is from the walk's start to its ceiling."""
        first_range = self.ranges[0] if self.ranges else None
        cursor = (first_range.page.last_key or first_range.lower) if first_range else None
        cursor = cursor or self.start
        if cursor is None:
            return None
        try:
            first, here, last = (
                parse_datetime(str(v), timezone.utc) for v in (self.start, cursor, self.ceiling)
            )
        except (TypeError, ValueError):
            return (f"{self.key} {cursor}", None)
        span = (last - first).total_seconds()
        done = (here - first).total_seconds() / span if span > 0 else None
        return (f"{self.key} {cursor}", None if done is None else min(max(done, 0.0), 1.0))

    @property
    def key_name(self) -> str:
        """The key, for messages."""
        return self.key

    def read(self, token: KeysetToken, response: requests.Response) -> Generator[Row, None, Step]:
        """The rows of one page not emitted before; the next page is decided."""
        rows, has_more = self._parse(response)
        taken = self._taken.pop(self.identity(token), None) if self._taken else None
        if taken is None:
            fresh, step = self.take(token, rows, has_more)
        else:
            kept, step = taken
            fresh = [rows[i] for i in kept]
        if self.width > 1:
            self._emitted(token, fresh)
        yield from fresh
        return step

    def peek(self, token: KeysetToken, response: requests.Response) -> bool:
        """A page of a later sub-range, arrived early: decide its range's next page now.

        The page itself is held, in its place, until `read` (its rows kept by position).
        """
        key = self.identity(token)
        part = self._owner.get(key)
        if part is None or key in self._taken or token != part.next:
            return False
        rows, has_more = self.parse_keys(response) if self.parse_keys else self._parse(response)
        fresh, step = part.take(token, rows, has_more)
        self._settle(part, step)
        places = {id(row): place for place, row in enumerate(rows)}
        self._taken[key] = ([places[id(row)] for row in fresh], step)
        part.held.append(token)
        return True

    # -- one page ----------------------------------------------------------------------

    def _parse(self, response: requests.Response) -> tuple[list[Row], bool | None]:
        """One page's rows and has-more marker, through the walk's `parse`."""
        if self.parse is None:
            raise TypeError(f"{self.label}: this keyset walk was built without a parse")
        return self.parse(response)

    def take(
        self, token: KeysetToken, rows: list[Row], has_more: bool | None
    ) -> tuple[list[Row], Step]:
        """Account for one page of the range it belongs to.

        Returns:
            Its rows not emitted before, and what it said.
        """
        part = self._owner.pop(self.identity(token), None) or self._range_of(token)
        fresh, step = part.take(token, rows, has_more)
        if self.width == 1:
            self.page = part.page
        self._settle(part, step)
        return fresh, step

    def _settle(self, part: KeysetRange, step: Step) -> None:
        """After a page of `part` is taken in: split what is left; the last range's notes."""
        last = part is self.ranges[-1] and self._uncut is None
        if self.width > 1 and last and part.upper is None:
            self._split(part)  # the first page, or the open-ended range meeting rows again
        if part.next is None and last:
            notes = self._keyless_notes()
            if notes:
                step.notes += notes

    def keyless_again(self, row: Row) -> bool:
        """A row without the key that was emitted before (noted as emitted otherwise)."""
        if row.get(self.key) not in (None, ""):
            return False
        identity = row.get(self.id_field)
        if identity in self._keyless_emitted:
            return True
        self._keyless_emitted.add(identity)
        return False

    def _keyless_notes(self) -> tuple[str, ...]:
        if not self.keyless_ids:
            return ()
        return (
            f"{self.label}: {len(self.keyless_ids)} rows had no {self.key}: they were "
            "emitted, and the bookmark ignores them",
        )

    # -- sub-ranges --------------------------------------------------------------------

    def _range_of(self, token: KeysetToken) -> KeysetRange:
        owner = self._owner.get(self.identity(token))
        if owner is not None:
            return owner
        for part in self.ranges:
            if token == part.next:
                return part
        return self.ranges[0]

    def _emitted(self, token: KeysetToken, fresh: list[Row]) -> None:
        """A page's rows go out: its range lets go of it; keys never go back across ranges."""
        self._owner.pop(self.identity(token), None)
        for part in self.ranges:
            if token in part.held:
                part.held.remove(token)
                break
        while self.ranges and self.ranges[0].next is None and not self.ranges[0].held:
            self.ranges.pop(0)
        keys = [str(r.get(self.key)) for r in fresh if r.get(self.key) not in (None, "")]
        if not keys:
            return
        if self._emitted_key is not None and later(self._emitted_key, keys[0]):
            raise ProviderError(
                self.label,
                f"the answer to {self.describe(token)} holds {self.key} {keys[0]}, before "
                f"{self._emitted_key} already emitted from the range before it: the server's "
                "bounds do not match its order; set max_concurrent_requests to 1",
            )
        self._emitted_key = keys[-1]

    def _split(self, first: KeysetRange) -> None:
        """After a full page of the open-ended range: bound it, cut the rest from its density.

        The first page, or one of the last range (made open-ended where the data seemed to
        end, see `_cut`) that finds rows again.
        """
        following = first.next
        if following is None or following.confirm or following.cursor is None:
            return
        if self.ceiling is None or not later(self.ceiling, following.cursor):
            return
        try:
            cursor, ceiling = key_seconds(following.cursor), key_seconds(self.ceiling)
        except (TypeError, ValueError):
            return
        self.sizer.cut_width(self._page_rows)
        upper = cursor + self.sizer.width
        if upper >= ceiling or self.sizer.expected(ceiling - cursor) <= self._page_rows:
            return
        first.upper = key_text(upper, self.ceiling, self.zone)
        first.next = first.bound(following)
        self._uncut = math.floor(upper)

    @property
    def _page_rows(self) -> int:
        """Rows a full page holds (what the server was seen to serve)."""
        return self.served or self.page_size

    def _cut(self, uncut: float, ceiling: str) -> KeysetRange:
        """The next sub-range from `uncut` (the walk's `_uncut`); the last is open-ended.

        The last is the rest of the range when a page holds all it is expected to, or when
        the latest whole sub-range held no row (the data may end there: no more empty
        sub-ranges cut up to the ceiling; where rows come again it is split anew, see
        `take`). Bounded by the ceiling when nothing is read past it (`ceiling_is_end`).
        """
        lower = key_text(uncut, ceiling, self.zone)
        self.sizer.cut_width(self._page_rows)
        end = uncut + self.sizer.width
        rest = key_seconds(ceiling) - uncut
        if (
            end >= key_seconds(ceiling)
            or self.sizer.ran_dry
            or self.sizer.expected(rest) <= self._page_rows
        ):
            upper = ceiling if self.ceiling_is_end else None
            part = KeysetRange(self, lower, upper, len(self.ranges) + 1)
            self._uncut = None
        else:
            end = math.floor(end)
            part = KeysetRange(self, lower, key_text(end, ceiling, self.zone), len(self.ranges) + 1)
            self._uncut = end
        self.ranges.append(part)
        return part

    def observe(
        self, part: KeysetRange, token: KeysetToken, rows: list[Row], last_key: str | None
    ) -> None:
        """Learn rows per second of key.

        From a full page over its own span, from a bounded range read to its end over the
        whole range.
        """
        if self.width == 1:
            return
        try:
            if len(rows) >= self._page_rows and last_key is not None:
                self.page = part.page
                first_key = next(
                    str(r.get(self.key)) for r in rows if r.get(self.key) not in (None, "")
                )
                self.sizer.saw_page(len(rows), key_seconds(last_key) - key_seconds(first_key))
            elif part.upper is not None and part.lower is not None and part.next is None:
                span = key_seconds(part.upper) - key_seconds(part.lower)
                self.sizer.saw_range(part.rows, span, self._page_rows)
        except (TypeError, ValueError, StopIteration):
            return


__all__ = [
    "MAX_PAGES_PAST_CEILING",
    "KeysetPage",
    "KeysetRange",
    "KeysetToken",
    "KeysetWalk",
    "later",
]
