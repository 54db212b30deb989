"""The fast paths, measured to matter, in one place (docs/performance.md).

Each bypasses a piece of the SDK that costs time per record or per request, and each is
tested to write exactly what the SDK's own path writes (tests/test_fastpath.py):

- `StdoutWriter`: RECORD lines encoded with msgspec straight from the record dict (no
  RecordMessage object and its dict copy per record), buffered and flushed with every
  other message. Saves about a third of the time a record costs in the SDK's writer.
- `FastRecords.TYPE_CONFORMANCE_LEVEL = NONE`: records leave post_process already
  JSON-native and cast to their schema (values.RecordCaster), so the SDK's per-record
  conformance walk over every field is skipped; page-fed streams (messages, Teamwork
  Desk's sideloads) too, where it was half the CPU of a ProProfs run with its messages.
- `settle_environment`: the proxy and CA-bundle environment resolved once per stream
  instead of on every request (12-13% of a run of small pages).
- `read_whole`: an answer's body read in one call instead of `Response.content`'s 10 KiB
  chunks, each a trip through urllib3's streaming reader (2.9 -> 1.6 ms a request for an
  Enneo page of 1000 tickets, 1.18 MB; little on small pages).
- `RequestTemplates` (request_templates.py): a request built from a prepared copy of the
  stream's method and headers, instead of `Session.prepare_request` (cookie jars merged,
  headers merged and validated, a `Request` object, for every page): about 184 -> 77 us a
  request, 4-5% of a ProProfs run of pages of 25 (0.95-0.96x in the same-run A/B). Only
  where no cookie, session parameter, netrc lookup or hook is in play; otherwise the
  SDK's own path.
- `MetricLine` (metric_line.py): the SDK's METRIC line of each request written in one
  call where logging is set up the SDK's plain way, instead of through a LogRecord, the
  record factory and the formatter (about 200 us of CPU a request, run cold between two
  pages).
- `collect_garbage_less_often`: the cyclic garbage collector run every 50,000 new
  containers instead of every 700, and what start-up built left out of its scans (about a
  tenth of the tap's CPU time on pages of 1000 records).
"""

from __future__ import annotations

import atexit
import gc
import os
import sys
import typing as t
import weakref
from datetime import datetime, timezone
from functools import cached_property

import msgspec
import requests
import urllib3.exceptions
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.singerlib import SingerMessageType
from singer_sdk.streams import Stream

from tap_helpdesk.errors import TargetGone, UnreadableValue
from tap_helpdesk.http import HttpStream
from tap_helpdesk.metric_line import MetricLine
from tap_helpdesk.request_templates import RequestTemplates
from tap_helpdesk.values import RecordCaster, record_error

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    from singer_sdk.helpers.types import Context

_encoder = msgspec.json.Encoder(decimal_format="number")
_CHUNK = 1 << 20  # write records out in chunks of about 1 MiB


class StdoutWriter(MsgSpecWriter):
    """The SDK's msgspec writer without a flush per record.

    A STATE message and the records before it always reach the target together, so a
    killed run can never leave a bookmark ahead of the data it vouches for.
    """

    def __init__(self) -> None:
        """A writer with nothing pending, flushed at exit to the stdout of now."""
        super().__init__()
        self._pending = bytearray()
        # where the pending bytes go: stdout as it was when they were written (tests and the
        # SDK's test runner swap sys.stdout; an exit-time flush must not cross streams)
        self._out: t.BinaryIO = sys.stdout.buffer
        atexit.register(self._flush_at_exit)

    @override
    def write_message(self, message: t.Any) -> None:
        if not self._pending:
            self._out = sys.stdout.buffer
        self._pending += self.format_message(message)
        if message.type != SingerMessageType.RECORD or len(self._pending) >= _CHUNK:
            self.flush()

    def write_record(self, stream: str, record: dict[str, t.Any], version: int | None) -> None:
        """A RECORD message straight from the record dict (the per-record hot path)."""
        message: dict[str, t.Any] = {"type": "RECORD", "stream": stream, "record": record}
        if version is not None:
            message["version"] = version
        message["time_extracted"] = datetime.now(timezone.utc)
        if not self._pending:
            self._out = sys.stdout.buffer
        _encoder.encode_into(message, self._pending, -1)
        self._pending += b"\n"
        if len(self._pending) >= _CHUNK:
            self.flush()

    def _flush_at_exit(self) -> None:
        # Records written after the last STATE (a run that ended early): deliver them if
        # their stream is still open; a closed one (a test's capture buffer) takes nothing.
        try:
            self.flush()
        except (ValueError, OSError):
            self._pending.clear()

    def flush(self) -> None:
        """Hand everything written so far to stdout."""
        if self._pending:
            try:
                write_all(self._out, self._pending)
                self._out.flush()
            except BrokenPipeError:
                self._pending.clear()
                raise TargetGone(TARGET_GONE) from None
            self._pending.clear()


#: the line for a target that stopped reading (click would otherwise exit 1 without a word)
TARGET_GONE = (
    "the target stopped reading the tap's output (broken pipe): see the target's own error; "
    "a rerun resumes from the last STATE the target saved"
)


def write_all(out: t.BinaryIO, data: bytes | bytearray) -> None:
    """Write all of `data`, however many calls it takes.

    A signal that interrupts a write blocked on a full pipe (a target reading slower than
    the tap writes) makes CPython's BufferedWriter.write return after the part that was
    written, without an error: the rest of the chunk, a cut record and the records after
    it, would be lost while the next STATE vouches for them.
    """
    with memoryview(data) as view:
        done = 0
        while done < len(view):
            written = out.write(view[done:])
            if not written:
                raise OSError("stdout took no bytes")
            done += written


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


