"""The SDK's per-request METRIC line, written in one call (a measured fast path).

For every request the SDK logs `METRIC: {"type":"timer","metric":"http_request_duration",
...}` through `logging`: a Point, a LogRecord and its caller lookup, the record factory
(redaction.py), the JSON made twice (once to redact, once to format), the formatter and
the handler. On a run of small pages that code runs cold, once per request between two
pages of records: about 200 us of CPU a request in a ProProfs run (thread CPU time), a
tenth of the request, against 25 us when timed in a loop.

When logging is set up as the SDK sets it up for a CLI run (one `StreamHandler` on the
root logger with the SDK's console format, no filters, no other handler on the way, INFO
enabled, the record factory the default or redaction.py's), `MetricLine` writes the same
bytes with one f-string and one write under the handler's lock. Any other setup (a
logging config file, pytest's caplog, a filter, a level above INFO, a renamed level)
takes the SDK's own path. tests/test_fastpath.py compares the two byte for byte.
"""

from __future__ import annotations

import json
import logging
import math
import time
import typing as t

from singer_sdk.logging import DEFAULT_FORMAT, ConsoleFormatter

from tap_helpdesk import redaction

if t.TYPE_CHECKING:
    import requests

_INFO = logging.INFO
_FAILED_FROM = 400  # the SDK's status tag: "failed" from 400 (HTTPStatus.BAD_REQUEST) on
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def plain_console_handler(logger: logging.Logger) -> logging.StreamHandler[t.Any] | None:
    """The handler that alone writes `logger`'s INFO lines, when logging is the SDK's plain setup.

    None for any other setup, or when INFO lines of `logger` are not written at all.
    """
    if not logger.isEnabledFor(_INFO) or logger.disabled or logger.filters:
        return None
    if logging.getLevelName(_INFO) != "INFO" or not redaction.plain_record_factory():
        return None
    node: logging.Logger | None = logger
    root = logging.getLogger()
    while node is not None and node is not root:
        if node.handlers or not node.propagate:
            return None
        node = node.parent
    if node is None or len(root.handlers) != 1:
        return None
    handler = root.handlers[0]
    if type(handler) is not logging.StreamHandler or handler.filters or handler.level > _INFO:
        return None
    form = handler.formatter
    if (
        type(form) is not ConsoleFormatter
        or form._fmt != DEFAULT_FORMAT  # the format and style it was built with
        or type(form._style) is not logging.StrFormatStyle
        or form.datefmt
        or form.converter is not time.localtime
        or form.default_time_format != _TIME_FORMAT
        or form.default_msec_format != "%s,%03d"
    ):
        return None
    return handler


class MetricLine:
    """The http_request_duration METRIC line of one stream's requests."""

    def __init__(self, logger: logging.Logger, stream: str) -> None:
        """Lines for `stream`'s requests, as `logger` (the SDK's metrics logger) logs them."""
        self.logger = logger
        self._head = f" | INFO     | {logger.name:30s} | "
        self._stream = json.dumps(stream)
        self._endpoints: dict[str, str] = {}

    def write(self, endpoint: str, response: requests.Response) -> bool:
        """Write the line for `response`; False (nothing written) where the SDK must."""
        handler = plain_console_handler(self.logger)
        seconds = response.elapsed.total_seconds()
        code = response.status_code
        if handler is None or type(code) is not int or not math.isfinite(seconds):
            return False
        tags = self._endpoints.get(endpoint)
        if tags is None:
            tags = self._endpoints[endpoint] = (
                f',"tags":{{"stream":{self._stream},"endpoint":{json.dumps(endpoint)},'
            )
        status = "succeeded" if code < _FAILED_FROM else "failed"
        message = redaction.redact(
            'METRIC: {"type":"timer","metric":"http_request_duration","value":'
            f'{seconds!r}{tags}"http_status_code":{code},"status":"{status}"}}}}'
        )
        now = time.time_ns()
        stamp = time.strftime(_TIME_FORMAT, time.localtime(now // 1_000_000_000))
        line = f"{stamp},{now % 1_000_000_000 // 1_000_000:03d}{self._head}{message}"
        handler.acquire()
        try:
            # a failure (a closed stderr) goes the SDK's way, which tries again and
            # reports it as logging does
            handler.stream.write(line + handler.terminator)
            handler.flush()
        except Exception:
            return False
        finally:
            handler.release()
        return True


__all__ = ["MetricLine", "plain_console_handler"]
