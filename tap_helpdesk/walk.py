"""The walk contract: what a provider describes, for the engine (engine.py) to drive.

A provider describes its walk (`Walk`): which requests to send next (`ready`), and what
each answer holds (`read`: the rows to emit, as they are parsed, then a `Step` saying what
the answer told about the walk). Walks never sleep and never log: what they noticed comes
back in `Step.notes`, and a wait they need is `wait_before`.

`ready` returns every request that can be sent before the current answer is consumed
(windows, slices, ranges are independent; a keyset walk's next page is not), so that
several requests can be in flight where the walk allows it. A walk whose next request
depends on an answer that is not yet the one to consume (the keyset walk's sub-ranges)
may `peek` at it as soon as it arrives: it decides what to ask for next from it, while the
answer itself stays held, in its place, until its turn comes to be read.
"""

from __future__ import annotations

import abc
import typing as t
from dataclasses import dataclass

if t.TYPE_CHECKING:
    from collections.abc import Generator, Hashable, Sequence

    import requests

Token = t.TypeVar("Token")
Row = dict[str, t.Any]

#: The longest a walk may ask the engine to wait before a request.
MAX_WAIT_SECONDS = 5.0


@dataclass
class Step:
    """What one answer told the walk (returned by `Walk.read` once its rows are out)."""

    #: rows in the answer
    rows: int = 0
    #: rows the walk had not met before in this run (an answer of rows already met is no
    #: progress; an empty answer is not counted either way)
    new: int = 0
    #: a bookmark value (a value of the stream's replication key) that holds once the
    #: answer's rows are written, or None
    bookmark: t.Any = None
    #: what the answer showed, identifying its rows (say the ids of its first and last
    #: row); None when an answer may legitimately repeat an earlier one
    fingerprint: Hashable | None = None
    #: lines for the log (warnings): what the walk noticed, instead of logging it itself
    notes: tuple[str, ...] = ()
    #: lines for the log at INFO (what was read: a window and its rows, a summary)
    events: tuple[str, ...] = ()


class Walk(abc.ABC, t.Generic[Token]):
    """How to walk one provider endpoint (see the module doc)."""

    @abc.abstractmethod
    def ready(self) -> Sequence[Token]:
        """Requests that can be sent now, in the order their rows are to be emitted.

        Empty when the walk is finished. A walk whose next request depends on the answer
        to the current one returns one request at a time.
        """

    @abc.abstractmethod
    def read(self, token: Token, response: requests.Response) -> Generator[Row, None, Step]:
        """Yield the rows of the answer to `token` to emit, then return what it said."""

    def wait_before(self, token: Token) -> float:
        """Seconds to wait before sending `token`, at most MAX_WAIT_SECONDS.

        Say, until a window's end is in the past: the engine waits, a walk never sleeps.
        """
        return 0.0

    def position(self) -> tuple[str, float | None] | None:
        """Where the walk is, for progress lines.

        Returns:
            A position users read (such as a date) and the fraction of the range behind
            it, or None when unknown.
        """
        return None

    def request_limit(self) -> int | None:
        """Most requests the whole walk can take, from what it knows now (None: no bound).

        It may grow as the walk learns (a window split in parts); the guard stops the run
        when the requests sent reach it.
        """
        return None

    def plan_for(self, width: int) -> None:
        """Plan for up to `width` requests in flight, the most the engine keeps.

        A walk that can plan more independent requests for it (split its range) does so
        here.
        """

    def peek(self, token: Token, response: requests.Response) -> bool:
        """Look at an answer before those listed ahead of it are read.

        Returns whether the walk took it in: it then keeps listing `token` in `ready`, in
        its place, until `read` is called for it, and may list requests that follow from
        it. False (the default): the answer waits for its turn unlooked at.
        """
        return False

    def describe(self, token: Token) -> str:
        """A request, for error lines."""
        return str(token)

    def identity(self, token: Token) -> Hashable:
        """A request's identity: the same key twice is a request that did not move."""
        return t.cast("Hashable", token)


def page_fingerprint(rows: Sequence[Row], id_field: str) -> Hashable | None:
    """What identifies a page: its size and its first and last rows' ids (None if empty)."""
    if not rows:
        return None
    return (len(rows), str(rows[0].get(id_field)), str(rows[-1].get(id_field)))


__all__ = ["MAX_WAIT_SECONDS", "Row", "Step", "Token", "Walk", "page_fingerprint"]
