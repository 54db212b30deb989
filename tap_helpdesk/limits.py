"""A request budget per provider: at most N requests in any second and M in any minute.

One budget is shared by all streams of a provider (the provider counts requests per
account, not per endpoint). It is a sliding-window log rather than a token bucket so that
the guarantee holds for any window a server may use, fixed or sliding, while a run that
has enough work still spends the whole budget: the next request waits exactly until the
oldest one in a full window leaves it.

A request counts from the moment it is sent until a window's length after its answer
arrived: the server counted it somewhere in between, so measuring from the later moment
can never undercount (measuring from the send time once let the 121st request of a minute
reach Teamwork a few milliseconds early), and a request still in flight always counts.
A request waiting for room sleeps without holding the lock, so that the answers of the
requests in flight are logged meanwhile (several requests in flight, engine.py).
"""

from __future__ import annotations

import threading
import time
import typing as t
from collections import deque

#: How soon to look again when every request a window counts is still in flight.
IN_FLIGHT_POLL_SECONDS = 0.05


class Entry:
    """One request in the budget's log: when it was sent, then when its answer arrived."""

    __slots__ = ("answered", "moment")

    def __init__(self, moment: float) -> None:
        """A request sent at `moment`, not answered yet."""
        self.moment = moment
        self.answered = False


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
        self._windows: list[tuple[float, int, deque[Entry]]] = [
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

    def acquire(self) -> Entry:
        """Wait until one more request fits in every window, then count it.

        Returns the request's log entry; pass it to `done` when the answer has arrived.
        """
        while True:
            with self._lock:
                now = self._clock()
                wait = self._wait(now)
                if wait <= 0:
                    entry = Entry(now)
                    for _seconds, _limit, sent in self._windows:
                        sent.append(entry)
                    self.requests += 1
                    return entry
                self.waited_seconds += wait
            self._sleep(wait)

    def _wait(self, now: float) -> float:
        """Seconds until one more request fits in every window (0: it fits now)."""
        wait = max(self._paused_until - now, 0.0)
        for seconds, limit, sent in self._windows:
            # the log is in the order requests were sent: the oldest leave from the left
            while sent and sent[0].answered and sent[0].moment <= now - seconds:
                sent.popleft()
            if len(sent) < limit:
                continue  # fits, however many behind a request in flight have left too
            # full as far as the oldest tell: look at every one (answers arrive out of order)
            counted = [e for e in sent if not e.answered or e.moment > now - seconds]
            if len(counted) != len(sent):
                sent.clear()
                sent.extend(counted)
            if len(counted) < limit:
                continue
            # room comes when enough answered requests leave the window; requests in flight
            # leave only a window's length after their answer
            answered = sorted(e.moment for e in counted if e.answered)
            excess = len(counted) - limit
            if excess < len(answered):
                wait = max(wait, answered[excess] + seconds - now)
            else:
                wait = max(wait, IN_FLIGHT_POLL_SECONDS)
        return wait

    def done(self, entry: Entry) -> None:
        """Move a request's log entry to the moment its answer (or failure) arrived."""
        with self._lock:
            entry.moment = self._clock()
            entry.answered = True

    def pause(self, seconds: float) -> None:
        """Hold every request of this provider for `seconds` (after a 429 or an empty quota)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + max(seconds, 0.0))
