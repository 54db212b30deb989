"""The one base stream every provider builds on.

`HelpdeskStream` adds to the HTTP behaviour (tap_helpdesk.http) and the fast record path
(tap_helpdesk.fastpath) what a provider's stream needs from the tap: its settings block
(defaults filled in), the range of a run (bookmark minus lookback, start and end dates),
the walk's seam (`new_walk`; tap_helpdesk.engine drives it), bookmarks that move only
through `commit_bookmark` and never back, and timestamps in UTC.
"""

from __future__ import annotations

import itertools
import logging
import sys
import typing as t
from datetime import datetime, timedelta, timezone, tzinfo
from functools import cached_property
from urllib.parse import urlparse

from singer_sdk.metrics import DEFAULT_LOG_INTERVAL, Counter, Timer
from singer_sdk.streams import Stream

from tap_helpdesk.answers import response_snippet, seconds_until_reset
from tap_helpdesk.authenticators import BearerToken, NoCredentials
from tap_helpdesk.check import Probe
from tap_helpdesk.engine import Engine
from tap_helpdesk.errors import ProviderError, UnreadableValue
from tap_helpdesk.fastpath import FastRecords, FastRecordStream
from tap_helpdesk.http import BODY_ERRORS, RETRIABLE_STATUSES, USER_AGENT
from tap_helpdesk.run_metrics import RunCounter, RunTimer
from tap_helpdesk.timestamps import NaiveToUtc, parse_datetime, parse_zone, to_utc
from tap_helpdesk.values import record_error

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    import requests
    from singer_sdk.helpers.types import Auth, Context

    from tap_helpdesk.limits import RequestBudget
    from tap_helpdesk.tap import TapHelpdesk
    from tap_helpdesk.walk import Walk

_SDK_UNHANDLED = "An unhandled error occurred while syncing"
_SDK_BEGINNING = "Beginning sync of"
#: A bookmark this far ahead of our clock is taken as one in the future. Below it, a
#: provider whose clock runs ahead of ours (its times are the bookmark's) is read as usual.
FUTURE_SLACK = timedelta(days=1)


def _earlier(value: str, than: str) -> bool:
    """Whether timestamp text `value` is before `than` (parsed; text when unreadable)."""
    try:
        return parse_datetime(value, timezone.utc) < parse_datetime(than, timezone.utc)
    except (TypeError, ValueError):
        return value < than


