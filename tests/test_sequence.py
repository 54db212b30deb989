"""WalksInTurn: walks read one after another, the engine's hooks handed to the inner walks
(no HTTP: a fake stream whose answers take the time each token says)."""

from __future__ import annotations

import logging
import threading
import time
import typing as t

from tap_helpdesk.engine import Engine
from tap_helpdesk.sequence import WalksInTurn
from tap_helpdesk.walk import Step, Walk


class Answer:
    """Stands in for a requests.Response."""

    def __init__(self, token: t.Any) -> None:
        self.token = token

    def close(self) -> None:
        pass


class Pages(Walk[str]):
    """Pages named `prefix0..prefix{count-1}`, one at a time; each page holds one row."""

    def __init__(self, prefix: str, count: int, log: list[tuple[str, t.Any]]) -> None:
        self.prefix = prefix
        self.pending = [f"{prefix}{n}" for n in range(count)]
        self.log = log
        self.widths: list[int] = []
        self.requests = 0

    def ready(self) -> list[str]:
        return self.pending[:1]

    def read(self, token: str, response: t.Any) -> t.Generator[dict[str, t.Any], None, Step]:
        assert response.token[1] == token  # the engine sent the tagged token
        self.log.append(("read", token))
        self.pending.remove(token)
        self.requests += 1
        yield {"id": token}
        # fingerprints are compared across the whole sequence: this walk's own
        return Step(rows=1, new=1, fingerprint=(id(self), token))

    def plan_for(self, width: int) -> None:
        self.widths.append(width)

    def request_limit(self) -> int | None:
        return len(self.pending) + self.requests

    def wait_before(self, token: str) -> float:
        return 0.01 if token.endswith("0") else 0.0


class Ahead(Pages):
    """A slow head page, then a chain b0, b1, ... where each page is known only from the
    answer before it: peeking at b_i lists b_{i+1} while the head is still in flight."""

    def __init__(self, chain: int, log: list[tuple[str, t.Any]]) -> None:
        super().__init__("b", chain, log)
        self.chain = chain
        self.listed = ["slow", "b0"]
        self.peeked: list[str] = []

    def ready(self) -> list[str]:
        return list(self.listed)

    def read(self, token: str, response: t.Any) -> t.Generator[dict[str, t.Any], None, Step]:
        assert response.token[1] == token
        self.log.append(("read", token))
        self.listed.remove(token)
        self._follow(token)
        self.requests += 1
        yield {"id": token}
        return Step(rows=1, new=1, fingerprint=token)

    def peek(self, token: str, response: t.Any) -> bool:
        if token == "slow" or token in self.peeked:
            return False
        self.log.append(("peek", token))
        self.peeked.append(token)
        self._follow(token)
        return True

    def _follow(self, token: str) -> None:
        if not token.startswith("b"):
            return
        following = f"b{int(token[1:]) + 1}"
        if int(following[1:]) < self.chain and following not in self.listed:
            self.listed.append(following)


class TimedStream:
    provider_label = "Fake"
    name = "fake_tickets"
    requests_per_minute_budget = None

    def __init__(self, width: int, log: list[tuple[str, t.Any]]) -> None:
        self.max_concurrent_requests = width
        self.logger = logging.getLogger("test_sequence")
        self.log = log
        self.read_ahead: list[t.Any] = []
        self._lock = threading.Lock()

    def build_request(self, token: t.Any, context: t.Any) -> t.Any:
        return token

    def send(self, prepared: t.Any, context: t.Any) -> Answer:
        with self._lock:
            self.log.append(("send", prepared))
        time.sleep(0.4 if prepared[1] == "slow" else 0.01)
        return Answer(prepared)

    def answer_read_ahead(self, response: t.Any) -> None:
        self.read_ahead.append(response)

    def answer(self, walk: t.Any, token: t.Any, prepared: t.Any, response: t.Any, context: t.Any):
        return (yield from walk.read(token, response))

    def commit_bookmark(self, value: t.Any, context: t.Any = None) -> None:
        pass


def drive(width: int, walk: Walk[t.Any], log: list[tuple[str, t.Any]]) -> list[str]:
    stream = TimedStream(width, log)
    return [row["id"] for row in Engine(stream, walk, stream.send, None).run()]


def test_the_walks_are_read_one_after_another_with_tagged_tokens() -> None:
    log: list[tuple[str, t.Any]] = []
    first, second = Pages("a", 2, log), Pages("a", 3, log)  # the same tokens in both
    rows = drive(1, WalksInTurn(first, second), log)
    assert rows == ["a0", "a1", "a0", "a1", "a2"]
    sent = [entry[1] for entry in log if entry[0] == "send"]
    assert sent == [(0, "a0"), (0, "a1"), (1, "a0"), (1, "a1"), (1, "a2")]


def test_plan_for_reaches_every_walk() -> None:
    log: list[tuple[str, t.Any]] = []
    first, second = Pages("a", 1, log), Pages("c", 1, log)
    drive(3, WalksInTurn(first, second), log)
    assert first.widths == [3]
    assert second.widths == [3]


def test_a_peek_reaches_the_walk_that_asked_so_its_next_request_goes_out_early() -> None:
    log: list[tuple[str, t.Any]] = []
    ahead = Ahead(4, log)
    rows = drive(3, WalksInTurn(Pages("a", 1, log), ahead), log)
    assert rows == ["a0", "slow", "b0", "b1", "b2", "b3"]
    assert ahead.peeked[:2] == ["b0", "b1"]  # the inner walk saw its own tokens
    # b1 follows from b0's answer: it went out before the slow head was read
    assert log.index(("send", (1, "b1"))) < log.index(("read", "slow"))


def test_without_peeking_the_chain_waits_for_the_head() -> None:
    log: list[tuple[str, t.Any]] = []
    ahead = Ahead(3, log)
    assert drive(1, WalksInTurn(ahead), log) == ["slow", "b0", "b1", "b2"]
    assert ahead.peeked == []
    assert log.index(("send", (0, "b1"))) > log.index(("read", "b0"))


def test_identity_describe_wait_and_limit_go_to_the_walk_of_the_token() -> None:
    log: list[tuple[str, t.Any]] = []
    first, second = Pages("a", 2, log), Pages("a", 3, log)
    walks = WalksInTurn(first, second)
    assert walks.identity((0, "a0")) != walks.identity((1, "a0"))
    assert walks.describe((1, "a2")) == "a2"
    assert walks.wait_before((1, "a0")) == 0.01
    assert walks.wait_before((1, "a1")) == 0.0
    assert walks.request_limit() == 2
    drive(1, walks, log)
    # the second walk's bound, after the first walk's two requests
    assert walks.request_limit() == 2 + 3
    assert walks.ready() == []


def test_a_walk_that_does_not_peek_declines_through_the_sequence() -> None:
    walks = WalksInTurn(Pages("a", 1, []))
    assert walks.peek((0, "a0"), t.cast("t.Any", Answer((0, "a0")))) is False
