"""How every stream talks HTTP: one request, its answer checked, retried, bounded.

`HttpStream` owns what must behave the same for all five APIs: sending a request built
by the SDK's `get_http_request` within the provider's request budget, retries through the
SDK's backoff hooks (Retry-After / X-Rate-Limit-Reset honoured, a 429 pausing every
request of the provider), a whole answer bounded by request_timeout, no redirect
followed, HTTP failures mapped to one clear line, and JSON decoding.
"""

from __future__ import annotations

import itertools
import logging
import random
import sys
import time
import typing as t
import weakref
from urllib.parse import urlparse

import msgspec
import requests
from singer_sdk.exceptions import RetriableAPIError
from singer_sdk.streams import RESTStream
from singer_sdk.streams.rest import PageContext

from tap_helpdesk.answers import describe_redirect, response_snippet, seconds_until_reset
from tap_helpdesk.deadline import Deadline
from tap_helpdesk.errors import ProviderError
from tap_helpdesk.surrogates import decode_replacing

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override

if t.TYPE_CHECKING:
    from collections.abc import Callable, Generator

    from singer_sdk.helpers.types import Context

    from tap_helpdesk.limits import RequestBudget
    from tap_helpdesk.walk import Step, Walk

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
_json_decoder = msgspec.json.Decoder()


def _undecodable(exc: Exception) -> str:
    """Why a body is not JSON, as the decoder says ("Number out of range", ...)."""
    if isinstance(exc, RecursionError):
        return "it nests deeper than the decoder can follow"
    return str(exc) or type(exc).__name__


_DEADLINES: weakref.WeakKeyDictionary[requests.Response, Deadline] = weakref.WeakKeyDictionary()
_NO_DEADLINE = Deadline(0)


def _deadline_of(response: requests.Response) -> Deadline:
    return _DEADLINES.get(response, _NO_DEADLINE)


def _without_backoff_defaults(record: logging.LogRecord) -> bool:
    """Drop the lines backoff writes itself (the SDK hands it the stream's logger).

    A retry is logged by backoff_handler, and giving up becomes one ProviderError line.
    """
    return record.msg not in _BACKOFF_DEFAULT_LINES


_BACKOFF_DEFAULT_LINES = (
    "Backing off %s(...) for %.1fs (%s)",
    "Giving up %s(...) after %d tries (%s)",
)


