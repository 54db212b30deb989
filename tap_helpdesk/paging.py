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
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field
from datetime import timezone

from tap_helpdesk.engine import Step, Walk, page_fingerprint
from tap_helpdesk.errors import ProviderError
from tap_helpdesk.timestamps import parse_datetime

if t.TYPE_CHECKING:
    from collections.abc import Callable, Generator, Hashable

    import requests

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


class KeysetWalk(Walk[KeysetToken]):
    """The keyset walk of one run (see the module doc)."""

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
        self.label = label
        self.key = key
        self.id_field = id_field
        self.page_size = page_size
        #: response -> (rows, the API's has-more marker or None where it has none)
        self.parse = parse
        self.to_bookmark = to_bookmark
        #: now, as key text, when the walk began: the bound of confirming requests
        self.ceiling = ceiling
        self.page = KeysetPage()
        self.skip_ids: set[t.Any] = set()
        #: the key value the records in skip_ids were emitted with
        self.skip_key: str | None = None
        self.start = start
        self.next: KeysetToken | None = KeysetToken(start)
        #: rows per page the server was seen to serve when it served fewer than asked
        self.served: int | None = None
        #: ids of rows without the key: emitted once, never a cursor (a filter on the key
        #: leaves them out; a server that keeps sending them does not make progress)
        self.keyless_ids: set[t.Any] = set()
        self._keyless_emitted: set[t.Any] = set()
        self.requests = 0
        self.pages_past_ceiling = 0

    # -- the walk contract -------------------------------------------------------------

    def ready(self) -> list[KeysetToken]:
        """The next page (one at a time: it starts where the current one ends)."""
        return [self.next] if self.next is not None else []

    def identity(self, token: KeysetToken) -> Hashable:
        """A cursor and offset asked for twice did not move."""
        return (token.cursor, token.offset)

    def describe(self, token: KeysetToken) -> str:
        """The request as it is filtered."""
        text = f"{self.key_name} >= {token.cursor}" if token.cursor else "the first page"
        return text + (f" (offset {token.offset})" if token.offset else "")

    def position(self) -> tuple[str, float | None] | None:
        """The cursor, and how far it is from the walk's start to its ceiling."""
        cursor = self.page.last_key or self.start
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
        assert self.parse is not None
        rows, has_more = self.parse(response)
        fresh, step = self.take(token, rows, has_more)
        yield from fresh
        return step

    # -- one page ----------------------------------------------------------------------

    def take(
        self, token: KeysetToken, rows: list[Row], has_more: bool | None
    ) -> tuple[list[Row], Step]:
        """Account for one page: its rows not emitted before, and what it said."""
        self.requests += 1
        key, id_field, skip, skip_key = self.key, self.id_field, self.skip_ids, self.skip_key
        fresh = [r for r in rows if not (r.get(key) == skip_key and r.get(id_field) in skip)]
        last_key = self._check_order(token, rows)
        if self.keyless_ids:
            fresh = [r for r in fresh if not self._keyless_again(r)]
        ties = (
            {r.get(id_field) for r in reversed(rows) if r.get(key) == last_key}
            if last_key is not None
            else set()
        )
        self.page = KeysetPage(len(rows), last_key, ties, bool(has_more))
        keyed_fresh = [r for r in fresh if r.get(key) not in (None, "")]
        self.next = self._next(token, rows, keyed_fresh, has_more)
        notes: tuple[str, ...] = ()
        if self.next is not None and self._past_ceiling(token):
            notes = (
                f"{self.label}: stopped following tickets changed after the walk began "
                f"({MAX_PAGES_PAST_CEILING} pages past {self.ceiling}); the next run reads "
                "them from the bookmark",
            )
            self.next = None
        if self.next is None and self.keyless_ids:
            notes += (
                f"{self.label}: {len(self.keyless_ids)} rows had no {key}: they were "
                "emitted, and the bookmark ignores them",
            )
        step = Step(
            rows=len(rows),
            new=sum(1 for r in fresh if r.get(key) not in (None, "")),
            bookmark=self.to_bookmark(last_key) if last_key is not None else None,
            fingerprint=None if token.confirm else page_fingerprint(rows, id_field),
            notes=notes,
        )
        return fresh, step

    def _past_ceiling(self, token: KeysetToken) -> bool:
        """Whether this page, asked for from past the walk's start, is one too many.

        Pages past the ceiling hold tickets changed while the run goes on: following them
        loses nothing (every key up to the cursor is read), stopping loses nothing either
        (the bookmark is the cursor), so a server that keeps inventing newer rows is
        followed this far and no further.
        """
        if self.ceiling is None or token.cursor is None or not later(token.cursor, self.ceiling):
            return False
        self.pages_past_ceiling += 1
        return self.pages_past_ceiling >= MAX_PAGES_PAST_CEILING

    def _keyless_again(self, row: Row) -> bool:
        """A row without the key that was emitted before (noted as emitted otherwise)."""
        if row.get(self.key) not in (None, ""):
            return False
        identity = row.get(self.id_field)
        if identity in self._keyless_emitted:
            return True
        self._keyless_emitted.add(identity)
        return False

    def _check_order(self, token: KeysetToken, rows: list[Row]) -> str | None:
        """The page's last key; an error when the page is not in the order asked for."""
        previous = token.cursor
        last: str | None = None
        for row in rows:
            value = row.get(self.key)
            if value is None or value == "":
                self.keyless_ids.add(row.get(self.id_field))
                continue
            text = str(value)
            if previous is not None and text != previous and later(previous, text):
                raise ProviderError(
                    self.label,
                    f"the answer to {self.describe(token)} is not in ascending {self.key} "
                    f"order (row {row.get(self.id_field)} has {text} after {previous}): "
                    "paging on would skip tickets",
                )
            previous = last = text
        return last

    def _next(
        self, token: KeysetToken, rows: list[Row], fresh: list[Row], has_more: bool | None
    ) -> KeysetToken | None:
        page = self.page
        if has_more is not None:  # the API says whether there is more
            if not has_more:
                return None
            if not rows or page.last_key is None:
                raise ProviderError(
                    self.label,
                    f"the answer to {self.describe(token)} says there is more but holds no "
                    f"row with a {self.key} to go on from",
                )
        else:
            if not rows or (token.confirm and not fresh):
                return None  # nothing past the cursor: the end
            if token.confirm and self.served is None and len(rows) < self.page_size:
                # the short page was not the last: the server serves fewer rows than asked
                self.served = max(len(rows), 1)
            full = len(rows) >= (self.served or self.page_size)
            if page.last_key is None:
                return None if token.confirm else self._confirm(token.cursor, token.offset, rows)
            if not full:
                if token.confirm and page.last_key == token.cursor and not fresh:
                    return None
                return self._confirm_from(token, page)
        return self._onwards(token, page)

    def _onwards(self, token: KeysetToken, page: KeysetPage) -> KeysetToken:
        if len(page.tie_ids) >= page.size and page.last_key == token.cursor:
            # One timestamp filled the whole page: page through the tie group by offset.
            self.skip_ids |= page.tie_ids
            self.skip_key = page.last_key
            return KeysetToken(token.cursor, token.offset + page.size)
        self.skip_ids = set(page.tie_ids)
        self.skip_key = page.last_key
        return KeysetToken(page.last_key, 0)

    def _confirm_from(self, token: KeysetToken, page: KeysetPage) -> KeysetToken:
        following = self._onwards(token, page)
        return KeysetToken(following.cursor, following.offset, True, self.ceiling)

    def _confirm(self, cursor: str | None, offset: int, rows: list[Row]) -> KeysetToken:
        # Only rows without a key: ask past them within the same cursor.
        return KeysetToken(cursor, offset + len(rows), True, self.ceiling)


__all__ = ["KeysetPage", "KeysetToken", "KeysetWalk", "later"]
