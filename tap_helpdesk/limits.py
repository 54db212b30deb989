"""A request budget per provider: at most N requests in any second and M in any minute.

One budget is shared by all streams of a provider (the provider counts requests per
account, not per endpoint). It is a sliding-window log rather than a token bucket so that
the guarantee holds for any window a server may use, fixed or sliding, while a run that
has enough work still spends the whole budget: the next request waits exactly until the
oldest one in a full window leaves it.

A request is logged at the moment its answer arrives, not when it was sent: the server
counted it somewhere in between, so measuring from the later moment can never undercount
(measuring from the send time once let the 121st request of a minute reach Teamwork a
few milliseconds early).
"""

from __future__ import annotations

import threading
import time
import typing as t
from collections import deque


class RequestBudget:
    """Blocks just long enough to keep requests within per-second and per-minute limits."""

    def __init__(
        self,
        per_second: float | None,
        per_minute: float | None,
        *,
        clock: t.Callable[[], float] = time.monotonic,
        sleep: t.Callable[[float], None] = time.sleep,
    ) -> None:
        """Limits per second and per minute (None: no such limit); clock and sleep for tests."""
        self._windows: list[tuple[float, int, deque[list[float]]]] = [
            (seconds, int(limit), deque())
            for seconds, limit in ((1.0, per_second), (60.0, per_minute))
            if limit and limit > 0
        ]
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._paused_until = 0.0
        self.requests = 0
        self.waited_seconds = 0.0

    @property
    def per_minute(self) -> int | None:
        """Requests allowed in any minute (the tighter of the two limits), if any."""
        limits = [limit * (60 // int(seconds)) for seconds, limit, _sent in self._windows]
        return min(limits) if limits else None

    def acquire(self) -> list[float]:
        """Wait until one more request fits in every window, then count it.

        Returns the request's log entry; pass it to `done` when the answer has arrived.
        """
        with self._lock:
            while True:
                now = self._clock()
                wait = max(self._paused_until - now, 0.0)
                for seconds, limit, sent in self._windows:
                    while sent and sent[0][0] <= now - seconds:
                        sent.popleft()
                    if len(sent) >= limit:
                        wait = max(wait, sent[0][0] + seconds - now)
                if wait <= 0:
                    break
                self.waited_seconds += wait
                self._sleep(wait)
            entry = [self._clock()]
            for _seconds, _limit, sent in self._windows:
                sent.append(entry)
            self.requests += 1
            return entry

    def done(self, entry: list[float]) -> None:
        """Move a request's log entry to the moment its answer (or failure) arrived."""
        with self._lock:
            entry[0] = self._clock()

    def pause(self, seconds: float) -> None:
        """Hold every request of this provider for `seconds` (after a 429 or an empty quota)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + max(seconds, 0.0))
