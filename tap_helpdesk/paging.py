"""Keyset paging over a list ordered by a modification time.

Plain offset (or page-number) paging over `ORDER BY modifiedAt ASC` loses tickets when one
is modified mid-sync: it jumps to the end of the list, every later ticket moves up one
place, and the ticket that crosses the page boundary is never seen. Instead each page is
asked for from the last modification time seen (`>=`, never `>`, so ties are not lost),
and the records of that last tie group, already emitted, are dropped from the next page.
A ticket modified mid-sync is simply met again further on; nothing can move past the
cursor unseen. When one timestamp fills a whole page, the walk falls back to an offset
within that tie group.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

from singer_sdk.pagination import BaseAPIPaginator

if t.TYPE_CHECKING:
    import requests


@dataclass(frozen=True)
class KeysetToken:
    """Where the next page starts: records with key >= `cursor`, skipping `offset` of them."""

    cursor: str | None
    offset: int = 0


@dataclass
class KeysetPage:
    """What the stream saw on the page it just parsed (filled in by the stream)."""

    size: int = 0
    last_key: str | None = None
    tie_ids: set[t.Any] = field(default_factory=set)
    has_more: bool = False


class KeysetWalk:
    """Shared between a stream and its paginator: the page just parsed and ids to skip."""

    def __init__(self, key: str, id_field: str = "id") -> None:
        self.key = key
        self.id_field = id_field
        self.page = KeysetPage()
        self.skip_ids: set[t.Any] = set()
        #: the key value the records in skip_ids were emitted with
        self.skip_key: str | None = None

    def take_page(self, records: list[dict[str, t.Any]], *, has_more: bool) -> list[dict]:
        """Record what this page holds and return its records minus those already emitted.

        A record of the last tie group is dropped only while it still has the tie group's
        key: one modified since comes with a later key, and is emitted again.
        """
        skip, key, skip_key = self.skip_ids, self.key, self.skip_key
        fresh = [
            r for r in records if not (r.get(key) == skip_key and r.get(self.id_field) in skip)
        ]
        last_key = records[-1].get(self.key) if records else None
        ties = {r.get(self.id_field) for r in reversed(records) if r.get(self.key) == last_key}
        self.page = KeysetPage(len(records), last_key, ties, has_more)
        return fresh


class KeysetPaginator(BaseAPIPaginator[KeysetToken]):
    """Advances a KeysetWalk; stops when the stream reports no more pages."""

    def __init__(self, walk: KeysetWalk, start: str | None) -> None:
        super().__init__(KeysetToken(start))
        self.walk = walk

    def get_next(self, response: requests.Response) -> KeysetToken | None:
        page, current = self.walk.page, self.current_value
        if not page.has_more or page.size == 0 or page.last_key is None:
            return None
        if len(page.tie_ids) >= page.size and page.last_key == current.cursor:
            # One timestamp filled the whole page: page through the tie group by offset.
            self.walk.skip_ids |= page.tie_ids
            self.walk.skip_key = page.last_key
            return KeysetToken(current.cursor, current.offset + page.size)
        self.walk.skip_ids = set(page.tie_ids)
        self.walk.skip_key = page.last_key
        return KeysetToken(page.last_key, 0)

    def continue_if_empty(self, response: requests.Response) -> bool:
        # A page made only of already-emitted ties parses to nothing yet is not the end.
        return self.walk.page.size > 0 and self.walk.page.has_more
