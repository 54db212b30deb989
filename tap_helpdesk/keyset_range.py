"""One keyset range: paging over a list ordered by a modification time.

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
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field, replace
from datetime import timezone

from tap_helpdesk.errors import ProviderError, UnreadableValue
from tap_helpdesk.timestamps import parse_datetime
from tap_helpdesk.walk import Step, page_fingerprint

if t.TYPE_CHECKING:
    from tap_helpdesk.paging import KeysetWalk


Row = dict[str, t.Any]
#: Pages asked for from past the walk's start (changes made during the run) it follows.
MAX_PAGES_PAST_CEILING = 50


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
            # Rows at the bound (both ranges include it, >= and <=): the range before
            # brought them, and may have had a page of only them: they neither go out
            # again nor tell this answer from that one.
            fresh = self._past_lower(fresh)
            counted_own = self._past_lower(counted)
        else:
            counted_own = counted
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
            bookmark=self._bookmark(rows, last_key) if last_key is not None else None,
            fingerprint=None if token.confirm else page_fingerprint(counted_own, id_field),
            notes=notes,
        )
        return fresh, step

    def _bookmark(self, rows: list[Row], last_key: str) -> t.Any:  # noqa: ANN401  # the walk's
        """The bookmark of a page's last key, or one line naming the row it cannot be read from."""
        walk = self.walk
        try:
            return walk.to_bookmark(last_key)
        except UnreadableValue as problem:
            row = next((r for r in reversed(rows) if r.get(walk.key) == last_key), {})
            where = f"{walk.stream}: " if walk.stream else ""
            value = UnreadableValue(problem.value, problem.expected)  # the key is named here
            raise ProviderError(
                walk.label,
                f"{where}a row's {walk.key} is {value}: the walk cannot go on from it "
                f"({walk.id_field}={row.get(walk.id_field)!r})",
            ) from None

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


__all__ = ["MAX_PAGES_PAST_CEILING", "KeysetPage", "KeysetRange", "KeysetToken", "Row", "later"]