class HelpdeskStream(FastRecordStream):
    """Base stream: one provider endpoint, walked by the engine."""

    #: Fields of each record holding timestamps to emit in UTC.
    timestamp_fields: t.ClassVar[tuple[str, ...]] = ()
    #: The setting of the provider block sent as a bearer token (None: the stream
    #: authenticates itself: a token exchange, or credentials in the body).
    bearer_token_setting: t.ClassVar[str | None] = None

    def __init__(self, tap: TapHelpdesk, *args: t.Any, **kwargs: t.Any) -> None:
        """A stream of `tap` (the rest as the SDK's Stream takes it)."""
        super().__init__(tap, *args, **kwargs)
        self._helpdesk_tap = tap
        self._bookmark_floor: str | None = None
        self._authenticator: BearerToken | NoCredentials | None = None

    # -- settings ----------------------------------------------------------------------

    @property
    @override
    def authenticator(self) -> Auth:
        # one for the stream's run, not a new one each time it is asked for (twice a request)
        if self._authenticator is None:
            setting = self.bearer_token_setting
            self._authenticator = (
                NoCredentials()
                if setting is None
                else BearerToken(token=str(self.provider_config[setting]))
            )
        return self._authenticator

    @property
    def provider_config(self) -> Mapping[str, t.Any]:
        """This provider's settings block, defaults filled in."""
        return self._helpdesk_tap.provider_settings(self.provider)

    @property
    @override
    def url_base(self) -> str:
        return str(self.provider_config["api_url"]).rstrip("/")

    @cached_property
    def zone(self) -> tzinfo:
        """The zone naive provider timestamps are written in."""
        # the default lives once, in the provider's settings block (tap.py)
        name = self.provider_config.get("timezone") or "UTC"
        return parse_zone(name, f"{self.provider}.timezone")

    @property
    @override
    def budget(self) -> RequestBudget:
        """The request budget shared by all streams of this provider."""
        return self._helpdesk_tap.budget_for(self.provider)

    # -- time window -------------------------------------------------------------------

    def sync_start(self, context: Context | None) -> datetime:
        """Where this run starts: the bookmark (or start_date) minus lookback_days."""
        start = self.get_starting_timestamp(context)
        if start is None:  # pragma: no cover - start_date is a required setting
            start = datetime.now(timezone.utc)
        if start.tzinfo is None:
            start = start.replace(tzinfo=timezone.utc)
        bookmark = self.get_starting_replication_key_value(context)
        if bookmark and self.replication_key:
            self._bookmark_floor = to_utc(str(bookmark))
            start -= timedelta(days=float(self.config.get("lookback_days") or 0))
        return max(start, self.config_start_date())

    def config_start_date(self) -> datetime:
        """The start_date setting as an aware datetime."""
        return parse_datetime(str(self.config["start_date"]), timezone.utc)

    def sync_end(self) -> datetime | None:
        """The end_date setting, when set."""
        end = self.config.get("end_date")
        return parse_datetime(str(end), timezone.utc) if end else None

    # -- the walk (tap_helpdesk.engine) -------------------------------------------------

    def new_walk(self, context: Context | None) -> Walk[t.Any] | None:
        """This run's walk over the endpoint; None: nothing to read."""
        raise NotImplementedError

    @override
    def request_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        if self.bookmark_in_future(context):
            return
        walk = self.new_walk(context)
        if walk is None:
            return
        send = self.request_decorator(self._request)
        ended_by: BaseException | None = None
        try:
            with self.get_http_request_counter() as counter:
                counter.with_context(context)
                yield from Engine(self, walk, send, context, on_answer=counter.increment).run()
        except BaseException as exc:
            ended_by = exc
            raise
        finally:
            failed = ended_by is not None and not isinstance(ended_by, GeneratorExit)
            for child in self.child_streams:
                if isinstance(child, PageFedStream):
                    child.end_of_pages(failed=failed)

    def probe(self) -> Probe:
        """One cheap request for the connection check (tap_helpdesk.check).

        The walk's first request; a stream whose API can be asked more pointedly overrides
        this.
        """
        walk = self.new_walk(None)
        ready = list(walk.ready()) if walk is not None else []
        if not ready:
            raise ProviderError(self.provider_label, "nothing to ask for from start_date on")
        send = self.request_decorator(self._request)
        response = send(self.build_request(ready[0], None), None)
        rows = list(itertools.islice(walk.read(ready[0], response), 1000))  # type: ignore[union-attr]
        return Probe(rows, response, time_field=self.replication_key)

    def probe_request(self, params: dict[str, t.Any]) -> Probe:
        """Send one GET with these query parameters, for a stream's own probe."""
        send = self.request_decorator(self._request)
        prepared = self.build_prepared_request(
            method="GET", url=self.get_url(None), params=params, headers=self.http_headers
        )
        return Probe([], send(prepared, None))

    @property
    def requests_per_minute_budget(self) -> int | None:
        """The provider's request budget per minute, for progress lines."""
        return self.budget.per_minute

    def bookmark_in_future(self, context: Context | None) -> bool:
        """A bookmark later than now (a wrong zone, a hand-edited state): warn, read nothing."""
        value = self.get_starting_replication_key_value(context) if self.replication_key else None
        if not value:
            return False
        try:
            moment = parse_datetime(str(value), self.zone)
        except (TypeError, ValueError):
            return False  # the state check (tap.py) reports a bookmark that does not parse
        now = datetime.now(timezone.utc)
        if moment.astimezone(timezone.utc) <= now + FUTURE_SLACK:
            return False
        self.logger.warning(
            "%s: the bookmark of %s is %s, later than now (%s): nothing is read for it in "
            "this run. If it is wrong, clear it (meltano state clear <state id> %s) or fix "
            "the state file.",
            self.provider_label,
            self.name,
            value,
            now.replace(microsecond=0).isoformat(),
            self.name,
        )
        return True

    @property
    def max_concurrent_requests(self) -> int:
        """Requests in flight at once, where the walk allows it.

        The provider block's max_concurrent_requests; 1: one at a time.
        """
        return int(self.provider_config.get("max_concurrent_requests") or 1)

    def commit_bookmark(self, value: object, context: Context | None = None) -> None:
        """Every record up to `value` (a value of the replication key) is written.

        Move the bookmark there, never back, and write a STATE message.
        """
        if value is None or not self.replication_key:
            return
        text = str(value)
        if self._bookmark_floor and _earlier(text, self._bookmark_floor):
            return  # the lookback re-reads records older than the bookmark
        state = self.get_context_state(context)
        current = state.get("replication_key_value")
        if current is not None and not _earlier(str(current), text):
            return
        state["replication_key"] = self.replication_key
        state["replication_key_value"] = text
        self.state_manager.is_flushed = False
        self._write_state_message()

    @override
    def _increment_stream_state(
        self,
        latest_record: dict[str, t.Any],
        *,
        context: Context | None = None,
    ) -> None:
        return  # the engine moves the bookmark (commit_bookmark), never a record

    # -- records -----------------------------------------------------------------------

    @cached_property
    def convert_time(self) -> NaiveToUtc:
        """Provider timestamp text -> ISO 8601 UTC text (naive text read in `zone`)."""
        return NaiveToUtc(self.zone)

    def normalise_timestamps(self, record: dict[str, t.Any]) -> dict[str, t.Any]:
        """Rewrite this stream's timestamp fields as ISO 8601 UTC.

        A value that cannot be a time is one line naming the stream, the record and the
        field.
        """
        try:
            self.convert_time.convert_fields(record, self.timestamp_fields)
        except UnreadableValue as problem:
            raise record_error(
                self.provider_label, self.name, record, self.primary_keys or (), problem
            ) from None
        return record

    @override
    def log(self, message: str, *args: t.Any, level: int = logging.INFO, **kwargs: t.Any) -> None:
        # The SDK logs "An unhandled error occurred" before re-raising (and for the record
        # limit that ends each stream of `--test`): every failure is printed once, as one
        # clear line, by tap_helpdesk.tap.main (its traceback, redacted, at DEBUG).
        if level >= logging.ERROR and message.startswith(_SDK_UNHANDLED):
            return
        super().log(message, *args, level=level, **kwargs)

    @override
    def post_process(
        self,
        row: dict[str, t.Any],
        context: Context | None = None,
    ) -> dict[str, t.Any] | None:
        return self.normalise_timestamps(row)


