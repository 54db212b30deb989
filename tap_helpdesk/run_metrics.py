"""One record count and one sync time for a page-fed stream's whole run.

The SDK syncs a child stream once per context its parent hands over, and a page-fed stream
(ProProfs' messages, Teamwork Desk's sideloads) gets one context per page. The SDK then
logs "Beginning sync", a record_count and a sync_duration for every page: three lines per
request, 24,000 for a 200k-ticket ProProfs backfill. Through the SDK's own seams
(`get_record_counter`, `get_sync_timer`), the stream keeps one counter and one timer for the
run instead. The counter still logs every `log_interval` as the SDK's does, and both log
their last point when the parent's walk ends (`finish`).
"""

from __future__ import annotations

import typing as t

from singer_sdk import metrics

if t.TYPE_CHECKING:
    from types import TracebackType

    from singer_sdk.helpers.types import Context
    from typing_extensions import Self


class _RunSpan:
    """What both meters share: started by the first page, and no page's context."""

    started = False
    finished = False

    def _first_page(self, enter: t.Callable[[], object]) -> None:
        if not self.started:
            self.started = True
            enter()

    def with_context(self, value: Context | None) -> None:
        """A page's context says nothing about the run: the point carries none."""


class RunCounter(_RunSpan, metrics.Counter):
    """A record counter that spans every page: leaving a page logs nothing."""

    def __init__(self, stream: str, log_interval: float = metrics.DEFAULT_LOG_INTERVAL) -> None:
        """Count the records of `stream` (logged every `log_interval` seconds and at the end)."""
        super().__init__(metrics.Metric.RECORD_COUNT, {metrics.Tag.STREAM: stream}, log_interval)

    def __enter__(self) -> Self:
        """The first page starts the interval; later pages continue it."""
        self._first_page(super().__enter__)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        """A page is done: its records are counted, the point waits for `finish`."""

    def finish(self) -> None:
        """The run's last point, once (none if no page came)."""
        if self.started and not self.finished:
            self.finished = True
            super().exit()  # the SDK counter's own last point


class RunTimer(_RunSpan, metrics.Timer):
    """A sync timer from the first page to the end of the parent's walk."""

    def __init__(self, stream: str) -> None:
        """Time the sync of `stream`."""
        super().__init__(metrics.Metric.SYNC_DURATION, {metrics.Tag.STREAM: stream})
        self.failed = False

    def __enter__(self) -> Self:
        """The first page starts the clock."""
        self._first_page(super().__enter__)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        """A page is done; a page that failed makes the run's status failed."""
        self.failed = self.failed or exc_type is not None

    def finish(self, *, failed: bool = False) -> None:
        """The run's one sync_duration point (none if no page came)."""
        if self.started and not self.finished:
            self.finished = True
            super().__exit__(RuntimeError if failed or self.failed else None, None, None)


__all__ = ["RunCounter", "RunTimer"]
