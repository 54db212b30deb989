"""Keep credential values out of every log line and error message.

Every setting declared `secret=True` is registered here when the tap starts. A log record
factory rewrites each record's message before any handler sees it, so SDK, requests and
urllib3 log lines are covered as well as our own.
"""

from __future__ import annotations

import logging
import threading
import traceback
import typing as t

MASK = "****"
_MIN_SECRET_LENGTH = 4

_lock = threading.Lock()
_secrets: set[str] = set()
_installed = False
#: the record factory installed here (None until a secret is registered)
_factory: t.Callable[..., logging.LogRecord] | None = None
#: the factory it wraps
_wrapped: t.Callable[..., logging.LogRecord] | None = None


def register_secret(value: object) -> None:
    """Remember a credential value so that it is masked wherever it would be printed."""
    if isinstance(value, str) and len(value) >= _MIN_SECRET_LENGTH:
        with _lock:
            _secrets.add(value)
        _install_record_factory()


def redact(text: str) -> str:
    """Return `text` with every registered secret replaced by a mask."""
    if not _secrets:
        return text
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redacted_traceback(exc: BaseException) -> str:
    """The traceback of `exc`, secrets masked (printed at DEBUG only)."""
    return redact("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))


def plain_record_factory() -> bool:
    """Whether log records are made as logging makes them, masked here at most.

    A caller that writes a line itself (metric_line.py) then only has to mask it.
    """
    factory = logging.getLogRecordFactory()
    if factory is logging.LogRecord:
        return True
    return factory is _factory and _wrapped is logging.LogRecord


def _install_record_factory() -> None:
    global _installed, _factory, _wrapped  # noqa: PLW0603
    with _lock:
        if _installed:
            return
        _installed = True
    previous = logging.getLogRecordFactory()

    def redacting_factory(*args: t.Any, **kwargs: t.Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:
            return record
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            # a handler would format the traceback itself, unredacted: format it here
            record.exc_text = redacted_traceback(record.exc_info[1]).rstrip("\n")
        return record

    _factory, _wrapped = redacting_factory, previous
    logging.setLogRecordFactory(redacting_factory)