class PageFedStream(FastRecords):
    """A child stream whose records arrive inside its parent's pages (no requests of its own).

    The parent hands over one child context per page it reads; the SDK would write a SCHEMA
    message for every one of them, so it is written once per run here. State lives at the
    stream level, not per page.
    """

    state_partitioning_keys: t.ClassVar[list[str]] = []

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """A stream as the SDK's Stream takes it; its SCHEMA is not written yet."""
        super().__init__(*args, **kwargs)
        self._schema_written = False
        self._announced = False
        # one record count and one sync time for the run, not one per page (run_metrics.py)
        self._run_counter = RunCounter(self.name)
        self._run_timer = RunTimer(self.name)

    @override
    def log(self, message: str, *args: t.Any, level: int = logging.INFO, **kwargs: t.Any) -> None:
        if level >= logging.ERROR and message.startswith(_SDK_UNHANDLED):
            return  # as HelpdeskStream.log: the one error line says it
        if message.startswith(_SDK_BEGINNING):  # the SDK's, for every page: said once
            if self._announced:
                return
            self._announced = True
        super().log(message, *args, level=level, **kwargs)

    @override
    def get_record_counter(
        self, *, endpoint: str | None = None, log_interval: float = DEFAULT_LOG_INTERVAL
    ) -> Counter:
        return self._run_counter

    @override
    def get_sync_timer(self) -> Timer:
        return self._run_timer

    def end_of_pages(self, *, failed: bool = False) -> None:
        """The parent's walk ended: the run's record count and sync time, once each."""
        self._run_counter.finish()
        self._run_timer.finish(failed=failed)

    @property
    def parent(self) -> Stream:
        """The parent stream instance whose pages carry this stream's records."""
        parent_type = self.parent_stream_type
        if parent_type is None:
            raise TypeError(f"{type(self).__name__} names no parent_stream_type")
        return next(s for s in self._tap.streams.values() if isinstance(s, parent_type))

    @cached_property
    @override
    def record_label(self) -> str:
        parent = self.parent
        return str(getattr(parent, "provider_label", type(parent).__name__))

    @override
    def _write_schema_message(self) -> None:
        if not self._schema_written:
            self._schema_written = True
            super()._write_schema_message()


def parse_records(stream: HelpdeskStream, response: requests.Response) -> list[dict[str, t.Any]]:
    """Decode a response that must be a JSON array of records."""
    body = stream.decode_json(response)
    if not isinstance(body, list):
        raise ProviderError(
            stream.provider_label,
            f"expected a JSON array from {urlparse(response.url).path}, got: "
            f"{response_snippet(response)}",
        )
    if not all_objects(body):
        raise ProviderError(
            stream.provider_label,
            f"expected a JSON array of objects from {urlparse(response.url).path}, got: "
            f"{response_snippet(response)}",
        )
    return body


def all_objects(rows: list[t.Any]) -> bool:
    """Every row is a JSON object (a record), not a number, a string, a list or null."""
    return all(isinstance(row, dict) for row in rows)


__all__ = [
    "BODY_ERRORS",
    "RETRIABLE_STATUSES",
    "USER_AGENT",
    "HelpdeskStream",
    "PageFedStream",
    "all_objects",
    "parse_records",
    "response_snippet",
    "seconds_until_reset",
]