def read_whole(response: requests.Response) -> bytes:
    """`response.content`, read in one call (see the module doc).

    What `Response.content` does, with urllib3's one-call `read` for its chunked
    `stream`, and the same exceptions: requests' `iter_content` maps urllib3's as here.
    Only `_content` and `_content_consumed` are set, as `content` sets them.
    """
    consumed = getattr(response, "_content_consumed", True)  # not in requests' type stubs
    if consumed or response.raw is None or response.status_code == 0:
        return response.content  # read already, or nothing to read: requests knows
    try:
        body = response.raw.read(decode_content=True)
    except urllib3.exceptions.ProtocolError as exc:
        raise requests.exceptions.ChunkedEncodingError(exc) from exc
    except urllib3.exceptions.DecodeError as exc:
        raise requests.exceptions.ContentDecodingError(exc) from exc
    except urllib3.exceptions.ReadTimeoutError as exc:
        raise requests.exceptions.ConnectionError(exc) from exc
    except urllib3.exceptions.SSLError as exc:
        raise requests.exceptions.SSLError(exc) from exc
    response._content = body or b""
    response._content_consumed = True  # type: ignore[attr-defined]
    return response._content


#: Container objects allocated between two runs of the youngest generation's collection
#: (CPython's default is 700). A decoded page of 1000 Enneo tickets is about 6000 dicts
#: and lists, which at 700 ran the collector about nine times a page.
GC_YOUNGEST_THRESHOLD = 50_000


def collect_garbage_less_often() -> None:
    """Run the cyclic garbage collector less often during a sync (a CLI process).

    Records are plain trees of dicts and lists, freed by reference counting as soon as
    they are written; the collector only looks for cycles, and at CPython's thresholds it
    ran every few records, re-scanning what the SDK, the schemas and the catalog hold.
    `gc.freeze` moves what start-up built out of every later scan; the higher threshold
    makes the scans of a page rare. Cycles are still collected, later (memory is measured
    by scripts/benchmark.py --memory-mode).
    """
    gc.freeze()
    _youngest, middle, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNGEST_THRESHOLD, middle, oldest)


class FastRecords(Stream):
    """The per-record hot path, for streams that send (FastRecordStream) and page-fed ones.

    Records reach it JSON-native (decoded JSON, timestamps already ISO strings) and are
    cast to their schema here (values.RecordCaster), so the SDK's per-record type
    conformance would re-walk every field for nothing (tests/test_fastpath.py checks that
    it changes no record of a sync), and they are written without a RecordMessage.
    """

    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

    @cached_property
    def record_label(self) -> str:
        """Who the records come from, for the line on a value that cannot be cast."""
        return str(getattr(self, "provider_label", type(self).__name__))

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
        cast_to_schema(self, record, self.record_label)
        if not self._direct_records:
            super()._write_record_message(record)
            return
        # What the SDK writes, without a RecordMessage object and its dict copy per record.
        writer = t.cast("StdoutWriter", self._tap.message_writer)
        writer.write_record(self.stream_maps[0].stream_alias, record, self._stream_version)
        self.state_manager.is_flushed = False


class FastRecordStream(FastRecords, HttpStream):
    """A stream whose requests and records take the fast paths when nothing needs the SDK's."""

    @property
    @override
    def requests_session(self) -> requests.Session:
        session = super().requests_session
        return settle_environment(session, self.url_base) if session.trust_env else session

    @override
    def read_body(self, response: requests.Response) -> bytes:
        return read_whole(response)

    @cached_property
    def _metric_line(self) -> MetricLine:
        return MetricLine(self.metrics_logger, self.name)

    @override
    def _write_request_duration_log(
        self,
        endpoint: str,
        response: requests.Response,
        context: Context | None,
        extra_tags: dict[str, t.Any] | None,
    ) -> None:
        # The SDK's METRIC line in one write where logging is set up the plain way
        # (metric_line.py); with a context or extra tags, or any other setup, the SDK's.
        if (
            self._LOG_REQUEST_METRICS
            and not context
            and not extra_tags
            and self._metric_line.write(endpoint, response)
        ):
            return
        super()._write_request_duration_log(
            endpoint=endpoint, response=response, context=context, extra_tags=extra_tags
        )

    @cached_property
    def _request_templates(self) -> RequestTemplates:
        return RequestTemplates()

    @override
    def build_prepared_request(self, *args: t.Any, **kwargs: t.Any) -> requests.PreparedRequest:
        headers = kwargs.get("headers")
        if args or not isinstance(headers, dict):
            return super().build_prepared_request(*args, **kwargs)
        # what the SDK's build_prepared_request does before it prepares
        headers.setdefault("User-Agent", self.user_agent)
        session = self.requests_session
        session.auth = self.authenticator
        prepared = self._request_templates.prepare(session, kwargs)
        return prepared if prepared is not None else super().build_prepared_request(**kwargs)


_CASTERS: weakref.WeakKeyDictionary[Stream, RecordCaster] = weakref.WeakKeyDictionary()


def cast_to_schema(stream: Stream, record: dict[str, t.Any], label: str) -> None:
    """Cast a record in place to the types its stream's SCHEMA message declares.

    A lossless cast, say "4484636" -> 4484636; a value that cannot be cast is one line.
    """
    caster = _CASTERS.get(stream)
    if caster is None:
        caster = _CASTERS[stream] = RecordCaster(stream.schema)
    try:
        caster(record)
    except UnreadableValue as problem:
        raise record_error(label, stream.name, record, stream.primary_keys or (), problem) from None
