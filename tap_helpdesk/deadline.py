"""A deadline for a whole answer, connect to last byte (request_timeout).

`requests` applies its timeout to each socket read, so a body trickling one byte a second
never times out. A `Deadline` shuts the answer's connection down when it passes, which
ends the blocked read wherever it is.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
import typing as t

if t.TYPE_CHECKING:
    import requests


class Deadline:
    """Bounds a whole answer, from connect to last byte, by `seconds`.

    `requests` applies its timeout to each socket read, so a body trickling one byte a
    second never times out. When the deadline passes, the connection is shut down, which
    ends the blocked read; `expired` then tells the caller that this was a timeout. One
    watchdog thread serves every deadline of the process (a thread per request would cost
    more than a small page takes to parse).
    """

    def __init__(self, seconds: float) -> None:
        """A deadline `seconds` after start() (0: none)."""
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
        #: when the watchdog wakes next by itself (inf: only when told)
        self._waking_at = float("inf")

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
            elif when < self._waking_at:
                # Only a deadline earlier than the watchdog's own wake-up needs it now: one
                # request after another adds later ones, and waking a thread for each cost
                # more CPU than the rest of the deadline's work.
                self._wake.notify()

    def _run(self) -> None:
        while True:
            with self.lock:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._waking_at = float("inf")
                    self._wake.wait()
                    continue
                when, _n, deadline = self._heap[0]
                wait = when - time.monotonic()
                if wait > 0:
                    self._waking_at = when
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
    """The socket an answer's body is read from, if it can be found.

    urllib3 2.x keeps it on the connection, unless the server said `Connection: close`:
    then http.client handed it to the response's file (SocketIO._sock).
    """
    raw = response.raw
    sock = getattr(getattr(raw, "_connection", None), "sock", None)
    if not isinstance(sock, socket.socket):
        body = getattr(getattr(raw, "_fp", None), "fp", None)
        sock = getattr(getattr(body, "raw", None), "_sock", None)
    return sock if isinstance(sock, socket.socket) else None


__all__ = ["Deadline"]
