"""The one base stream every provider builds on.

It owns what must behave the same for all five APIs: the provider's settings block, the
request budget, retries with backoff (Retry-After / X-Rate-Limit-Reset honoured), mapping
HTTP failures to one clear line, JSON decoding, timestamps, and bookmarks that never go back.
"""

from __future__ import annotations

import email.utils
import itertools
import logging
import math
import os
import random
import re
import sys
import time
import typing as t
import weakref
from datetime import datetime, timedelta, timezone, tzinfo
from functools import cached_property
from urllib.parse import urlparse

import msgspec
import requests
from singer_sdk.exceptions import RetriableAPIError
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.streams import RESTStream, Stream
from singer_sdk.streams.rest import PageContext

from tap_helpdesk.check import Probe
from tap_helpdesk.deadline import Deadline
from tap_helpdesk.engine import Engine, Step, Walk
from tap_helpdesk.errors import HelpdeskError, ProviderError, UnreadableValue
from tap_helpdesk.output import StdoutWriter
from tap_helpdesk.timestamps import NaiveToUtc, parse_datetime, parse_zone, to_utc
from tap_helpdesk.values import RecordCaster, record_error

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override

if t.TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterable, Mapping

    from singer_sdk.helpers.types import Context

    from tap_helpdesk.limits import RequestBudget
    from tap_helpdesk.tap import TapHelpdesk

