"""Walks of one run read in turn: each to its end before the next begins.

A stream whose run is several walks (Socialboards: the activity walk, then the creation
slices; Teamwork Desk: the archived tickets, then the list) hands the engine one
`WalksInTurn`. Its tokens are `(index, token)`: the walk's place in the sequence and that
walk's own token, so identities, descriptions and answers go to the walk that asked.

The engine's optional hooks reach the inner walks too: `plan_for` goes to every walk (each
plans for the same width when its turn comes), and `peek` to the walk whose token it is,
so a keyset walk in the sequence reads its sub-ranges side by side as it would alone.
"""

from __future__ import annotations

import typing as t

from tap_helpdesk.walk import Row, Step, Walk

if t.TYPE_CHECKING:
    from collections.abc import Generator, Hashable

    import requests

#: A request of the sequence: the index of the walk it belongs to, and that walk's token.
Tagged = tuple[int, t.Any]


class WalksInTurn(Walk[Tagged]):
    """The walks of one run, one after the other (tokens tagged with their walk's index)."""

    def __init__(self, *walks: Walk[t.Any]) -> None:
        """Read `walks` in the order given."""
        self.walks = walks
        #: the walk being read (len(walks) once all are finished)
        self.index = 0

    def ready(self) -> list[Tagged]:
        """The current walk's requests; the next walk's once it has none left."""
        while self.index < len(self.walks):
            tokens = self.walks[self.index].ready()
            if tokens:
                return [(self.index, token) for token in tokens]
            self.index += 1
        return []

    def read(self, token: Tagged, response: requests.Response) -> Generator[Row, None, Step]:
        """The rows of the answer, read by the walk that asked for it."""
        index, inner = token
        return (yield from self.walks[index].read(inner, response))

    def peek(self, token: Tagged, response: requests.Response) -> bool:
        """Shown to the walk that asked for it (see `Walk.peek`)."""
        index, inner = token
        return self.walks[index].peek(inner, response)

    def plan_for(self, width: int) -> None:
        """Every walk plans for the engine's width (see `Walk.plan_for`)."""
        for walk in self.walks:
            walk.plan_for(width)

    def wait_before(self, token: Tagged) -> float:
        """The wait the walk that asked for it wants."""
        index, inner = token
        return self.walks[index].wait_before(inner)

    def identity(self, token: Tagged) -> Hashable:
        """The inner identity, tagged: walks may use the same tokens."""
        index, inner = token
        return (index, self.walks[index].identity(inner))

    def describe(self, token: Tagged) -> str:
        """The request as its walk describes it."""
        index, inner = token
        return self.walks[index].describe(inner)

    def request_limit(self) -> int | None:
        """The current walk's bound, after the requests of the walks before it."""
        index = self._current()
        limit = self.walks[index].request_limit()
        if limit is None:
            return None
        return limit + sum(int(getattr(walk, "requests", 0)) for walk in self.walks[:index])

    def position(self) -> tuple[str, float | None] | None:
        """Where the current walk is."""
        return self.walks[self._current()].position()

    def _current(self) -> int:
        """The walk being read, or the last one once all are finished."""
        return min(self.index, len(self.walks) - 1)


__all__ = ["Tagged", "WalksInTurn"]
