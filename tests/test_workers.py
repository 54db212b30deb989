"""The engine's worker threads: results reach the Future, and no worker keeps one alive."""

from __future__ import annotations

import gc
import threading
import time
import weakref

import pytest

from tap_helpdesk.workers import DaemonWorkers


class _Answer:
    """Stands for a page held by a worker: only its liveness is observed."""


class _Failure(Exception):
    """A failed call carrying an answer."""


def _wait_until_dead(ref: weakref.ref[_Answer]) -> bool:
    for _ in range(200):
        gc.collect()
        if ref() is None:
            return True
        time.sleep(0.01)
    return False


def test_a_worker_keeps_no_reference_to_an_answer_once_it_is_read() -> None:
    workers = DaemonWorkers(1, "test")
    future = workers.submit(_Answer)
    ref = weakref.ref(future.result(timeout=5))
    del future
    # the worker now waits for its next call: the answer must not live on in its frame
    assert _wait_until_dead(ref), "a worker thread still holds the last answer it produced"
    workers.shutdown()


def test_a_worker_keeps_no_reference_to_a_failure_once_it_is_read() -> None:
    held: list[weakref.ref[_Answer]] = []

    def fail() -> None:
        answer = _Answer()
        held.append(weakref.ref(answer))
        raise _Failure(answer)

    workers = DaemonWorkers(1, "test")
    future = workers.submit(fail)
    with pytest.raises(_Failure):
        future.result(timeout=5)
    del future
    assert _wait_until_dead(held[0]), "a worker thread still holds the last failure it produced"
    workers.shutdown()


def test_results_and_exceptions_reach_their_futures_and_width_caps_the_threads() -> None:
    workers = DaemonWorkers(3, "width-test")
    gate = threading.Event()
    futures = [workers.submit(lambda n=n: (gate.wait(5), n)[1]) for n in range(10)]
    failing = workers.submit(lambda: 1 / 0)
    assert len([t for t in threading.enumerate() if t.name.startswith("width-test-")]) <= 3
    gate.set()
    assert [f.result(timeout=5) for f in futures] == list(range(10))
    with pytest.raises(ZeroDivisionError):
        failing.result(timeout=5)
    workers.shutdown()


def test_shutdown_cancels_what_has_not_started_and_refuses_new_work() -> None:
    workers = DaemonWorkers(1, "test")
    gate = threading.Event()
    running = workers.submit(gate.wait, 5)
    waiting = workers.submit(lambda: "never")
    workers.shutdown()
    assert waiting.cancelled()
    gate.set()
    assert running.result(timeout=5) is True
    with pytest.raises(RuntimeError):
        workers.submit(lambda: None)