class HttpStream(RESTStream[t.Any]):
    """Sending, checking and retrying one provider's requests (see the module doc)."""

    #: Settings block of the provider (`enneo`, `teamwork_desk`, ...).
    provider: t.ClassVar[str]
    #: Name shown to users in error lines ("Enneo", "Teamwork Desk", ...).
    provider_label: t.ClassVar[str]
    #: Settings to check when the provider refuses the credentials.
    credential_settings: t.ClassVar[tuple[str, ...]] = ()

    _LOG_REQUEST_METRIC_URLS = False
    # A redirect would re-send the credentials (a header, or ProProfs' body) wherever it
    # points: none is followed; a 3xx is an error line naming where it pointed.
    allow_redirects = False
    #: Answers read by the walk as they arrive (Filum's exports), not whole before `read`.
    stream_answers: t.ClassVar[bool] = False

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """A stream as the SDK's RESTStream takes it, its logger without backoff's lines."""
        super().__init__(*args, **kwargs)
        self.logger.addFilter(_without_backoff_defaults)

    @property
    def budget(self) -> RequestBudget:
        """The request budget shared by all streams of this provider."""
        raise NotImplementedError

    @property
    def max_retries(self) -> int:
        """Retries after the first attempt of a request."""
        value = self.config.get("max_retries")
        return 6 if value is None else int(value)

    @property
    @override
    def timeout(self) -> int:
        return int(self.config.get("request_timeout") or 120)

    @property
    @override
    def http_headers(self) -> dict[str, str]:
        return {"User-Agent": USER_AGENT, "Accept": "application/json"}

    # -- one request -------------------------------------------------------------------

    def answer(
        self,
        walk: Walk[t.Any],
        token: object,
        prepared: requests.PreparedRequest,
        response: requests.Response,
        context: Context | None,
    ) -> Generator[dict[str, t.Any], None, Step]:
        """Let the walk read one answer.

        A streamed answer cut off while the walk reads it is asked for again (the walk
        drops the rows it already emitted); other answers were read whole inside the
        send, whose retries cover a cut.
        """
        for attempt in itertools.count(1):
            try:
                step = yield from walk.read(token, response)
                if _deadline_of(response).expired:  # shut: its end is not the answer's end
                    raise requests.exceptions.ConnectionError(self._late())
                return step
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
            # only a cut answer gets here: ask again through the budget and the retries
            response = self.request_decorator(self._request)(prepared, context)
        raise AssertionError("unreachable")  # pragma: no cover

    def _late(self) -> str:
        return f"no complete answer within request_timeout ({self.timeout} s)"

    def answer_read_ahead(self, response: requests.Response) -> None:
        """An answer read to its end ahead of its turn: its request_timeout stops counting.

        Its connection is back in the pool by now, where the deadline would otherwise shut
        it under another request; the body waits for its turn in memory.
        """
        _deadline_of(response).cancel()

    def answer_expired(self, response: requests.Response) -> bool:
        """Whether request_timeout shut this answer before it was whole."""
        return _deadline_of(response).expired

    def cut_reason(self, response: requests.Response, exc: BaseException) -> str:
        """Why a body ended early, for log lines."""
        if _deadline_of(response).expired:
            return f"not complete within request_timeout, {self.timeout} s"
        return type(exc).__name__

    def build_request(self, token: object, context: Context | None) -> requests.PreparedRequest:
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
                self.read_body(response)
            except BODY_ERRORS as exc:
                if deadline.expired:
                    raise requests.exceptions.ReadTimeout(self._late()) from exc
                raise
            finally:
                deadline.cancel()
            if deadline.expired:  # a body without a length just ends when it is shut
                raise requests.exceptions.ReadTimeout(self._late())
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

    def read_body(self, response: requests.Response) -> bytes:
        """The whole body of an answer, read now (requests' own way: `content`)."""
        return response.content

    # -- answers and errors ------------------------------------------------------------

    # Any: the JSON as decoded; each walk reads the shape its provider's docs give
    def decode_json(self, response: requests.Response) -> t.Any:  # noqa: ANN401
        """Decode a JSON body, or fail with one line that says what came back instead."""
        try:
            return _json_decoder.decode(response.content)
        except (msgspec.DecodeError, RecursionError) as exc:
            read, value = decode_replacing(response.content, self.provider_label, response)
            if read:
                return value
            kind = response.headers.get("Content-Type", "no content type")
            raise ProviderError(
                self.provider_label,
                f"expected JSON from {urlparse(response.url).path} but got {kind} "
                f"(HTTP {response.status_code}): {response_snippet(response)} "
                f"({_undecodable(exc)}); check {self.provider}.api_url",
            ) from None

    # -- errors ------------------------------------------------------------------------

    def provider_error_text(self, response: requests.Response) -> str:
        """The provider's own words for a failed request."""
        try:
            body = _json_decoder.decode(response.content)
        except (msgspec.DecodeError, RecursionError):
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
        if 300 <= status < 400:
            raise ProviderError(self.provider_label, describe_redirect(self.provider, response))
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
                    # jitter only spreads retries out: nothing here is secret
                    return min(wait, MAX_BACKOFF_SECONDS) + random.uniform(0, 0.25)  # noqa: S311
        base = min(self.backoff_base_seconds * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS)
        return float(base * random.uniform(0.5, 1.5))  # noqa: S311 (jitter, as above)

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
    def request_decorator(self, func: Callable[..., t.Any]) -> Callable[..., t.Any]:
        def within_budget(*args: t.Any, **kwargs: t.Any) -> requests.Response:
            entry = self.budget.acquire()
            try:
                response: requests.Response = func(*args, **kwargs)
            finally:
                self.budget.done(entry)
            return response

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
