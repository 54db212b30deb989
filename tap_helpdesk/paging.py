"""The keyset walk: paging over a list ordered by a modification time.

Plain offset (or page-number) paging over `ORDER BY modifiedAt ASC` loses tickets when one
is modified mid-sync: it jumps to the end of the list, every later ticket moves up one
place, and the ticket that crosses the page boundary is never seen. Instead each page is
asked for from the last modification time seen (`>=`, never `>`, so ties are not lost),
and the records of that last tie group, already emitted, are dropped from the next page.
A ticket modified mid-sync is simply met again further on; nothing can move past the
cursor unseen. When one timestamp fills a whole page, the walk falls back to an offset
within that tie group.

The end is read from the API's own marker where it has one (Teamwork Desk's hasMore).
Where it has none (Enneo), a page shorter than asked is confirmed by one more request
from the cursor: the end only if that brings nothing new. A server that serves fewer rows
than asked is then learnt, and its page size used from there on. The cost: one request
per walk.

The walk never moves its cursor back, and stops the run (one line) when an answer is not
in the order asked for: a later page could then hold a ticket the cursor already passed.
Rows without the key are emitted, never used as the cursor, and counted in a warning.

**Sub-ranges side by side** (when the engine keeps several requests in flight). One keyset
walk is sequential: each page starts where the last ended. So, once the first page (walked
alone, its short page confirmed as above) shows how many tickets a second of
modification time holds, the range from its last key to the walk's start (the ceiling) is
cut into sub-ranges expected to hold about `RANGE_FILL` of a page each, every one a keyset
walk of its own between `>= lower` and `<= upper` (each cut from what the latest pages
showed, never wider than twice the last, four times after an empty one). The last
sub-range is open-ended and is the walk of old: it confirms its short page, follows
changes past the ceiling `MAX_PAGES_PAST_CEILING` pages at most. A bounded sub-range
ends at a page shorter than the server was seen to serve (learnt on the first page): no
confirming request each.

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
"""

from __future__ import annotations

import math
import typing as t
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

from tap_helpdesk.engine import Step, Walk, page_fingerprint
from tap_helpdesk.errors import ProviderError
from tap_helpdesk.timestamps import parse_datetime

if t.TYPE_CHECKING:
    from collections.abc import Callable, Generator, Hashable

    import requests

Row = dict[str, t.Any]
#: Pages asked for from past the walk's start (changes made during the run) it follows.
MAX_PAGES_PAST_CEILING = 50
#: Rows a bounded sub-range is cut to hold, in pages: below 1 so that most take one request
#: (RANGE_FILL_FIRST while only single pages were seen: one page misjudges its neighbours).
RANGE_FILL = 0.9
RANGE_FILL_FIRST = 0.6
#: A sub-range is never cut wider than this many times the last one (after an empty one,
#: RANGE_GROWTH_EMPTY times: the quiet end of a range costs few requests).
RANGE_GROWTH = 2.0
RANGE_GROWTH_EMPTY = 4.0


@dataclass(frozen=True)
class KeysetToken:
    """Where the next page starts: records with key >= `cursor`, skipping `offset` of them.

    `confirm` marks a request sent only to make sure a short page was the last; it asks
    for keys up to `until` only (the moment the walk began), so that tickets modified
    while the run goes on cannot keep the walk chasing them: they are the next run's,
    whose lookback starts before them.
    """

    cursor: str | None
    offset: int = 0
    confirm: bool = False
    until: str | None = None


@dataclass
class KeysetPage:
    """What the last page held."""

    size: int = 0
    last_key: str | None = None
    tie_ids: set[t.Any] = field(default_factory=set)
    has_more: bool = False


def later(value: str, than: str) -> bool:
    """Whether timestamp text `value` is after `than` (text first; parsed when in doubt)."""
    if value[:19] != than[:19] or len(value) == len(than):
        return value > than
    try:
        return parse_datetime(value, timezone.utc) > parse_datetime(than, timezone.utc)
    except (TypeError, ValueError):
        return value > than


