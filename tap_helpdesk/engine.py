"""The walk engine: one loop drives every provider's walk through its API.

A provider describes its walk (walk.py: `Walk`, its answers' `Step`). The engine
(`HelpdeskStream.request_records`) sends each request through the provider's budget and
retries, hands the answer back, moves the bookmark once the answer's rows are written,
and stops the run when an answer cannot be trusted (guard.py: `WalkGuard`). It keeps up to
`max_concurrent_requests` requests in flight where the walk hands out independent ones,
and reports progress.
"""

from __future__ import annotations

import collections
import time
import typing as t
from concurrent.futures import FIRST_COMPLETED, Future, wait

from tap_helpdesk.guard import WalkGuard
from tap_helpdesk.walk import MAX_WAIT_SECONDS, Row, Step, Token, Walk
from tap_helpdesk.workers import DaemonWorkers

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Generator

    import requests
    from singer_sdk.helpers.types import Context

#: A progress line at least this often (and at each answer that completes a window).
PROGRESS_SECONDS = 15.0


class Driven(t.Protocol):
    """What the engine needs of a stream (HelpdeskStream)."""

    @property
    def provider_label(self) -> str:
        """The provider's name, for error lines."""
        ...

    @property
    def logger(self) -> logging.Logger:
        """Where notes, events and progress lines go."""
        ...

    @property
    def max_concurrent_requests(self) -> int:
        """Most requests in flight at once."""
        ...

    def build_request(self, token: object, context: Context | None) -> requests.PreparedRequest:
        """The prepared request for one token."""
        ...

    def answer(
        self,
        walk: Walk[t.Any],
        token: object,
        prepared: requests.PreparedRequest,
        response: requests.Response,
        context: Context | None,
    ) -> Generator[Row, None, Step]:
        """Let the walk read one answer: yield its rows, return its step."""
        ...

    def answer_read_ahead(self, response: requests.Response) -> None:
        """An answer a walk read to its end ahead of its turn (peek): it is complete."""
        ...

    def commit_bookmark(self, value: object, context: Context | None = None) -> None:
        """Move the bookmark to `value` (every row before it is written)."""
        ...

    @property
    def name(self) -> str:
        """The stream's name."""
        ...

    @property
    def requests_per_minute_budget(self) -> int | None:
        """The provider's request budget per minute, None when unbounded."""
        ...


