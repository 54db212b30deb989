"""The walk engine on its own: order, requests in flight, guards (no HTTP: a fake stream)."""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
import typing as t

import pytest

from tap_helpdesk.engine import Engine
from tap_helpdesk.errors import ProviderError
from tap_helpdesk.guard import NAMED_ANSWERS, WalkGuard
from tap_helpdesk.walk import Step, Walk


class Answer:
    """Stands in for a requests.Response."""

    def __init__(self, token: t.Any) -> None:
        self.token = token
        self.closed = False

    def close(self) -> None:
        self.closed = True


class Windows(Walk[int]):
    """`count` independent windows; window i holds rows 10i..10i+9, bookmark i."""

    def __init__(self, count: int, *, split: int | None = None) -> None:
        self.pending = list(range(count))
        self.split = split

    def ready(self) -> list[int]:
        return list(self.pending)

    def read(self, token: int, response: t.Any) -> t.Generator[dict[str, t.Any], None, Step]:
        assert response.token == token
        self.pending.remove(token)
        if token == self.split:  # the window was capped: replaced by two parts
            self.split = None
            self.pending[:0] = [token * 100 + 1, token * 100 + 2]
            return Step(rows=10, new=0)
        for n in range(10):
            yield {"id": token * 10 + n}
        return Step(rows=10, new=10, bookmark=token, fingerprint=token)


class FakeStream:
    provider_label = "Fake"
    name = "fake_tickets"
    requests_per_minute_budget = None

    def __init__(self, width: int, latency: float = 0.0) -> None:
        self.max_concurrent_requests = width
        self.latency = latency
        self.logger = logging.getLogger("test_engine")
        self.bookmarks: list[t.Any] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.sent: list[t.Any] = []
        self.read_ahead: list[t.Any] = []
        self._lock = threading.Lock()

    def build_request(self, token: t.Any, context: t.Any) -> t.Any:
        return token

    def send(self, prepared: t.Any, context: t.Any) -> Answer:
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
            self.sent.append(prepared)
        time.sleep(self.latency)
        with self._lock:
            self.in_flight -= 1
        return Answer(prepared)

    def answer_read_ahead(self, response: t.Any) -> None:
        self.read_ahead.append(response)

    def answer(self, walk: t.Any, token: t.Any, prepared: t.Any, response: t.Any, context: t.Any):
        return (yield from walk.read(token, response))

    def commit_bookmark(self, value: t.Any, context: t.Any = None) -> None:
        self.bookmarks.append(value)


def drive(stream: FakeStream, walk: Walk[t.Any]) -> list[int]:
    return [row["id"] for row in Engine(stream, walk, stream.send, None).run()]


@pytest.mark.parametrize("width", [1, 4])
def test_rows_and_bookmarks_leave_in_the_walks_order_at_any_width(width: int) -> None:
    stream = FakeStream(width, latency=0.02)
    assert drive(stream, Windows(12)) == list(range(120))
    assert stream.bookmarks == list(range(12))
    assert stream.most_in_flight == width


def test_a_split_window_keeps_the_order_and_later_windows_stay_in_flight() -> None:
    stream = FakeStream(3, latency=0.02)
    rows = drive(stream, Windows(5, split=1))
    parts = [101 * 10 + n for n in range(10)] + [102 * 10 + n for n in range(10)]
    assert rows == list(range(10)) + parts + list(range(20, 50))
    assert stream.bookmarks == [0, 101, 102, 2, 3, 4]
    assert len(stream.sent) == 7  # every window once, the capped one and its two parts


class Repeating(Walk[int]):
    """Asks for the same request again after its answer."""

    def ready(self) -> list[int]:
        return [1]

    def read(self, token: int, response: t.Any) -> t.Generator[dict[str, t.Any], None, Step]:
        yield {"id": 1}
        return Step(rows=1, new=1)


def test_a_request_asked_for_twice_is_an_error_not_a_loop() -> None:
    with pytest.raises(ProviderError, match="a second time"):
        drive(FakeStream(1), Repeating())


class SamePage(Walk[int]):
    """Every request answered with the same rows (a server that ignores skip)."""

    def __init__(self) -> None:
        self.next = 0

    def ready(self) -> list[int]:
        return [self.next]

    def read(self, token: int, response: t.Any) -> t.Generator[dict[str, t.Any], None, Step]:
        self.next += 1
        yield {"id": 1}
        return Step(rows=1, new=1, fingerprint=("same", 1))


def test_an_answer_repeating_an_earlier_one_is_an_error() -> None:
    with pytest.raises(ProviderError, match="same rows as the answer to 0"):
        drive(FakeStream(1), SamePage())


class RepeatsLongAfter(SamePage):
    """Distinct answers, then at `repeat_at` the rows of the first answer again."""

    def __init__(self, repeat_at: int) -> None:
        super().__init__()
        self.repeat_at = repeat_at
        self.described: list[int] = []

    def describe(self, token: int) -> str:
        self.described.append(token)
        return f"page {token}"

    def read(self, token: int, response: t.Any) -> t.Generator[dict[str, t.Any], None, Step]:
        self.next += 1
        yield {"id": token}
        page = 0 if token == self.repeat_at else token
        return Step(rows=1, new=1, fingerprint=("page", page))