def _seconds(text: str) -> float:
    """Key text as seconds since the epoch (naive text read as UTC: only spans matter)."""
    return parse_datetime(text, timezone.utc).timestamp()


def _key_text(seconds: float, like: str) -> str:
    """Whole-second key text at `seconds`, written in the form of `like` (the ceiling)."""
    moment = datetime.fromtimestamp(int(seconds), timezone.utc)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S" if "T" in like else "%Y-%m-%d %H:%M:%S")
    if like.endswith("Z"):
        return text + "Z"
    if like[-6:-5] in "+-" and like[-3:-2] == ":":
        return moment.isoformat()
    return text


class KeysetRange:
    """One keyset walk between `lower` (>=) and `upper` (<=, None: open-ended)."""

    def __init__(self, walk: KeysetWalk, lower: str | None, upper: str | None, index: int) -> None:
        """The range of `walk` from `lower` to `upper`, its `index`-th (0: the first)."""
        self.walk = walk
        self.lower = lower
        self.upper = upper
        #: the walk's first range has no neighbour before it whose rows it repeats
        self.index = index
        self.page = KeysetPage()
        self.skip_ids: set[t.Any] = set()
        #: the key value the records in skip_ids were emitted with
        self.skip_key: str | None = None
        self.next: KeysetToken | None = KeysetToken(lower, 0, False, upper)
        self.pages_past_ceiling = 0
        self.rows = 0
        #: answers taken in (peeked) whose rows are not out yet, in order
        self.held: list[KeysetToken] = []

    def bound(self, token: KeysetToken | None) -> KeysetToken | None:
        """A request of this range: limited to its upper bound."""
        if token is None or self.upper is None or token.confirm:
            return token
        return replace(token, until=self.upper)

    def take(
        self, token: KeysetToken, rows: list[Row], has_more: bool | None
    ) -> tuple[list[Row], Step]:
        """Account for one page: its rows not emitted before, and what it said."""
        walk = self.walk
        walk.requests += 1
        key, id_field, skip, skip_key = walk.key, walk.id_field, self.skip_ids, self.skip_key
        fresh = [r for r in rows if not (r.get(key) == skip_key and r.get(id_field) in skip)]
        last_key = self._check_order(token, rows)
        if walk.keyless_ids:
            fresh = [r for r in fresh if not walk.keyless_again(r)]
        ties = (
            {r.get(id_field) for r in reversed(rows) if r.get(key) == last_key}
            if last_key is not None
            else set()
        )
        self.page = KeysetPage(len(rows), last_key, ties, bool(has_more))
        # A server whose filter lets rows without the key through sends them to every
        # bounded sub-range: there only the keyed rows tell answers apart and count.
        counted = rows if self.upper is None else [r for r in rows if r.get(key) not in (None, "")]
        keyed_fresh = [r for r in fresh if r.get(key) not in (None, "")]
        new = len(keyed_fresh)
        if self.index and token.cursor == self.lower and self.lower is not None:
            fresh = self._past_lower(fresh)  # rows at the bound: the range before brought them
        self.rows += len(rows)
        self.next = self.bound(self._next(token, rows, keyed_fresh, has_more))
        walk.observe(self, token, rows, last_key)
        notes: tuple[str, ...] = ()
        if self.next is not None and self._past_ceiling(token):
            notes = (
                f"{walk.label}: stopped following tickets changed after the walk began "
                f"({MAX_PAGES_PAST_CEILING} pages past {walk.ceiling}); the next run reads "
                "them from the bookmark",
            )
            self.next = None
        step = Step(
            rows=len(counted),
            new=new,
            bookmark=walk.to_bookmark(last_key) if last_key is not None else None,
            fingerprint=None if token.confirm else page_fingerprint(counted, id_field),
            notes=notes,
        )
        return fresh, step

    def _past_lower(self, rows: list[Row]) -> list[Row]:
        key, lower = self.walk.key, t.cast("str", self.lower)
        return [r for r in rows if r.get(key) in (None, "") or later(str(r.get(key)), lower)]

    def _past_ceiling(self, token: KeysetToken) -> bool:
        """Whether this page, asked for from past the walk's start, is one too many.

        Pages past the ceiling hold tickets changed while the run goes on: following them
        loses nothing (every key up to the cursor is read), stopping loses nothing either
        (the bookmark is the cursor), so a server that keeps inventing newer rows is
        followed this far and no further.
        """
        ceiling = self.walk.ceiling
        if ceiling is None or token.cursor is None or not later(token.cursor, ceiling):
            return False
        self.pages_past_ceiling += 1
        return self.pages_past_ceiling >= MAX_PAGES_PAST_CEILING

    def _check_order(self, token: KeysetToken, rows: list[Row]) -> str | None:
        """The page's last key; an error when the page is not in the order asked for."""
        walk = self.walk
        previous = token.cursor
        last: str | None = None
        for row in rows:
            value = row.get(walk.key)
            if value is None or value == "":
                walk.keyless_ids.add(row.get(walk.id_field))
                continue
            text = str(value)
            if previous is not None and text != previous and later(previous, text):
                raise ProviderError(
                    walk.label,
                    f"the answer to {walk.describe(token)} is not in ascending {walk.key} "
                    f"order (row {row.get(walk.id_field)} has {text} after {previous}): "
                    "paging on would skip tickets",
                )
            previous = last = text
        if last is not None and self.upper is not None and last[:19] > self.upper[:19]:
            raise ProviderError(
                walk.label,
                f"the answer to {walk.describe(token)} holds rows past {walk.key} "
                f"{self.upper} (up to {last}): the server ignores the upper bound; set "
                "max_concurrent_requests to 1, which asks without one",
            )
        return last

    def _next(
        self, token: KeysetToken, rows: list[Row], fresh: list[Row], has_more: bool | None
    ) -> KeysetToken | None:
        page, walk = self.page, self.walk
        if has_more is not None:  # the API says whether there is more
            if not has_more:
                return None
            if not rows or page.last_key is None:
                raise ProviderError(
                    walk.label,
                    f"the answer to {walk.describe(token)} says there is more but holds no "
                    f"row with a {walk.key} to go on from",
                )
        else:
            if not rows or (token.confirm and not fresh):
                return None  # nothing past the cursor: the end
            if token.confirm and walk.served is None and len(rows) < walk.page_size:
                # the short page was not the last: the server serves fewer rows than asked
                walk.served = max(len(rows), 1)
            full = len(rows) >= (walk.served or walk.page_size)
            if self.upper is not None and (not full or page.last_key is None):
                return None  # a bounded range: the server was seen to serve full pages
            if page.last_key is None:
                return None if token.confirm else self._confirm(token.cursor, token.offset, rows)
            if not full:
                if token.confirm and page.last_key == token.cursor and not fresh:
                    return None
                return self._confirm_from(token, page)
        return self._onwards(token, page)

    def _onwards(self, token: KeysetToken, page: KeysetPage) -> KeysetToken:
        if len(page.tie_ids) >= page.size:
            # One timestamp filled the whole page: page through the tie group by offset,
            # from the cursor when it is that time, else from that time (the page holds
            # the group's first rows: asked from it again, it would be the same page).
            same = page.last_key == token.cursor
            self.skip_ids = (self.skip_ids if same else set()) | page.tie_ids
            self.skip_key = page.last_key
            return KeysetToken(page.last_key, (token.offset if same else 0) + page.size)
        self.skip_ids = set(page.tie_ids)
        self.skip_key = page.last_key
        return KeysetToken(page.last_key, 0)

    def _confirm_from(self, token: KeysetToken, page: KeysetPage) -> KeysetToken:
        following = self._onwards(token, page)
        return KeysetToken(following.cursor, following.offset, True, self.walk.ceiling)

    def _confirm(self, cursor: str | None, offset: int, rows: list[Row]) -> KeysetToken:
        # Only rows without a key: ask past them within the same cursor.
        return KeysetToken(cursor, offset + len(rows), True, self.walk.ceiling)


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
        id_field: str = "id",
        to_bookmark: Callable[[str], t.Any] = str,
        ceiling: str | None = None,
    ) -> None:
        """Walk `key` upwards from `start` (None: from the first row), `page_size` rows a page.

        Args:
            label: the provider's name, for error lines.
            key: the field the walk pages on (the stream's replication key).
            start: the key value to start from, None for the first row.
            page_size: rows asked for per page.
            parse: reads one page's answer into its rows and the API's has-more marker.
            id_field: the field that identifies a row.
            to_bookmark: the bookmark value for a key's text.
            ceiling: now, as key text, when the walk began; None: no bound.
        """
        self.label = label
        self.key = key
        self.id_field = id_field
        self.page_size = page_size
        #: response -> (rows, the API's has-more marker or None where it has none)
        self.parse = parse
        self.to_bookmark = to_bookmark
        #: now, as key text, when the walk began: the bound of confirming requests
        self.ceiling = ceiling
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
        self._range_seconds = 0.0
        #: rows per second of key, from the latest pages; whether from a whole range yet
        self._density: float | None = None
        self._whole_ranges = False
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
        rows, has_more = self._parse(response)
        fresh, step = part.take(token, rows, has_more)
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
        elif self._uncut is None and len(self.ranges) == 1 and not part.index:
            self._split(part)
        if part.next is None and part is self.ranges[-1] and self._uncut is None:
            notes = self._keyless_notes()
            if notes:
                step.notes += notes
        return fresh, step

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
        """After the first page: bound the first range and cut the rest from its density."""
        following = first.next
        if following is None or following.confirm or following.cursor is None:
            return
        if self.ceiling is None or not later(self.ceiling, following.cursor):
            return
        try:
            cursor, ceiling = _seconds(following.cursor), _seconds(self.ceiling)
        except (TypeError, ValueError):
            return
        self._range_seconds = self._cut_seconds()
        upper = cursor + self._range_seconds
        if upper >= ceiling:
            return
        first.upper = _key_text(upper, self.ceiling)
        first.next = first.bound(following)
        self._uncut = math.floor(upper)

    def _cut_seconds(self) -> float:
        """How wide the next sub-range is: RANGE_FILL of a page at the latest density."""
        fill = RANGE_FILL if self._whole_ranges else RANGE_FILL_FIRST
        target = fill * (self.served or self.page_size)
        width = target / self._density if self._density else float("inf")
        if self._range_seconds:
            growth = RANGE_GROWTH if self._density else RANGE_GROWTH_EMPTY
            width = min(width, self._range_seconds * growth)
        return max(width, 1.0)

    def _cut(self, uncut: float, ceiling: str) -> KeysetRange:
        """The next sub-range from `uncut` (the walk's `_uncut`); the last is open-ended."""
        lower = _key_text(uncut, ceiling)
        self._range_seconds = self._cut_seconds()
        end = uncut + self._range_seconds
        if end >= _seconds(ceiling):
            part = KeysetRange(self, lower, None, len(self.ranges) + 1)
            self._uncut = None
        else:
            end = math.floor(end)
            part = KeysetRange(self, lower, _key_text(end, ceiling), len(self.ranges) + 1)
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
            if len(rows) >= (self.served or self.page_size) and last_key is not None:
                self.page = part.page
                first_key = next(
                    str(r.get(self.key)) for r in rows if r.get(self.key) not in (None, "")
                )
                count, span = len(rows), _seconds(last_key) - _seconds(first_key)
            elif part.upper is not None and part.lower is not None and part.next is None:
                count, span = part.rows, _seconds(part.upper) - _seconds(part.lower)
                self._whole_ranges = True
            else:
                return
        except (TypeError, ValueError, StopIteration):
            return
        self._density = count / max(span, 1.0)


__all__ = ["KeysetPage", "KeysetRange", "KeysetToken", "KeysetWalk", "later"]