USER_AGENT = "tap-helpdesk/0.1 (+https://hub.meltano.com/extractors/tap-helpdesk)"
RETRIABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
#: What a response body cut off mid-way raises while it is read (streamed answers).
BODY_ERRORS = (
    ConnectionResetError,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
MAX_BACKOFF_SECONDS = 60.0
#: A bookmark this far ahead of our clock is taken as one in the future (clock skew below).
FUTURE_SLACK = timedelta(minutes=15)
_TAGS = re.compile(r"<[^>]+>")
_SPACES = re.compile(r"\s+")
_json_decoder = msgspec.json.Decoder()


def response_snippet(response: requests.Response, limit: int = 160) -> str:
    """A short, single-line view of a response body (HTML tags stripped) for error lines."""
    text = _SPACES.sub(" ", _TAGS.sub(" ", response.text or "")).strip()
    return text[:limit] + ("..." if len(text) > limit else "") if text else "(empty body)"


def seconds_until_reset(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After or X-Rate-Limit-Reset header.

    Retry-After is seconds or an HTTP date; Teamwork documents X-Rate-Limit-Reset as the
    "remaining window, UTC epoch seconds", which reads either way, so a value large enough
    to be an epoch is taken as one and anything smaller as a number of seconds.
    """
    if not value:
        return None
    now = time.time() if now is None else now
    try:
        number = float(value)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        wait = moment.timestamp() - now
        return wait if wait > 0 else None  # a date in the past says nothing: back off
    if not math.isfinite(number) or number < 0:
        return None  # NaN, infinity or a negative wait: back off instead
    if number > 1_000_000_000:
        wait = number - now
        return wait if wait > 0 else None
    return number


def settle_environment(session: requests.Session, url: str) -> requests.Session:
    """Read the proxy and CA-bundle environment once, instead of on every request.

    With `trust_env` on, `Session.send` looks up the proxy variables (three scans of
    os.environ) and `prepare_request` reads ~/.netrc for every request: 12-13% of a run of
    small pages. The same settings are resolved here, once, for the API's host.
    """
    if not session.trust_env:
        return session
    proxies = requests.utils.get_environ_proxies(url)  # {} when NO_PROXY covers the host
    session.proxies.update({scheme: proxy for scheme, proxy in proxies.items() if scheme != "no"})
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle and session.verify is True:
        session.verify = bundle
    session.trust_env = False
    return session


_DEADLINES: weakref.WeakKeyDictionary[requests.Response, Deadline] = weakref.WeakKeyDictionary()
_NO_DEADLINE = Deadline(0)


def _deadline_of(response: requests.Response) -> Deadline:
    return _DEADLINES.get(response, _NO_DEADLINE)


def _without_backoff_defaults(record: logging.LogRecord) -> bool:
    """Drop the lines backoff writes itself (the SDK hands it the stream's logger): a retry
    is logged by backoff_handler, and giving up becomes one ProviderError line."""
    return record.msg not in _BACKOFF_DEFAULT_LINES


_BACKOFF_DEFAULT_LINES = (
    "Backing off %s(...) for %.1fs (%s)",
    "Giving up %s(...) after %d tries (%s)",
)


def _earlier(value: str, than: str) -> bool:
    """Whether timestamp text `value` is before `than` (parsed; text when unreadable)."""
    try:
        return parse_datetime(value, timezone.utc) < parse_datetime(than, timezone.utc)
    except (TypeError, ValueError):
        return value < than


class HelpdeskStream(RESTStream[t.Any]):
    """Base stream: one provider endpoint."""

    #: Settings block of the provider (`enneo`, `teamwork_desk`, ...).
    provider: t.ClassVar[str]
    #: Name shown to users in error lines ("Enneo", "Teamwork Desk", ...).
    provider_label: t.ClassVar[str]
    #: Settings to check when the provider refuses the credentials.
    credential_settings: t.ClassVar[tuple[str, ...]] = ()
    #: Fields of each record holding timestamps to emit in UTC.
    timestamp_fields: t.ClassVar[tuple[str, ...]] = ()

    _LOG_REQUEST_METRIC_URLS = False
    # A redirect would re-send the credentials (a header, or ProProfs' body) wherever it
    # points: none is followed; a 3xx is an error line naming where it pointed.
    allow_redirects = False
    #: Answers read by the walk as they arrive (Filum's exports), not whole before `read`.
    stream_answers: t.ClassVar[bool] = False
    # Records leave post_process JSON-native (decoded JSON, timestamps already ISO strings):
    # the SDK's per-record type conformance would re-walk every field for nothing.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    def __init__(self, tap: TapHelpdesk, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(tap, *args, **kwargs)
        self.logger.addFilter(_without_backoff_defaults)
        self._helpdesk_tap = tap
        self._bookmark_floor: str | None = None
        #: the last record of the page being emitted, for sorted streams that page
        #: (set by the stream's parse_response); None: the bookmark moves per record
        self.page_tail: dict[str, t.Any] | None = None

    @property
    @override
    def requests_session(self) -> requests.Session:
        session = super().requests_session
        return settle_environment(session, self.url_base) if session.trust_env else session

    # -- settings ----------------------------------------------------------------------

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
    def budget(self) -> RequestBudget:
        """The request budget shared by all streams of this provider."""
        return self._helpdesk_tap.budget_for(self.provider)

    @property
    @override
    def timeout(self) -> int:
        return int(self.config.get("request_timeout") or 120)

    @property
    def max_retries(self) -> int:
        """Retries after the first attempt of a request."""
        value = self.config.get("max_retries")
        return 6 if value is None else int(value)

    @property
    @override
    def http_headers(self) -> dict[str, str]:
        return {"User-Agent": USER_AGENT, "Accept": "application/json"}

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

    @property
    def uses_walk(self) -> bool:
        """Whether this stream is driven by the walk engine (new_walk is defined)."""
        return type(self).new_walk is not HelpdeskStream.new_walk

    @override
    def request_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        if not self.uses_walk:
            yield from super().request_records(context)
            return
        if self.bookmark_in_future(context):
            return
        walk = self.new_walk(context)
        if walk is None:
            return
        send = self.request_decorator(self._request)
        with self.get_http_request_counter() as counter:
            counter.with_context(context)
            yield from Engine(self, walk, send, context, on_answer=counter.increment).run()

    def probe(self) -> Probe:
        """One cheap request for the connection check (tap_helpdesk.check): the walk's
        first request; a stream whose API can be asked more pointedly overrides this."""
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
        """Requests in flight at once, where the walk allows it (1: one at a time)."""
        value = self.provider_config.get("max_concurrent_requests")
        return int(value) if value else self.default_concurrency

    #: Requests in flight by default, per provider (see its module for why).
    default_concurrency: t.ClassVar[int] = 1

    def answer(
        self,
        walk: Walk[t.Any],
        token: t.Any,
        prepared: requests.PreparedRequest,
        response: requests.Response,
        context: Context | None,
    ) -> Generator[dict[str, t.Any], None, Step]:
        """Let the walk read one answer.

        A streamed answer cut off while the walk reads it is asked for again (the walk
        drops the rows it already emitted); other answers were read whole inside the
        send, whose retries cover a cut.
        """
        send = self.request_decorator(self._request)
        for attempt in itertools.count(1):
            try:
                return (yield from walk.read(token, response))
            except BODY_ERRORS as exc:
                reason = self.cut_reason(response, exc)
                if attempt > self.max_retries:
                    raise ProviderError(
                        self.provider_label,
                        f"the answer to {walk.describe(token)} was cut off {attempt} times "
                        f"({reason}); raise max_retries or try again later",
                    ) from None
                wait = self.retry_delay(exc, attempt)
                self.logger.warning(
                    "%s: the answer to %s was cut off (%s), retry %d of %d in %.1f s",
                    self.provider_label,
                    walk.describe(token),
                    reason,
                    attempt,
                    self.max_retries,
                    wait,
                )
                time.sleep(wait)
            finally:
                _deadline_of(response).cancel()
                response.close()
            response = send(prepared, context)
        raise AssertionError("unreachable")  # pragma: no cover

    def cut_reason(self, response: requests.Response, exc: BaseException) -> str:
        """Why a body ended early, for log lines."""
        if _deadline_of(response).expired:
            return f"not complete within request_timeout, {self.timeout} s"
        return type(exc).__name__

    def build_request(self, token: t.Any, context: Context | None) -> requests.PreparedRequest:
        """The prepared request for one token (through the SDK's get_http_request)."""
        page = PageContext(stream_context=context, next_page_token=token)
        http = self.get_http_request(page=page)
        kwargs: dict[str, t.Any] = {
            "method": http.method,
            "url": http.url,
            "params": http.encode_params(),
            "headers": http.headers,
            "json" if self.payload_as_json else "data": http.data,
        }
        return self.build_prepared_request(**kwargs)

    @override
    def _request(
        self, prepared_request: requests.PreparedRequest, context: Context | None
    ) -> requests.Response:
        # The SDK's own _request, with two changes: the whole answer, connect to last
        # byte, is bounded by request_timeout (requests bounds each read only), and a
        # streamed answer is left for the walk to read.
        authenticated = self.authenticator(prepared_request)
        deadline = Deadline(self.timeout)
        deadline.start()
        try:
            response = self.requests_session.send(
                authenticated,
                stream=True,
                timeout=self.timeout,
                allow_redirects=self.allow_redirects,
            )
        except BaseException:
            deadline.cancel()
            raise
        deadline.watch(response)
        _DEADLINES[response] = deadline
        if not self.stream_answers:
            try:
                _ = response.content
            except BODY_ERRORS as exc:
                if deadline.expired:
                    raise requests.exceptions.ReadTimeout(
                        f"no complete answer within request_timeout ({self.timeout} s)"
                    ) from exc
                raise
            finally:
                deadline.cancel()
        self._write_request_duration_log(
            endpoint=self.path, response=response, context=context, extra_tags=None
        )
        try:
            self.validate_response(response)
        except BaseException:
            deadline.cancel()
            response.close()
            raise
        return response

    def commit_bookmark(self, value: t.Any, context: Context | None = None) -> None:
        """Every record up to `value` (a value of the replication key) is written: move
        the bookmark there, never back, and write a STATE message."""
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
        if self.uses_walk:
            return  # the engine moves the bookmark (commit_bookmark), never a record
        if self.page_tail is not None and latest_record is not self.page_tail:
            return  # the bookmark moves once per page, at its last record
        # The lookback re-reads records older than the bookmark: they must not move it back.
        value = latest_record.get(self.replication_key or "")
        if self._bookmark_floor and isinstance(value, str) and value < self._bookmark_floor:
            return
        super()._increment_stream_state(latest_record, context=context)

    # -- records -----------------------------------------------------------------------

    @cached_property
    def convert_time(self) -> NaiveToUtc:
        """Provider timestamp text -> ISO 8601 UTC text (naive text read in `zone`)."""
        return NaiveToUtc(self.zone)

    def normalise_timestamps(self, record: dict[str, t.Any]) -> dict[str, t.Any]:
        """Rewrite this stream's timestamp fields as ISO 8601 UTC (a value that cannot be a
        time is one line naming the stream, the record and the field)."""
        try:
            self.convert_time.convert_fields(record, self.timestamp_fields)
        except UnreadableValue as problem:
            raise record_error(
                self.provider_label, self.name, record, self.primary_keys or (), problem
            ) from None
        return record

    def decode_json(self, response: requests.Response) -> t.Any:
        """Decode a JSON body, or fail with one line that says what came back instead."""
        try:
            return _json_decoder.decode(response.content)
        except msgspec.DecodeError:
            kind = response.headers.get("Content-Type", "no content type")
            raise ProviderError(
                self.provider_label,
                f"expected JSON from {urlparse(response.url).path} but got {kind} "
                f"(HTTP {response.status_code}): {response_snippet(response)}; "
                f"check {self.provider}.api_url",
            ) from None

    # -- errors ------------------------------------------------------------------------

    def provider_error_text(self, response: requests.Response) -> str:
        """The provider's own words for a failed request."""
        try:
            body = _json_decoder.decode(response.content)
        except msgspec.DecodeError:
            return response_snippet(response)
        if isinstance(body, dict):
            for key in ("detail", "errorText", "description", "message", "error", "errors"):
                if body.get(key):
                    return str(body[key])
        return response_snippet(response)

    @override
    def validate_response(self, response: requests.Response) -> None:
        self.observe_rate_headers(response)
        status = response.status_code
        if status in {401, 403}:
            settings = " and ".join(f"{self.provider}.{s}" for s in self.credential_settings)
            raise ProviderError(
                self.provider_label,
                f"authentication failed (HTTP {status}): check {settings or 'the credentials'}",
            )
        if status in RETRIABLE_STATUSES or status >= 500:
            raise RetriableAPIError(self.describe_failure(response), response)
        if status >= 400:
            raise ProviderError(
                self.provider_label,
                f"HTTP {status} from {urlparse(response.url).path}: "
                f"{self.provider_error_text(response)}",
            )

    def describe_failure(self, response: requests.Response) -> str:
        """One line for a retriable HTTP failure."""
        return (
            f"HTTP {response.status_code} from {urlparse(response.url).path}: "
            f"{self.provider_error_text(response)}"
        )

    def observe_rate_headers(self, response: requests.Response) -> None:
        """Pause the provider's budget when the server says its quota is spent."""
        remaining = response.headers.get("X-Rate-Limit-Remaining")
        if remaining is not None and remaining.strip() == "0":
            wait = seconds_until_reset(response.headers.get("X-Rate-Limit-Reset"))
            if wait:
                self.budget.pause(min(wait, MAX_BACKOFF_SECONDS))

    # -- retries -----------------------------------------------------------------------

    def retry_delay(self, exc: BaseException | None, attempt: int) -> float:
        """Seconds before retry `attempt`: the server's word if it gave one, else backoff."""
        response = getattr(exc, "response", None)
        if response is not None:
            for header in ("Retry-After", "X-Rate-Limit-Reset"):
                wait = seconds_until_reset(response.headers.get(header))
                if wait is not None:
                    return min(wait, MAX_BACKOFF_SECONDS) + random.uniform(0, 0.25)
        base = min(self.backoff_base_seconds * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS)
        return base * random.uniform(0.5, 1.5)

    @property
    def backoff_base_seconds(self) -> float:
        """First backoff step (doubles per attempt, with jitter)."""
        return float(self.config.get("backoff_base_seconds") or 1.0)

    @override
    def backoff_wait_generator(self) -> t.Generator[float, t.Any, None]:
        # The SDK's runtime hook: each wait is read from the exception (Retry-After,
        # X-Rate-Limit-Reset), else exponential backoff; a 429 pauses every request of the
        # provider (all streams, all requests in flight), not just this one.
        attempts = itertools.count(1)

        def wait(exc: BaseException | None) -> float:
            delay = self.retry_delay(exc, next(attempts))
            response = getattr(exc, "response", None)
            if response is not None and response.status_code == 429:
                self.budget.pause(delay)
            return delay

        return self.backoff_runtime(value=wait)

    @override
    def backoff_max_tries(self) -> int:
        return self.max_retries + 1

    @override
    def backoff_jitter(self, value: float) -> float:
        return value  # retry_delay has jittered it already

    @override
    def backoff_handler(self, details: t.Any) -> None:
        exc = details.get("exception")
        response = getattr(exc, "response", None)
        reason = f"HTTP {response.status_code}" if response is not None else type(exc).__name__
        self.logger.warning(
            "%s: %s on %s, retry %d of %d in %.1f s",
            self.provider_label,
            reason,
            self.path,
            details.get("tries", 0),
            self.max_retries,
            details.get("wait", 0.0),
        )

    @override
    def request_decorator(self, func: Callable[..., requests.Response]) -> Callable[..., t.Any]:
        def within_budget(*args: t.Any, **kwargs: t.Any) -> requests.Response:
            entry = self.budget.acquire()
            try:
                return func(*args, **kwargs)
            finally:
                self.budget.done(entry)

        # The SDK's retries (its backoff hooks above), with the budget around each attempt.
        within_budget.__name__ = getattr(func, "__name__", "request")
        retrying = super().request_decorator(within_budget)

        def send(*args: t.Any, **kwargs: t.Any) -> requests.Response:
            try:
                return retrying(*args, **kwargs)
            except RetriableAPIError as exc:
                raise ProviderError(
                    self.provider_label,
                    f"{exc} (gave up after {self.max_retries + 1} attempts; "
                    "raise max_retries or try again later)",
                ) from None
            except requests.exceptions.RequestException as exc:
                raise ProviderError(
                    self.provider_label,
                    f"cannot reach {self.url_base} ({type(exc).__name__}, "
                    f"{self.max_retries + 1} attempts): check {self.provider}.api_url "
                    "and the network",
                ) from None

        return send

    @override
    def log(self, message: str, *args: t.Any, level: int = logging.INFO, **kwargs: t.Any) -> None:
        # The SDK logs "An unhandled error occurred" before re-raising; an expected failure
        # is printed once, as one clear line, by tap_helpdesk.tap.main.
        if level >= logging.ERROR and isinstance(sys.exc_info()[1], HelpdeskError):
            return
        super().log(message, *args, level=level, **kwargs)

    @override
    def post_process(
        self,
        row: dict[str, t.Any],
        context: Context | None = None,
    ) -> dict[str, t.Any] | None:
        return self.normalise_timestamps(row)

    # -- per-record hot path -----------------------------------------------------------

    @override
    def generate_child_contexts(
        self,
        record: dict[str, t.Any],
        context: Context | None,
    ) -> Iterable[Context | None]:
        # The SDK copies every record into a child context even for a stream with no
        # children; only streams with children need one.
        if self.child_streams:
            yield from super().generate_child_contexts(record, context)

    @cached_property
    def _every_property_selected(self) -> bool:
        return all(selected for breadcrumb, selected in self.mask.items() if breadcrumb)

    @cached_property
    def _direct_records(self) -> bool:
        """Records can be written as they are: nothing deselected, no stream map at work."""
        return (
            self._every_property_selected
            and len(self.stream_maps) == 1
            and isinstance(self.stream_maps[0], SameRecordTransform)
            # SameRecordTransform.transform also flattens (flattening_enabled)
            and not self.stream_maps[0].flattening_enabled
            and isinstance(self._tap.message_writer, StdoutWriter)
        )

    @override
    def _write_record_message(self, record: dict[str, t.Any]) -> None:
        cast_to_schema(self, record, self.provider_label)
        if not self._direct_records:
            super()._write_record_message(record)
            return
        # What the SDK writes, without a RecordMessage object and its dict copy per record.
        writer = t.cast("StdoutWriter", self._tap.message_writer)
        writer.write_record(self.stream_maps[0].stream_alias, record, self._stream_version)
        self.state_manager.is_flushed = False


class PageFedStream(Stream):
    """A child stream whose records arrive inside its parent's pages (no requests of its own).

    The parent hands over one child context per page it reads; the SDK would write a SCHEMA
    message for every one of them, so it is written once per run here. State lives at the
    stream level, not per page.
    """

    state_partitioning_keys: t.ClassVar[list[str]] = []

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._schema_written = False

    @property
    def parent(self) -> Stream:
        """The parent stream instance whose pages carry this stream's records."""
        parent_type = self.parent_stream_type
        assert parent_type is not None
        return next(s for s in self._tap.streams.values() if isinstance(s, parent_type))

    @override
    def _write_record_message(self, record: dict[str, t.Any]) -> None:
        parent = self.parent
        cast_to_schema(self, record, getattr(parent, "provider_label", type(parent).__name__))
        super()._write_record_message(record)

    @override
    def _write_schema_message(self) -> None:
        if not self._schema_written:
            self._schema_written = True
            super()._write_schema_message()


_CASTERS: weakref.WeakKeyDictionary[Stream, RecordCaster] = weakref.WeakKeyDictionary()


def cast_to_schema(stream: Stream, record: dict[str, t.Any], label: str) -> None:
    """Cast a record in place to the types its stream's SCHEMA message declares (a lossless
    cast, say "4484636" -> 4484636); a value that cannot be cast is one line."""
    caster = _CASTERS.get(stream)
    if caster is None:
        caster = _CASTERS[stream] = RecordCaster(stream.schema)
    try:
        caster(record)
    except UnreadableValue as problem:
        raise record_error(label, stream.name, record, stream.primary_keys or (), problem) from None


def parse_records(stream: HelpdeskStream, response: requests.Response) -> list[dict[str, t.Any]]:
    """Decode a response that must be a JSON array of records."""
    body = stream.decode_json(response)
    if not isinstance(body, list):
        raise ProviderError(
            stream.provider_label,
            f"expected a JSON array from {urlparse(response.url).path}, got: "
            f"{response_snippet(response)}",
        )
    return body


__all__ = [
    "BODY_ERRORS",
    "HelpdeskStream",
    "PageFedStream",
    "parse_records",
    "response_snippet",
    "seconds_until_reset",
]
