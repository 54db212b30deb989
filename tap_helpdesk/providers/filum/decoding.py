"""Filum CX export bodies, decoded as they arrive: CSV (UTF-16LE, BOM, tab-separated) or JSON.

The CSV is documented (provider-docs/filum-tickets-export); the JSON variant's shape is
not: an array or NDJSON, in the charset the response names, is accepted. A body that ends
inside a row (an open quoted field, a short last row without its line break) or holds
nothing at all is not an export of no tickets: it is cut off, and raised as a body error
for the engine to ask again. Anything else that is not an export is one clear line.
"""

from __future__ import annotations

import csv
import io
import json
import typing as t
import zlib
from email.message import Message
from urllib.parse import urlparse

import requests

from tap_helpdesk.client import response_snippet
from tap_helpdesk.errors import ProviderError
from tap_helpdesk.providers.filum.records import FIELDS, LABEL, RecordBuilder, field_name
from tap_helpdesk.surrogates import counts, holds_surrogate_escape, replace_lone

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
    from datetime import tzinfo

    from _typeshed import WriteableBuffer


CHUNK_BYTES = 64 * 1024
#: keys of an error object answered in place of tickets (FastAPI's is `detail`)
ERROR_KEYS = ("detail", "message", "error", "errors")

Record = dict[str, t.Any]


class TruncatedExport(requests.exceptions.ChunkedEncodingError):
    """An export body that ends inside a row: cut off, to be asked for again."""


class EmptyExport(requests.exceptions.ChunkedEncodingError):
    """An export body with nothing in it, not even the CSV header row: asked for again."""


class ExportDecoder:
    """Decodes export answers into records.

    `columns_for(headers)` names the custom-field columns of an export
    (custom_fields_as_columns); `expired(response)` tells whether the answer's
    request_timeout deadline shut its connection.
    """

    def __init__(
        self,
        zone: tzinfo,
        columns_for: Callable[[Sequence[str]], Mapping[str, str]],
        expired: Callable[[requests.Response], bool] = lambda response: False,
    ) -> None:
        """Decode times in `zone` (see the class doc for the callables)."""
        self.zone = zone
        self.columns_for = columns_for
        self.expired = expired

    def records(
        self, response: requests.Response, body: Iterable[bytes] | None = None
    ) -> Iterator[Record]:
        """The records of one answer, CSV or JSON as its content type says.

        `body`: its bytes, when they were read before (`HeldBody`); else they are read from
        the response as they arrive.
        """
        media, charset = media_type(response)
        chunks = response.iter_content(CHUNK_BYTES) if body is None else iter(body)
        if "json" in media:
            rows = self._read_json(response, charset, chunks)
        elif "csv" in media or "tab-separated" in media or media == "text/plain":
            rows = self._read_csv(response, chunks)
        else:
            raise ProviderError(
                LABEL,
                f"expected a CSV or JSON export from {urlparse(response.url).path} but got "
                f"{media} (HTTP {response.status_code}): {response_snippet(response)}; "
                "check filum.api_url",
            )
        # A body without Content-Length ends where the deadline shut its connection: that
        # end (and what it makes of the last row) is a cut, not the end of the export.
        try:
            yield from rows
        except ProviderError:
            if self.expired(response):
                raise TruncatedExport("the export did not end within request_timeout") from None
            raise
        if self.expired(response):
            raise TruncatedExport("the export did not end within request_timeout")

    def header_row(self, response: requests.Response) -> list[str]:
        """The column headers of a CSV answer (its first row only)."""
        text = self._csv_text(response, response.iter_content(CHUNK_BYTES))
        return next(csv.reader(text, delimiter="\t"), [])

    # -- CSV ---------------------------------------------------------------------------

    def _csv_text(self, response: requests.Response, chunks: Iterator[bytes]) -> t.TextIO:
        body = _reader(chunks)
        bom = body.read(2)
        if not bom:
            raise EmptyExport("the export body is empty")
        if bom != b"\xff\xfe":
            raise ProviderError(
                LABEL,
                f"the CSV export from {urlparse(response.url).path} does not start with the "
                f"UTF-16LE byte order mark the API documents (it starts with {bom!r}); "
                "check filum.api_url, or set filum.export_format=json",
            )
        return io.TextIOWrapper(body, encoding="utf-16-le", newline="")

    def _read_csv(self, response: requests.Response, chunks: Iterator[bytes]) -> Iterator[Record]:
        lines = _Lines(self._csv_text(response, chunks))
        reader = csv.reader(lines, delimiter="\t", quotechar='"', strict=True)
        try:
            headers = next(reader, None)
            if headers is None:
                raise EmptyExport("the export body holds only its byte order mark")
            build = RecordBuilder(self.zone, self.columns_for(headers)).csv_rows(headers)
            width = len(headers)
            for number, row in enumerate(reader, start=1):
                if len(row) != width:
                    if not row:
                        continue
                    if lines.unterminated:
                        raise TruncatedExport(
                            f"the last row ({number}) ends after {len(row)} values"
                        )
                    raise ProviderError(
                        LABEL,
                        f"CSV row {number} has {len(row)} values for "
                        f"{width} columns; the export is malformed "
                        "(try filum.export_format=json)",
                    )
                yield build(row)
        except csv.Error as exc:
            if "unexpected end of data" in str(exc):  # EOF inside a quoted value (strict)
                raise TruncatedExport("the export ends inside a quoted value") from None
            raise _not_tsv(exc) from None
        except UnicodeDecodeError as exc:
            if exc.reason == "truncated data":  # an odd byte at the end: a cut code unit
                raise TruncatedExport("the export ends inside a character") from None
            raise _not_tsv(exc) from None

    # -- JSON --------------------------------------------------------------------------

    def _read_json(
        self, response: requests.Response, charset: str | None, chunks: Iterator[bytes]
    ) -> Iterator[Record]:
        body = _reader(chunks)
        head = body.peek(4)[:4]
        if not head:
            raise EmptyExport("the export body is empty")
        codec, bom = _json_codec(head, charset)
        body.read(bom)
        try:
            text = io.TextIOWrapper(body, encoding=codec)
        except LookupError:
            raise ProviderError(
                LABEL, f"the JSON export names an unknown charset {codec!r}"
            ) from None
        builder: RecordBuilder | None = None
        try:
            for value in json_values(text, LABEL, response):
                for item in _records_of(value, response):
                    builder = builder or RecordBuilder(self.zone, self.columns_for(list(item)))
                    yield builder.json_object(item)
        except UnicodeDecodeError as exc:
            if exc.reason == "truncated data":  # an odd byte at the end: a cut code unit
                raise TruncatedExport("the export ends inside a character") from None
            raise _not_json(exc, codec, response) from None
        except json.JSONDecodeError as exc:
            raise _not_json(exc, codec, response) from None