class Engine(t.Generic[Token]):
    """Drives one walk through its API.

    It sends the walk's requests (up to `max_concurrent_requests` at once, where the walk
    hands out independent ones), hands each answer back in the walk's order, writes what
    it noted and moves the bookmark once an answer's rows are written.

    Answers are consumed strictly in the order the walk gave, so records leave, and
    bookmarks move, exactly as with one request at a time: a request answered early is
    held until those before it are consumed. Memory is bounded by the answers in flight.
    """

    def __init__(
        self,
        stream: Driven,
        walk: Walk[Token],
        send: t.Callable[[requests.PreparedRequest, Context | None], requests.Response],
        context: Context | None,
        *,
        on_answer: t.Callable[[], None] = lambda: None,
    ) -> None:
        """Drive `walk` for `stream` in `context`, sending each request through `send`.

        `on_answer` is called once per answer consumed (the SDK's request counter).
        """
        self.stream = stream
        self.on_answer = on_answer
        self.walk = walk
        self.send = send
        self.context = context
        self.guard = WalkGuard(stream.provider_label, walk)
        self.width = max(1, int(stream.max_concurrent_requests))
        walk.plan_for(self.width)
        #: whether answers that arrive ahead of their turn are shown to the walk
        self._peeking = self.width > 1 and type(walk).peek is not Walk.peek
        self._peeked: set[t.Hashable] = set()
        self._pool: DaemonWorkers | None = None
        #: identity -> (token, prepared request, answer) in flight, in the walk's order
        self._flight: dict[t.Hashable, tuple[Token, requests.PreparedRequest, Future[t.Any]]] = {}
        self.answers = 0
        self.rows = 0
        self.started = time.monotonic()
        self._reported = self.started
        #: when each answer of the last minute arrived (the rate is of the last minute)
        self._recent: collections.deque[float] = collections.deque()

    def run(self) -> Generator[Row, None, None]:
        """Yield every row to emit; bookmarks move as answers are consumed."""
        try:
            while True:
                ready = list(self.walk.ready())
                if not ready:
                    break
                head = self.walk.identity(ready[0])
                self._launch(ready)
                if self._peeking and self._wait_or_peek(head):
                    continue  # the walk took in an answer ahead of its turn: ask it again
                token, prepared, pending = self._flight.pop(head)
                self._peeked.discard(head)
                if self.width > 1:  # its slot is free: the next request waits while it is read
                    self._launch([r for r in ready if self.walk.identity(r) != head])
                response = pending.result()
                step = yield from self._count(
                    self.stream.answer(self.walk, token, prepared, response, self.context)
                )
                self.answers += 1
                self._recent.append(time.monotonic())
                self.on_answer()
                self.guard.after(token, step)
                for note in step.notes:
                    self.stream.logger.warning("%s", note)
                for event in step.events:
                    self.stream.logger.info("%s", event)
                if step.bookmark is not None:
                    # every row of the answer is written by now (the SDK writes a record
                    # before it asks for the next)
                    self.stream.commit_bookmark(step.bookmark, self.context)
                self._report(force=bool(step.events))
            self._report(force=True, final=True)
        finally:
            self._abandon()

    def _wait_or_peek(self, head: t.Hashable) -> bool:
        """Until the head's answer is in: show the walk each answer that arrives first.

        Returns True when the walk took one in (its plan may have changed), False when the
        head's answer is here (or no other answer can be looked at).
        """
        while not self._flight[head][2].done():
            unseen = {
                key: entry
                for key, entry in self._flight.items()
                if key != head and key not in self._peeked
            }
            took = False
            for key, (token, _prepared, pending) in unseen.items():
                if pending.done() and pending.exception() is None:
                    self._peeked.add(key)
                    took = self._peek(token, pending.result()) or took
            if took:
                return True
            waiting = [e[2] for k, e in unseen.items() if not e[2].done()]
            wait([self._flight[head][2], *waiting], return_when=FIRST_COMPLETED)
        return False

    def _peek(self, token: Token, response: requests.Response) -> bool:
        try:
            took = self.walk.peek(token, response)
        except Exception:  # read again in its turn, which raises in order
            return False
        if took:  # read to its end: what is held now is the body, not a connection
            self.stream.answer_read_ahead(response)
        return took

    def _count(self, rows: Generator[Row, None, Step]) -> Generator[Row, None, Step]:
        count = 0
        try:
            while True:
                row = next(rows)
                count += 1
                yield row
        except StopIteration as stop:
            return t.cast("Step", stop.value)
        finally:
            self.rows += count

    def _report(self, *, force: bool = False, final: bool = False) -> None:
        """A progress line a person reads: where, how far, records, requests, rate, ETA."""
        now = time.monotonic()
        if not force and now - self._reported < PROGRESS_SECONDS:
            return
        self._reported = now
        elapsed = max(now - self.started, 1e-6)
        while self._recent and self._recent[0] <= now - 60.0:
            self._recent.popleft()
        rate = float(len(self._recent))  # requests answered in the last minute
        budget = self.stream.requests_per_minute_budget
        where, fraction = self.walk.position() or ("", None)
        if final:
            where, fraction = "done", 1.0
        left = (
            f", about {_duration(elapsed * (1 - fraction) / fraction)} left"
            if fraction and 0 < fraction < 1
            else ""
        )
        self.stream.logger.info(
            "%s %s: %s%s, %d records, %d requests, %.0f requests/min%s%s",
            self.stream.provider_label,
            self.stream.name,
            where or "walking",
            f" ({fraction:.0%})" if fraction is not None else "",
            self.rows,
            self.answers,
            rate,
            f" of {budget}" if budget else "",
            left,
            extra={
                "progress": {
                    "stream": self.stream.name,
                    "position": where,
                    "fraction": fraction,
                    "records": self.rows,
                    "requests": self.answers,
                    "requests_per_minute": round(rate, 1),
                    "budget_per_minute": budget,
                }
            },
        )

    def _launch(self, ready: list[Token]) -> None:
        """Put the head of `ready` in flight, and more of it while fewer than `width` are.

        A request in flight that the walk no longer lists (it changed its plan) is dropped;
        one it still lists stays in flight, whatever its place.
        """
        listed = {self.walk.identity(token): token for token in ready}
        for key in [k for k in self._flight if k not in listed]:
            self._drop(key)
        for index, (key, token) in enumerate(listed.items()):
            if key in self._flight:
                continue
            if index and len(self._flight) >= self.width:
                break
            self._flight[key] = self._start(token)

    def _start(self, token: Token) -> tuple[Token, requests.PreparedRequest, Future[t.Any]]:
        self.guard.before(token)
        prepared = self.stream.build_request(token, self.context)
        wait = min(self.walk.wait_before(token), MAX_WAIT_SECONDS)
        if self.width == 1:
            if wait > 0:
                time.sleep(wait)
            done: Future[t.Any] = Future()
            try:
                done.set_result(self.send(prepared, self.context))
            except BaseException as exc:  # raised when the head is consumed
                done.set_exception(exc)
            return token, prepared, done
        if self._pool is None:
            self._pool = DaemonWorkers(self.width, "tap-helpdesk")
        return token, prepared, self._pool.submit(self._send, prepared, wait)

    def _send(self, prepared: requests.PreparedRequest, wait: float) -> requests.Response:
        if wait > 0:
            time.sleep(wait)
        return self.send(prepared, self.context)

    def _drop(self, key: t.Hashable) -> None:
        _token, _prepared, pending = self._flight.pop(key)
        self._peeked.discard(key)
        self.guard.withdraw(key)  # sent again if the walk asks for it: counted then
        pending.cancel()
        pending.add_done_callback(_close_answer)

    def _abandon(self) -> None:
        for key in list(self._flight):
            self._drop(key)
        if self._pool is not None:
            self._pool.shutdown()


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _close_answer(pending: Future[t.Any]) -> None:
    if not pending.cancelled() and pending.exception() is None:
        pending.result().close()


__all__ = ["Driven", "Engine"]
