"""The walk engine: one loop drives every provider's walk through its API.

A provider describes its walk (`Walk`): which requests to send next (`ready`), and what
each answer holds (`read`: the rows to emit, as they are parsed, then a `Step` saying what
the answer told about the walk). The engine (`HelpdeskStream.request_records`) sends each
request through the provider's budget and retries, hands the answer back, moves the
bookmark once the answer's rows are written, and stops the run when an answer cannot be
trusted (`WalkGuard`):

- a request the walk already sent (a cursor, a link or a skip that did not move),
- an answer holding the same rows as an earlier one to another request (a server that
  ignores skip/page, links that cycle),
- answers that keep bringing only rows already met,
- more requests than the walk's own upper bound (from totals, windows, page sizes).

Each ends the run with one line naming the provider, the request and what repeated, and
the STATE written so far is a point from which a rerun loses nothing. Walks never sleep
and never log: what they noticed comes back in `Step.notes`.

`ready` returns every request that can be sent before the current answer is consumed
(windows, slices, ranges are independent; a keyset walk's next page is not), so that
several requests can be in flight where the walk allows it.
"""

from __future__ import annotations

import abc
import contextlib
import heapq
import itertools
import socket
import threading
import time
import typing as t
from dataclasses import dataclass

from tap_helpdesk.errors import ProviderError

if t.TYPE_CHECKING:
    from collections.abc import Generator, Hashable, Sequence

    import requests

Token = t.TypeVar("Token")
Row = dict[str, t.Any]

#: The longest a walk may ask the engine to wait before a request.
MAX_WAIT_SECONDS = 5.0
#: Consecutive answers with rows but none the walk had not met before: the walk is stuck.
MAX_IDLE_ANSWERS = 5


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
        """Seconds to wait before sending `token` (say, until a window's end is in the
        past); the engine waits, a walk never sleeps. At most MAX_WAIT_SECONDS."""
        return 0.0

    def request_limit(self) -> int | None:
        """Most requests the whole walk can take, from what it knows now (None: no bound).

        It may grow as the walk learns (a window split in parts); the guard stops the run
        when the requests sent reach it.
        """
        return None

    def describe(self, token: Token) -> str:
        """A request, for error lines."""
        return str(token)

    def identity(self, token: Token) -> Hashable:
        """A request's identity: the same key twice is a request that did not move."""
        return t.cast("Hashable", token)


class WalkGuard:
    """Stops a walk that does not advance (see the module doc)."""

    def __init__(self, label: str, walk: Walk[t.Any]) -> None:
        self.label = label
        self.walk = walk
        self.sent: set[Hashable] = set()
        self.answers: dict[Hashable, str] = {}
        self.idle = 0
        self.requests = 0

    def before(self, token: t.Any) -> None:
        """Check a request before it is sent."""
        key = self.walk.identity(token)
        if key in self.sent:
            raise ProviderError(
                self.label,
                f"the walk asked for {self.walk.describe(token)} a second time: the "
                "server's answers did not move it on (a cursor, page or skip that repeats)",
            )
        self.sent.add(key)
        limit = self.walk.request_limit()
        if limit is not None and self.requests >= limit:
            raise ProviderError(
                self.label,
                f"more requests than the answers allow ({self.requests} sent, at most "
                f"{limit} expected, next {self.walk.describe(token)}): the server's totals, "
                "page sizes or links do not add up",
            )
        self.requests += 1

    def after(self, token: t.Any, step: Step) -> None:
        """Check what an answer said."""
        described = self.walk.describe(token)
        if step.fingerprint is not None and step.rows:
            earlier = self.answers.get(step.fingerprint)
            if earlier is not None:
                raise ProviderError(
                    self.label,
                    f"the answer to {described} holds the same rows as the answer to "
                    f"{earlier}: the server ignored what changed between them",
                )
            self.answers[step.fingerprint] = described
        if step.rows and not step.new:
            self.idle += 1
            if self.idle >= MAX_IDLE_ANSWERS:
                raise ProviderError(
                    self.label,
                    f"{self.idle} answers in a row brought only rows already read (the last "
                    f"to {described}): the walk does not advance",
                )
        elif step.new:
            self.idle = 0


def page_fingerprint(rows: Sequence[Row], id_field: str) -> Hashable | None:
    """What identifies a page: its size and its first and last rows' ids (None if empty)."""
    if not rows:
        return None
    return (len(rows), str(rows[0].get(id_field)), str(rows[-1].get(id_field)))


class Deadline:
    """Bounds a whole answer, from connect to last byte, by `seconds`.

    `requests` applies its timeout to each socket read, so a body trickling one byte a
    second never times out. When the deadline passes, the connection is shut down, which
    ends the blocked read; `expired` then tells the caller that this was a timeout. One
    watchdog thread serves every deadline of the process (a thread per request would cost
    more than a small page takes to parse).
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self.done = False
        self._sock: socket.socket | None = None

    def start(self) -> None:
        """Start counting (before the request is sent)."""
        if self.seconds > 0:
            _WATCHDOG.add(time.monotonic() + self.seconds, self)

    def watch(self, response: requests.Response) -> None:
        """Attach the answer's connection, to be shut down when the deadline passes."""
        sock = _socket_of(response)
        with _WATCHDOG.lock:
            if self.done:
                return
            self._sock = sock
            expired = self.expired
        if expired:
            _shutdown(sock)

    def cancel(self) -> None:
        """The answer is complete (or abandoned): stop counting."""
        with _WATCHDOG.lock:
            self.done = True
            self._sock = None

    def expire(self) -> None:
        """The deadline passed (called by the watchdog)."""
        with _WATCHDOG.lock:
            if self.done:
                return
            self.expired = True
            sock, self._sock = self._sock, None
        _shutdown(sock)


class _Watchdog:
    """One daemon thread that expires deadlines in time order."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._wake = threading.Condition(self.lock)
        self._heap: list[tuple[float, int, Deadline]] = []
        self._count = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, when: float, deadline: Deadline) -> None:
        with self.lock:
            while self._heap and self._heap[0][2].done:  # answered long before they expire
                heapq.heappop(self._heap)
            heapq.heappush(self._heap, (when, next(self._count), deadline))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="tap-helpdesk-deadlines", daemon=True
                )
                self._thread.start()
            elif self._heap[0][2] is deadline:
                self._wake.notify()

    def _run(self) -> None:
        while True:
            with self.lock:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._wake.wait()
                    continue
                when, _n, deadline = self._heap[0]
                wait = when - time.monotonic()
                if wait > 0:
                    self._wake.wait(wait)
                    continue
                heapq.heappop(self._heap)
            deadline.expire()


_WATCHDOG = _Watchdog()


def _shutdown(sock: socket.socket | None) -> None:
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _socket_of(response: requests.Response) -> socket.socket | None:
    """The socket an answer's body is read from (urllib3 2.x), if it can be found."""
    connection = getattr(response.raw, "_connection", None)  # urllib3 HTTPResponse
    sock = getattr(connection, "sock", None)
    return sock if isinstance(sock, socket.socket) else None


__all__ = ["Deadline", "Step", "Walk", "WalkGuard", "page_fingerprint"]