def _not_json(exc: Exception, codec: str, response: requests.Response) -> ProviderError:
    return ProviderError(
        LABEL,
        f"expected a JSON array or NDJSON export in {codec} from "
        f"{urlparse(response.url).path} ({exc}); check filum.api_url",
    )


def _not_tsv(exc: Exception) -> ProviderError:
    return ProviderError(LABEL, f"the CSV export is not valid UTF-16LE tab-separated text ({exc})")


class _Lines:
    """The lines of a text, noting whether the last one read ended with a line break."""

    def __init__(self, text: t.TextIO) -> None:
        self._lines = self._track(text)
        self.last = ""

    def _track(self, text: t.TextIO) -> Iterator[str]:
        for line in text:
            self.last = line
            yield line

    def __iter__(self) -> Iterator[str]:
        return self._lines

    @property
    def unterminated(self) -> bool:
        """The last line read has no line break: the body ended inside it."""
        return not self.last.endswith(("\n", "\r"))


def _is_ticket(item: Mapping[str, t.Any]) -> bool:
    return any(field_name(str(key)) == "ticket_id" for key in item)


def _records_of(value: object, response: requests.Response) -> Iterator[Record]:
    """Ticket objects of one top-level JSON value (an object, or a wrapper around a list)."""
    if isinstance(value, dict):
        lists = [v for v in value.values() if isinstance(v, list)]
        if len(lists) == 1 and not any(field_name(str(k)) in FIELDS for k in value):
            for item in lists[0]:
                if isinstance(item, dict):
                    yield _ticket(item, response)
        else:
            yield _ticket(value, response)
        return
    raise ProviderError(
        LABEL, f"expected ticket objects in the JSON export, got {str(value)[:60]!r}"
    )


def _ticket(item: dict[str, t.Any], response: requests.Response) -> dict[str, t.Any]:
    """A ticket object, or one clear line for what came instead (an error object)."""
    if _is_ticket(item):
        return item
    for key in ERROR_KEYS:
        if item.get(key):
            raise ProviderError(
                LABEL,
                f"the export answered HTTP {response.status_code} with an error instead of "
                f"tickets: {str(item[key])[:200]}",
            )
    raise ProviderError(
        LABEL, f"expected ticket objects in the JSON export, got {str(item)[:60]!r} (no Ticket ID)"
    )


