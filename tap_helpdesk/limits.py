"""A request budget per provider: at most N requests in any second and M in any minute.

One budget is shared by all streams of a provider (the provider counts requests per
account, not per endpoint). It is a sliding-window log rather than a token bucket so that
the guarantee holds for any window a server may use, fixed or sliding, while a run that
has enough work still spends the whole budget: the next request waits exactly until the
oldest one in a full window leaves it.
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
        self._windows: list[tuple[float, int, deque[float]]] = [
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

    def acquire(self) -> None:
        """Wait until one more request fits in every window, then count it."""
        with self._lock:
            while True:
                now = self._clock()
                wait = max(self._paused_until - now, 0.0)
                for seconds, limit, sent in self._windows:
                    while sent and sent[0] <= now - seconds:
                        sent.popleft()
                    if len(sent) >= limit:
                        wait = max(wait, sent[0] + seconds - now)
                if wait <= 0:
                    break
                self.waited_seconds += wait
                self._sleep(wait)
            stamp = self._clock()
            for _seconds, _limit, sent in self._windows:
                sent.append(stamp)
            self.requests += 1

    def pause(self, seconds: float) -> None:
        """Hold every request of this provider for `seconds` (after a 429 or an empty quota)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + max(seconds, 0.0))
