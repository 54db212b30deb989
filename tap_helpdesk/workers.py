"""The threads that keep several requests in flight for the engine.

`concurrent.futures.ThreadPoolExecutor` joins its threads when the interpreter exits, so
a run stopped by a signal or an error waited for every answer still in flight, each one
with its retries: 57 s from SIGTERM to exit at 4 in flight, against a server that took 20 s
an answer, with request_timeout 5 (tests/test_concurrency.py). These threads are daemons.
A worker only sends and receives: records and STATE are written by the main thread alone,
a STATE only after the rows before it, so a process that exits without its workers loses
nothing a rerun needs. A sync that goes on (the next stream) drops the requests it no longer
wants as it did: their answers are closed when they arrive.
"""

from __future__ import annotations

import queue
import threading
import typing as t
from concurrent.futures import Future

_T = t.TypeVar("_T")
_Work = tuple[Future[t.Any], t.Callable[..., t.Any], tuple[t.Any, ...]]


class DaemonWorkers:
    """Up to `width` daemon threads running submitted calls, results in Futures."""

    def __init__(self, width: int, name: str) -> None:
        """No thread yet: one starts with each submission until there are `width`."""
        self.width = width
        self.name = name
        self._work: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._closed = False

    def submit(self, call: t.Callable[..., _T], *args: t.Any) -> Future[_T]:
        """Run `call(*args)` on a worker; its result or exception lands in the Future."""
        if self._closed:
            raise RuntimeError("the workers are shut down")
        future: Future[_T] = Future()
        self._work.put((future, call, args))
        if len(self._threads) < self.width:
            thread = threading.Thread(
                target=self._serve, name=f"{self.name}-{len(self._threads)}", daemon=True
            )
            self._threads.append(thread)
            thread.start()
        return future

    def shutdown(self) -> None:
        """Cancel what has not started; workers end after their current call, unwaited."""
        self._closed = True
        while True:
            try:
                work = self._work.get_nowait()
            except queue.Empty:
                break
            if work is not None:
                work[0].cancel()
        for _thread in self._threads:
            self._work.put(None)

    def _serve(self) -> None:
        while True:
            work = self._work.get()
            if work is None:
                return
            _run(*work)
            del work  # hold no answer while waiting for the next call


def _run(future: Future[t.Any], call: t.Callable[..., t.Any], args: tuple[t.Any, ...]) -> None:
    """One call: its result or exception goes to the Future, and no reference stays here."""
    if not future.set_running_or_notify_cancel():
        return
    try:
        result = call(*args)
    except BaseException as exc:  # handed to whoever reads the Future
        future.set_exception(exc)
    else:
        future.set_result(result)


__all__ = ["DaemonWorkers"]