def test_a_repeat_of_a_recent_answer_names_its_request_an_older_one_its_number() -> None:
    recent = RepeatsLongAfter(NAMED_ANSWERS - 1)
    with pytest.raises(
        ProviderError,
        match=f"page {NAMED_ANSWERS - 1} holds the same rows as the answer to page 0:",
    ):
        drive(FakeStream(1), recent)
    old = RepeatsLongAfter(NAMED_ANSWERS + 10)
    stream = FakeStream(1)
    with pytest.raises(
        ProviderError,
        match=rf"page {NAMED_ANSWERS + 10} holds the same rows as answer 1 of this walk "
        rf"\({NAMED_ANSWERS + 10} answers before this one\)",
    ):
        drive(stream, old)
    # requests are described for the error line only, not for every answer
    assert old.described == [NAMED_ANSWERS + 10]


def test_the_guard_keeps_the_requests_of_the_last_answers_only() -> None:
    walk = SamePage()
    guard: WalkGuard[int] = WalkGuard("Test", walk)
    for token in range(NAMED_ANSWERS * 3):
        guard.before(token)
        guard.after(token, Step(rows=1, new=1, fingerprint=("page", token)))
    assert sorted(guard._named) == list(range(NAMED_ANSWERS * 2 + 1, NAMED_ANSWERS * 3 + 1))
    assert len(guard.answers) == NAMED_ANSWERS * 3


class Idle(SamePage):
    def read(self, token: int, response: t.Any) -> t.Generator[dict[str, t.Any], None, Step]:
        self.next += 1
        return Step(rows=5, new=0)
        yield  # pragma: no cover


def test_answers_bringing_only_rows_already_read_end_the_run() -> None:
    stream = FakeStream(1)
    with pytest.raises(ProviderError, match="5 answers in a row"):
        drive(stream, Idle())
    assert len(stream.sent) == 5


class Bounded(SamePage):
    def read(self, token: int, response: t.Any) -> t.Generator[dict[str, t.Any], None, Step]:
        self.next += 1
        yield {"id": token}
        return Step(rows=1, new=1)

    def request_limit(self) -> int:
        return 3


def test_more_requests_than_the_walk_allows_is_an_error() -> None:
    stream = FakeStream(1)
    with pytest.raises(ProviderError, match="at most 3 expected"):
        drive(stream, Bounded())
    assert len(stream.sent) == 3


def test_requests_in_flight_are_closed_when_the_run_stops() -> None:
    class Failing(Windows):
        def read(self, token: int, response: t.Any) -> t.Generator[dict[str, t.Any], None, Step]:
            if token == 2:
                raise ProviderError("Fake", "bad answer")
            return (yield from super().read(token, response))

    stream = FakeStream(4, latency=0.01)
    engine = Engine(stream, Failing(10), stream.send, None)
    with pytest.raises(ProviderError, match="bad answer"):
        list(engine.run())
    assert stream.bookmarks == [0, 1]


class PeekingWindows(Windows):
    """Windows whose answers arriving ahead of their turn are taken in (odd ones only)."""

    def __init__(self, count: int) -> None:
        super().__init__(count)
        self.peeked: list[int] = []

    def peek(self, token: int, response: t.Any) -> bool:
        if token % 2 == 0:
            return False
        self.peeked.append(token)
        return True


class SlowEvenStream(FakeStream):
    """Even windows answer late, so the odd one after each arrives ahead of its turn."""

    def send(self, prepared: t.Any, context: t.Any) -> Answer:
        if prepared % 2 == 0:
            time.sleep(0.05)
        return super().send(prepared, context)


def test_an_answer_taken_in_ahead_of_its_turn_is_reported_read_to_the_stream() -> None:
    # A peeked answer's body is read: its request_timeout must stop counting (http.py),
    # since its connection is back in the pool under other requests by then.
    stream = SlowEvenStream(4, latency=0.02)
    walk = PeekingWindows(12)
    assert drive(stream, walk) == list(range(120))
    assert walk.peeked, "no answer arrived ahead of its turn"
    assert sorted(r.token for r in stream.read_ahead) == sorted(walk.peeked)
    assert all(token % 2 for token in walk.peeked)


def test_the_guard_tells_apart_requests_whose_python_hashes_agree() -> None:
    # The guard remembers requests by a digest of their text, not by Python's hash, under
    # which -1 and -2 (and tokens holding them) are alike.
    assert hash(-1) == hash(-2)
    guard = WalkGuard("Test", SamePage())
    for token in (-1, -2, (0, -1), (0, -2)):
        guard.before(token)
    with pytest.raises(ProviderError, match="a second time"):
        guard.before((0, -2))
    guard.withdraw((0, -1))  # dropped unanswered: it may be sent again, once
    guard.before((0, -1))
    assert guard.requests == 4


def test_a_process_that_fails_with_requests_stalled_in_flight_exits_at_once() -> None:
    # The head's answer is bad while three others hang for a minute: the run fails, and
    # the process must exit without waiting for answers nobody will read (workers.py).
    script = (
        "import time\n"
        "from tap_helpdesk.engine import Engine\n"
        "from tap_helpdesk.errors import ProviderError\n"
        "from tests.test_engine import FakeStream, Windows\n"
        "class Stalling(FakeStream):\n"
        "    def send(self, prepared, context):\n"
        "        if prepared == 0:\n"
        "            raise ProviderError('Fake', 'bad answer')\n"
        "        time.sleep(60)\n"
        "        return super().send(prepared, context)\n"
        "stream = Stalling(4)\n"
        "try:\n"
        "    list(Engine(stream, Windows(8), stream.send, None).run())\n"
        "except ProviderError as exc:\n"
        "    print(exc)\n"
    )
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    took = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["Fake:", "bad", "answer"]
    assert took < 10, f"{took:.1f} s to exit"