class _Chunks(io.RawIOBase):
    """A response body, read chunk by chunk, as a file (for io.TextIOWrapper)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = chunk
        with memoryview(buffer) as view, view.cast("B") as target:
            size = min(len(target), len(self._pending))
            target[:size] = self._pending[:size]

        self._pending = self._pending[size:]
        return size


def _reader(chunks: Iterator[bytes]) -> io.BufferedReader:
    return io.BufferedReader(_Chunks(chunks), CHUNK_BYTES)


class HeldBody:
    """An answer's body read ahead of its turn, kept compressed until it is read.

    `tee` hands the body's chunks on as they arrive and keeps them; `chunks` gives them
    back. A held export is up to 5000 rows of UTF-16 text (a few MB); compressed at zlib's
    fastest level it takes a fraction of that.
    """

    def __init__(self) -> None:
        """Nothing kept yet."""
        self._compressor = zlib.compressobj(1)
        self._kept: list[bytes] = []
        self.size = 0

    def tee(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        """Yield `chunks`, keeping each."""
        for chunk in chunks:
            self.size += len(chunk)
            self._kept.append(self._compressor.compress(chunk))
            yield chunk
        self._kept.append(self._compressor.flush())

    def chunks(self) -> Iterator[bytes]:
        """The body kept, in pieces of about CHUNK_BYTES."""
        decompressor = zlib.decompressobj()
        for block in self._kept:
            data = decompressor.decompress(block, CHUNK_BYTES)
            while data:
                yield data
                data = decompressor.decompress(decompressor.unconsumed_tail, CHUNK_BYTES)
        tail = decompressor.flush()
        if tail:
            yield tail

    @property
    def kept(self) -> int:
        """Bytes kept (compressed)."""
        return sum(len(block) for block in self._kept)


def media_type(response: requests.Response) -> tuple[str, str | None]:
    """(media type in lower case, charset) of an answer."""
    message = Message()
    message["Content-Type"] = response.headers.get("Content-Type", "")
    charset = message.get_param("charset")
    return message.get_content_type().lower(), charset if isinstance(charset, str) else None


def _json_codec(head: bytes, charset: str | None) -> tuple[str, int]:
    """(codec, BOM length) for a JSON body: its BOM, else its charset, else its bytes."""
    for bom, codec in (
        (b"\xef\xbb\xbf", "utf-8"),
        (b"\xff\xfe", "utf-16-le"),
        (b"\xfe\xff", "utf-16-be"),
    ):
        if head.startswith(bom):
            return codec, len(bom)
    if charset:
        return charset, 0
    if len(head) >= 2 and head[1] == 0:
        return "utf-16-le", 0
    if len(head) >= 2 and head[0] == 0:
        return "utf-16-be", 0
    return "utf-8", 0


def json_values(text: t.TextIO, label: str = LABEL, answer: object = None) -> Iterator[t.Any]:
    """The top-level values of a JSON array or of NDJSON, decoded as the text arrives.

    An array must end with its closing bracket: one that stops between two objects was
    cut off, and is an error rather than a shorter export. Once the text shows a
    surrogate escape, each value's lone surrogates become U+FFFD (tap_helpdesk.surrogates),
    counted unless `answer` (the response the text is of) was read before.
    """
    decoder = json.JSONDecoder()
    buffer, position, finished = "", 0, False
    escapes = counted = False
    array: bool | None = None
    closed = False
    while True:
        while position < len(buffer) and buffer[position] in " \t\r\n,[]\ufeff":
            if array is None and buffer[position] not in " \t\r\n\ufeff":
                array = buffer[position] == "["
            closed = closed or buffer[position] == "]"
            position += 1
        if position < len(buffer):
            array = False if array is None else array
            try:
                value, position = decoder.raw_decode(buffer, position)
            except json.JSONDecodeError:
                if finished:
                    raise
            else:
                yield replace_lone(value, label, counted=counted) if escapes else value
                continue
        if finished:
            if array and not closed:
                raise json.JSONDecodeError("the array is not closed", buffer, len(buffer))
            return
        chunk = text.read(CHUNK_BYTES)
        finished = not chunk
        buffer, position = buffer[position:] + chunk, 0
        if not escapes and holds_surrogate_escape(buffer):
            escapes, counted = True, counts(answer)
