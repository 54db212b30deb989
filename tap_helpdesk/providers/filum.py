"""Filum CX ticket export.

Docs: provider-docs/filum-tickets-export.txt; provider-notes.md section 1.
POST {api_url}/external/tickets/export?start_date=YYYY-MM-DD&end_date=YYYY-MM-DD answers with
every ticket of that day range at once: there is no paging. An answer holds at most 5000
rows, and a full one may have been cut with no sign; a range of more than 90 days is
silently shortened. So the range is walked in windows (tap_helpdesk.windows) of at most 90
days, sized from the rows per day seen so far, and a window that comes back with 5000 rows
is asked for again in parts (around its busiest day, or in halves) down to one day, then
by status, then by priority, until no part is at the cap.

The docs do not say which date the range applies to (creation or update), so the bookmark
is not a record time: it is the last day fully exported, and each run starts lookback_days
before it. The CSV is UTF-16LE with a BOM, tab-separated, quoted where needed; it is decoded
as it arrives. The JSON variant's shape is not documented: an array or NDJSON, in the
charset the response names, is accepted.
"""

from __future__ import annotations

import csv
import functools
import io
import itertools
import json
import math
import re
import sys
import time as time_module
import typing as t
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from email.message import Message
from urllib.parse import urlparse

import msgspec

from tap_helpdesk.client import BODY_ERRORS, HelpdeskStream, response_snippet
from tap_helpdesk.errors import ProviderError
from tap_helpdesk.schemas import load_schema
from tap_helpdesk.timestamps import NaiveToUtc, parse_datetime, to_utc
from tap_helpdesk.windows import (
    Window,
    WindowPlanner,
    WindowWalk,
    halves,
    isolate,
    split_by_density,
    split_filter,
)

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence
    from datetime import tzinfo

    import requests
    from singer_sdk.helpers.types import Context

LABEL = "Filum CX"
ROW_CAP = 5000  # "Each export request can include up to 5000 rows of data."
MAX_WINDOW_DAYS = 90  # a longer range is silently shortened to end_date - 90 days
#: Rows to plan a window for where the density is estimated (95% of the cap): a
#: busier stretch costs one more request, never data.
TARGET_ROWS = 4750
STATUSES = ("open", "pending", "closed", "deleted")
PRIORITIES = ("low", "medium", "high", "urgent")
ACCEPT = {"csv": "text/csv", "json": "application/json"}
CHUNK_BYTES = 64 * 1024
#: The documented default columns and the fields they become.
COLUMNS = {
    "Ticket ID": "ticket_id",
    "Created at": "created_at",
    "Updated at": "updated_at",
    "Customer name": "customer_name",
    "Customer phone": "customer_phone",
    "Customer email": "customer_email",
    "Subject": "subject",
    "Description": "description",
    "Status": "status",
    "Priority": "priority",
    "Due Date": "due_date",
    "Assignee Name": "assignee_name",
    "Assignee Email": "assignee_email",
    "Creator Name": "creator_name",
    "Creator Email": "creator_email",
    "Installed Source ID": "installed_source_id",
    "Installed Source Name": "installed_source_name",
}
FIELDS = frozenset(COLUMNS.values())
INTEGER_FIELDS = frozenset({"ticket_id", "installed_source_id"})
TIMESTAMP_FIELDS = ("created_at", "updated_at", "due_date")
#: The fields one of which is the (undocumented) date the export range filters on.
DAY_FIELDS = ("created_at", "updated_at")
CUSTOM_FIELDS = "custom_fields"
SCHEMA_FIELDS = frozenset(load_schema("filum_tickets")["properties"])
_UNSEEN = object()

# Descriptions may be long; the csv module's default limit is 128 KiB per value.
csv.field_size_limit(max(csv.field_size_limit(), 16 * 1024 * 1024))

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NOT_WORD = re.compile(r"[^0-9a-z]+")
_json_text = msgspec.json.Encoder()


def field_name(header: str) -> str:
    """A column header as an ASCII snake_case name: `Ticket ID` -> `ticket_id`.

    `ticketId` and `ticket_id` give the same name, so a JSON export keyed either way maps
    onto the same fields; `Kênh liên hệ` -> `kenh_lien_he`.
    """
    text = unicodedata.normalize("NFKD", header.replace("đ", "d").replace("Đ", "D"))
    text = "".join(c for c in text if not unicodedata.combining(c))
    return _NOT_WORD.sub("_", _CAMEL.sub("_", text).lower()).strip("_")


def custom_columns(headers: Iterable[str]) -> dict[str, str]:
    """The custom-field headers of an export -> top-level column names that clash with nothing.

    The first header naming a default field is that field; any other header is a custom
    field (a workspace may well have one called "Status"). A column name taken by a
    default field, by `custom_fields` or by an earlier custom field gets a `custom_` prefix
    (and a number if that is taken too).
    """
    defaults: set[str] = set()
    taken = set(FIELDS) | {CUSTOM_FIELDS}
    columns: dict[str, str] = {}
    for header in headers:
        base = field_name(header)
        if base in FIELDS and base not in defaults:
            defaults.add(base)
            continue
        if header in columns:
            continue
        name = base or "custom_field"
        if name in taken:
            name = f"custom_{name}"
        candidate, number = name, 2
        while candidate in taken:
            candidate, number = f"{name}_{number}", number + 1
        taken.add(candidate)
        columns[header] = candidate
    return columns


def _text(value: t.Any) -> str | None:
    """A text value; empty becomes null, JSON numbers and booleans read as the CSV shows them."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    return _json_text.encode(value).decode()


@dataclass
class ExportAnswer:
    """What one export answer held: its row count, and what tells how to split it if capped.

    The records themselves are emitted as they are read, never held; of each, only its
    status, priority and two times are kept (references to strings it already has), and
    counted only if the answer turns out capped.
    """

    rows: int = 0
    _statuses: list[str | None] = field(default_factory=list)
    _priorities: list[str | None] = field(default_factory=list)
    _times: dict[str, list[str | None]] = field(
        default_factory=lambda: {name: [] for name in DAY_FIELDS}
    )

    def count(self, record: dict[str, t.Any]) -> None:
        """Note a record's status, priority and times."""
        self.rows += 1
        self._statuses.append(record["status"])
        self._priorities.append(record["priority"])
        for name, times in self._times.items():
            times.append(record[name])

    def reset(self) -> None:
        """Forget what was noted (an answer cut off mid-way is read again)."""
        self.rows = 0
        for values in (self._statuses, self._priorities, *self._times.values()):
            values.clear()

    @property
    def statuses(self) -> Counter[str]:
        """Rows per status (lower case)."""
        return Counter(value.lower() for value in self._statuses if value)

    @property
    def priorities(self) -> Counter[str]:
        """Rows per priority (lower case)."""
        return Counter(value.lower() for value in self._priorities if value)

    @property
    def without_priority(self) -> int:
        """Rows with no priority (which no priority filter selects)."""
        return sum(1 for value in self._priorities if not value)

    def hours(self, name: str) -> Counter[str]:
        """Rows per UTC hour ("2024-03-05T07") of one of DAY_FIELDS."""
        return Counter(value[:13] for value in self._times[name] if value)


class RecentTickets:
    """Tickets emitted whose day may still come up in the walk, to emit each version once.

    A ticket comes back unchanged when the parts of a capped window, or the retry of an
    answer cut off mid-way, are read after the rows already emitted. The walk goes forward
    in time and a ticket's export day is that of the date the API filters on (created_at
    or updated_at), so once the walk has passed it the ticket cannot come back and is
    forgotten: memory stays within about one answer. While that date is not known, a
    ticket is kept until the walk has passed both.
    """

    def __init__(self) -> None:
        #: ticket_id -> (updated_at, created_at) of the version emitted
        self._versions: dict[t.Any, tuple[t.Any, t.Any]] = {}

    def is_new(self, record: dict[str, t.Any]) -> bool:
        """Whether this version of the ticket has not been emitted (and note it as emitted)."""
        key, version = record["ticket_id"], record["updated_at"]
        known = self._versions.get(key)
        if known is not None and known[0] == version:
            return False
        self._versions[key] = (version, record["created_at"])
        return True

    def forget_before(self, moment: str, filter_field: str | None = None) -> None:
        """Forget tickets whose export day is before `moment` (ISO 8601 UTC)."""
        versions = self._versions
        if filter_field == "created_at":
            old = [key for key, (_u, created) in versions.items() if (created or "") < moment]
        elif filter_field == "updated_at":
            old = [key for key, (updated, _c) in versions.items() if (updated or "") < moment]
        else:
            old = [
                key
                for key, (updated, created) in versions.items()
                if max(created or "", updated or "") < moment
            ]
        for key in old:
            del versions[key]

    def __len__(self) -> int:
        return len(self._versions)


Convert = t.Callable[[t.Any], t.Any]


class RecordBuilder:
    """Turns the rows of one export into records; each header is classified once.

    A column is (header, field, convert): a default column fills its snake_case field, a
    custom-field column (field None) goes into custom_fields and, when it has one, into its
    own top-level column.
    """

    def __init__(self, zone: tzinfo, columns: Mapping[str, str]) -> None:
        self.zone = zone
        self.convert_time = NaiveToUtc(zone)
        self.columns = columns
        self.specs: dict[str, tuple[str, str | None, Convert]] = {}
        self.layouts: dict[tuple[str, ...], list[tuple[str, str | None, Convert]]] = {}
        self.template: dict[str, t.Any] = dict.fromkeys(COLUMNS.values())

    def spec(self, header: str) -> tuple[str, str | None, Convert]:
        """(header, field, convert) of a column."""
        known = self.specs.get(header)
        if known is None:
            name = field_name(header)
            if name in INTEGER_FIELDS:
                known = (header, name, functools.partial(_integer, header))
            elif name in TIMESTAMP_FIELDS:
                known = (header, name, self.timestamp)
            elif name in FIELDS:
                known = (header, name, _text)
            elif name == CUSTOM_FIELDS:  # a JSON export may nest them
                known = (header, None, _nested)
            else:
                known = (header, None, _text)
            self.specs[header] = known
        return known

    def csv_rows(self, headers: Sequence[str]) -> t.Callable[[list[str]], dict[str, t.Any]]:
        """A function from one CSV row (values in `headers` order) to its record.

        CSV values are always text, so an empty one is simply `value or None`; the columns
        are sorted by kind once, and each row is one pass per kind.
        """
        texts: list[tuple[int, str]] = []
        stamps: list[tuple[int, str]] = []
        integers: list[tuple[int, str, str]] = []
        others: list[tuple[int, str, Convert]] = []
        customs: list[tuple[int, str]] = []
        columns: list[tuple[int, str]] = []
        for index, (header, name, convert) in enumerate(self.layout(headers)):
            if name is None:
                customs.append((index, header))
                if header in self.columns:
                    columns.append((index, self.columns[header]))
            elif convert is _text:
                texts.append((index, name))
            elif name in TIMESTAMP_FIELDS:
                stamps.append((index, name))
            elif name in INTEGER_FIELDS:
                integers.append((index, name, header))
            else:
                others.append((index, name, convert))
        template, convert_fields = self.template, self.convert_time.convert_fields
        stamp_names = tuple(name for _index, name in stamps)

        def build(values: list[str]) -> dict[str, t.Any]:
            record = dict(template)
            for index, name in texts:
                record[name] = values[index] or None
            for index, name in stamps:
                record[name] = values[index] or None
            convert_fields(record, stamp_names)
            for index, name, header in integers:
                value = values[index]
                digits = value.isdigit() and value.isascii()
                record[name] = int(value) if digits else _integer(header, value)
            for index, name, convert in others:
                record[name] = convert(values[index])
            record[CUSTOM_FIELDS] = {header: values[index] or None for index, header in customs}
            for index, name in columns:
                record[name] = values[index] or None
            return record

        return build

    def layout(self, headers: Sequence[str]) -> list[tuple[str, str | None, Convert]]:
        """The columns of a header row; a second header naming the same field is custom."""
        specs, used = [], set()
        for header in headers:
            spec = self.spec(header)
            if spec[1] in used:  # a second "Status": a custom field of that name
                spec = (header, None, _text)
            used.add(spec[1])
            specs.append(spec)
        return specs

    def json_object(self, item: Mapping[str, t.Any]) -> dict[str, t.Any]:
        """A record from one JSON object (keyed by header or by field name)."""
        keys = tuple(item)
        specs = self.layouts.get(keys)
        if specs is None:
            specs = self.layouts[keys] = self.layout(keys)
        record = dict(self.template)
        custom: dict[str, str | None] = {}
        for (header, name, convert), value in zip(specs, item.values(), strict=True):
            if name is not None:
                record[name] = convert(value)
            elif convert is _nested and isinstance(value, dict):
                for nested_key, nested in value.items():
                    self.custom(record, custom, str(nested_key), nested)
            else:
                self.custom(record, custom, header, value)
        record[CUSTOM_FIELDS] = custom
        return record

    def custom(
        self, record: dict[str, t.Any], custom: dict[str, str | None], header: str, value: t.Any
    ) -> None:
        """A workspace custom field: into custom_fields, and its own column when it has one."""
        custom[header] = text = _text(value)
        if header in self.columns:
            record[self.columns[header]] = text

    def timestamp(self, value: t.Any) -> str | None:
        """A naive UTC+7 (filum.timezone) time as ISO 8601 UTC."""
        if isinstance(value, str):
            return self.convert_time(value)  # "" -> None; other forms take the general path
        if value is None:
            return None
        return to_utc(_text(value), self.zone)


def _nested(value: t.Any) -> t.Any:  # marks a column of nested custom fields
    return value


def _integer(header: str, value: t.Any) -> int | None:
    """An id column: an integer in the JSON export, digits in the CSV."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise ProviderError(
            LABEL, f"column {header!r} holds {str(value)[:40]!r}, not an integer id"
        ) from None


class _Chunks(io.RawIOBase):
    """A response body, read chunk by chunk, as a file (for io.TextIOWrapper)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    @override
    def readable(self) -> bool:
        return True

    @override
    def readinto(self, buffer: t.Any) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = chunk
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def _media_type(response: requests.Response) -> tuple[str, str | None]:
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


def json_values(text: t.TextIO) -> Iterator[t.Any]:
    """The top-level values of a JSON array or of NDJSON, decoded as the text arrives."""
    decoder = json.JSONDecoder()
    buffer, position, finished = "", 0, False
    while True:
        while position < len(buffer) and buffer[position] in " \t\r\n,[]\ufeff":
            position += 1
        if position < len(buffer):
            try:
                value, position = decoder.raw_decode(buffer, position)
            except json.JSONDecodeError:
                if finished:
                    raise
            else:
                yield value
                continue
        if finished:
            return
        chunk = text.read(CHUNK_BYTES)
        finished = not chunk
        buffer, position = buffer[position:] + chunk, 0


class FilumTicketsStream(HelpdeskStream):
    """Tickets: POST /external/tickets/export, walked by day windows."""

    provider = "filum"
    provider_label = LABEL
    credential_settings = ("api_token", "organization_id")
    name = "filum_tickets"
    path = "/external/tickets/export"
    http_method = "POST"
    primary_keys = ("ticket_id",)
    # The bookmark is the last fully exported day, not a value of updated_at: the API
    # filters by a date it does not name (see the module docstring and the README).
    replication_key = "updated_at"
    is_sorted = False
    timestamp_fields = TIMESTAMP_FIELDS

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        #: custom-field header -> top-level column, as named from the export headers
        self._column_names: dict[str, str] = {}
        #: the date the export range applies to, once an answer has shown it
        self.filter_field: str | None = None

    # -- settings and schema -----------------------------------------------------------

    @property
    def export_format(self) -> str:
        """csv (the documented default) or json."""
        return str(self.provider_config.get("export_format") or "csv")

    @property
    @override
    def http_headers(self) -> dict[str, str]:
        headers = super().http_headers
        headers.update(
            {
                "Accept": ACCEPT[self.export_format],
                "authorization": f"Bearer {self.provider_config['api_token']}",
                "organization-id": str(self.provider_config["organization_id"]),
                "auth-type": "token",
            }
        )
        return headers

    @property
    @override
    def schema(self) -> dict[str, t.Any]:
        if self._input_schema is not None:  # a catalog already holds the discovered columns
            return self._input_schema
        if self._schema is None:
            schema = load_schema(self.name)
            if self.provider_config.get("custom_fields_as_columns"):
                for header, column in custom_columns(self.sample_headers()).items():
                    schema["properties"][column] = {
                        "type": ["string", "null"],
                        "description": f"Custom field {header!r} (also in custom_fields).",
                    }
            self._schema = schema
        return self._schema

    def sample_headers(self) -> list[str]:
        """The column headers of a one-day CSV export (its header row only)."""
        today = datetime.now(self.zone).date()
        prepared = self.prepare_request(None, Window(today, today))
        prepared.headers["Accept"] = ACCEPT["csv"]
        send = self.request_decorator(t.cast("t.Any", self._export_headers))
        headers: list[str] = send(prepared)
        return headers

    def custom_column_map(self) -> dict[str, str]:
        """Custom-field header -> column, for the columns the (catalog) schema holds."""
        if not self.provider_config.get("custom_fields_as_columns"):
            return {}
        wanted = set(self.effective_schema.get("properties", {})) - SCHEMA_FIELDS
        return {h: c for h, c in self._column_names.items() if c in wanted}

    @override
    def get_url_params(
        self,
        context: Context | None,
        next_page_token: Window[date] | None,
    ) -> dict[str, t.Any]:
        window = next_page_token
        if window is None:  # pragma: no cover - every request names its window
            return {}
        params: dict[str, t.Any] = {
            "start_date": window.start.isoformat(),
            "end_date": window.end.isoformat(),
        }
        for name, values in window.filters:
            params[name] = list(values)  # sent as repeated keys: statuses=open&statuses=pending
        return params

    @override
    def get_new_paginator(self) -> None:
        return None  # no paging: see get_records

    # -- the walk ----------------------------------------------------------------------

    def export_range(self, context: Context | None) -> tuple[date, date, date]:
        """(first day, last day, today) in the Filum zone; days before today are over."""
        today = datetime.now(self.zone).date()
        first = self.config_start_date().astimezone(self.zone).date()
        bookmark = self.bookmark_day(context)
        if bookmark is not None:
            first = max(first, bookmark - timedelta(days=self.lookback_days))
        end = self.sync_end()
        last = min(end.astimezone(self.zone).date(), today) if end else today
        return first, last, today

    @property
    def lookback_days(self) -> int:
        """Whole days re-read before the bookmark (the setting's default when unset)."""
        value = self.config.get("lookback_days")
        if value is None:  # the SDK leaves top-level defaults out of self.config here
            value = self._tap.config_jsonschema["properties"]["lookback_days"].get("default", 0)
        return math.ceil(float(value))

    def bookmark_day(self, context: Context | None) -> date | None:
        """The last fully exported day, from the state."""
        value = self.get_starting_replication_key_value(context)
        if not value:
            return None
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            return parse_datetime(str(value), self.zone).astimezone(self.zone).date()

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        first, last, today = self.export_range(context)
        self.logger.info("%s: exporting days %s..%s (days in %s)", LABEL, first, last, self.zone)
        planner = WindowPlanner(first, last, MAX_WINDOW_DAYS, TARGET_ROWS)
        walk: WindowWalk[date, ExportAnswer] = WindowWalk(
            planner, is_truncated=lambda answer: answer.rows >= ROW_CAP, refine=self.refine
        )
        recent = RecentTickets()
        open_export = self.request_decorator(t.cast("t.Any", self._open_export))
        with self.get_http_request_counter() as counter:
            for window in walk.requests():
                recent.forget_before(self.day_start_utc(window.start), self.filter_field)
                answer = ExportAnswer()
                counter.increment()
                # Rows are emitted as they arrive: a capped answer's rows are real tickets
                # too, and its parts bring them again, unchanged, to be dropped here.
                for record in self.export(window, answer, open_export, context):
                    if recent.is_new(record):
                        yield record
                self.logger.info("%s: %s -> %d rows", LABEL, self.describe(window), answer.rows)
                self.learn_filter_field(window, answer)
                complete = walk.settle(window, answer)
                if complete is None:
                    continue  # capped: its parts come next
                if not complete:
                    self.cap_exceeded(window, answer)
                planner.observe(window, answer.rows)
                self.advance_bookmark(context, walk.done_through, first, today)

    def day_start_utc(self, day: date) -> str:
        """The first moment of a Filum-zone day, as ISO 8601 UTC text."""
        return datetime.combine(day, time(), tzinfo=self.zone).astimezone(timezone.utc).isoformat()

    def refine(self, window: Window[date], answer: ExportAnswer) -> list[Window[date]] | None:
        """A capped window in parts sized from its rows per day (around its busiest day or in
        halves when they do not tell); one day by statuses, then by priorities."""
        days = self.rows_per_day(window, answer)
        parts = split_by_density(window, days, capacity=ROW_CAP - 1, target=TARGET_ROWS)
        if parts:
            return parts
        busiest = max(days, key=days.__getitem__) if days else None
        if busiest is not None and days[busiest] * 2 < answer.rows:
            busiest = None
        parts = (isolate(window, busiest) if busiest else None) or halves(window)
        if parts:
            return parts
        if "priorities" not in window.filter_names:
            statuses = _values(STATUSES, answer.statuses)
            parts = split_filter(window, "statuses", statuses, answer.statuses)
            if parts:
                return parts
            if answer.without_priority:  # no priority filter would select these tickets
                return None
        priorities = _values(PRIORITIES, answer.priorities)
        return split_filter(window, "priorities", priorities, answer.priorities)

    def rows_per_day(self, window: Window[date], answer: ExportAnswer) -> Counter[date]:
        """Rows per Filum-zone day of a capped answer, or nothing for a one-day window.

        Days are read from the date the API filters on: the one learned, else whichever of
        created_at and updated_at falls inside the window for every row.
        """
        if window.start == window.end:
            return Counter()
        for name in (self.filter_field,) if self.filter_field else DAY_FIELDS:
            days = self.days_of(answer, name)
            if days and window.start <= min(days) and max(days) <= window.end:
                return days
        return Counter()

    def days_of(self, answer: ExportAnswer, name: str) -> Counter[date]:
        """Rows per Filum-zone day of one of the answer's DAY_FIELDS."""
        days: Counter[date] = Counter()
        for hour, rows in answer.hours(name).items():
            moment = datetime.fromisoformat(f"{hour}:00:00+00:00")
            days[moment.astimezone(self.zone).date()] += rows
        return days

    def learn_filter_field(self, window: Window[date], answer: ExportAnswer) -> None:
        """Which date the export range applies to (undocumented), once an answer shows it:
        every row's created_at falls inside the window and some updated_at does not, or the
        reverse. It only decides how soon exported tickets are forgotten."""
        if self.filter_field is not None or not answer.rows:
            return
        spans = {name: self.days_of(answer, name) for name in DAY_FIELDS}
        if not all(spans.values()):
            return
        inside = [
            name
            for name, days in spans.items()
            if window.start <= min(days) and max(days) <= window.end
        ]
        if len(inside) == 1:
            self.filter_field = inside[0]
            self.logger.info(
                "%s: the export range applies to %s (all %d rows of %s have it inside)",
                LABEL,
                self.filter_field,
                answer.rows,
                self.describe(window),
            )

    def cap_exceeded(self, window: Window[date], page: ExportAnswer) -> None:
        """A one-day window still at the cap after every split: an error, or a warning."""
        why = (
            f"; {page.without_priority} of them have no priority, which no filter selects"
            if page.without_priority and "priorities" not in window.filter_names
            else ""
        )
        message = (
            f"{self.describe(window)} still returns {ROW_CAP} rows, the export cap, after "
            f"splitting by day, status and priority{why}: rows beyond the cap cannot be read"
        )
        if self.provider_config.get("on_unsplittable_cap") == "warn":
            self.logger.warning(
                "%s: %s; continuing (filum.on_unsplittable_cap=warn)", LABEL, message
            )
            return
        raise ProviderError(
            LABEL, f"{message}. Set filum.on_unsplittable_cap=warn to accept these {ROW_CAP}."
        )

    @staticmethod
    def describe(window: Window[date]) -> str:
        """`day 2024-11-11 (statuses=open, priorities=high)` or `days 2024-01-01..2024-03-30`."""
        text = (
            f"day {window.start}"
            if window.start == window.end
            else f"days {window.start}..{window.end}"
        )
        if window.filters:
            text += " (" + ", ".join(f"{n}={','.join(v)}" for n, v in window.filters) + ")"
        return text

    def advance_bookmark(
        self, context: Context | None, done_through: date | None, first: date, today: date
    ) -> None:
        """Bookmark the last day fully exported: walked, and over before the run began."""
        if done_through is None:
            return
        day = min(done_through, today - timedelta(days=1))
        state = self.get_context_state(context)
        current = state.get("replication_key_value")
        if day < first or (current and str(current) >= day.isoformat()):
            return
        state["replication_key"] = self.replication_key
        state["replication_key_value"] = day.isoformat()
        self.state_manager.is_flushed = False
        self._write_state_message()

    @override
    def _increment_stream_state(
        self,
        latest_record: dict[str, t.Any],
        *,
        context: Context | None = None,
    ) -> None:
        return  # bookmarks advance per exported day (advance_bookmark), not per record

    @override
    def post_process(
        self,
        row: dict[str, t.Any],
        context: Context | None = None,
    ) -> dict[str, t.Any] | None:
        return row  # built in final form by RecordBuilder

    # -- one request -------------------------------------------------------------------

    def _send(self, prepared: requests.PreparedRequest) -> requests.Response:
        response = self.requests_session.send(
            prepared, stream=True, timeout=self.timeout, allow_redirects=self.allow_redirects
        )
        self._write_request_duration_log(
            endpoint=self.path, response=response, context=None, extra_tags=None
        )
        return response

    def _open_export(self, prepared: requests.PreparedRequest) -> requests.Response:
        """Send one export request; its body is left to be streamed."""
        response = self._send(prepared)
        try:
            self.validate_response(response)
        except BaseException:
            response.close()
            raise
        return response

    def export(
        self,
        window: Window[date],
        answer: ExportAnswer,
        open_export: t.Callable[[requests.PreparedRequest], requests.Response],
        context: Context | None,
    ) -> Iterator[dict[str, t.Any]]:
        """The records of one window's export, as the body arrives; counted in `answer`.

        A body cut off mid-way is asked for again from the start (`answer` counts the last
        read only); the caller drops the records it already has.
        """
        for attempt in itertools.count(1):
            response = open_export(self.prepare_request(context, window))
            answer.reset()
            try:
                yield from self.read_answer(response, answer)
                return
            except BODY_ERRORS as exc:
                if attempt > self.max_retries:
                    raise ProviderError(
                        LABEL,
                        f"the export of {self.describe(window)} was cut off {attempt} times "
                        f"({type(exc).__name__}); raise max_retries or try again later",
                    ) from None
                wait = self.retry_delay(exc, attempt)
                self.logger.warning(
                    "%s: the export of %s was cut off (%s), retry %d of %d in %.1f s",
                    LABEL,
                    self.describe(window),
                    type(exc).__name__,
                    attempt,
                    self.max_retries,
                    wait,
                )
                time_module.sleep(wait)
            finally:
                response.close()

    def _export_headers(self, prepared: requests.PreparedRequest) -> list[str]:
        response = self._send(prepared)
        try:
            self.validate_response(response)
            text = self._csv_text(response)
            return next(csv.reader(text, delimiter="\t"), []) if text else []
        finally:
            response.close()

    def read_answer(
        self, response: requests.Response, answer: ExportAnswer
    ) -> Iterator[dict[str, t.Any]]:
        """Parse one export answer, CSV or JSON as its content type says, as it arrives."""
        media, charset = _media_type(response)
        if "json" in media:
            records = self._read_json(response, charset)
        elif "csv" in media or "tab-separated" in media or media == "text/plain":
            records = self._read_csv(response)
        else:
            raise ProviderError(
                LABEL,
                f"expected a CSV or JSON export from {urlparse(response.url).path} but got "
                f"{media} (HTTP {response.status_code}): {response_snippet(response)}; "
                "check filum.api_url",
            )
        count = answer.count
        for record in records:
            count(record)
            yield record

    def _builder(self, headers: Sequence[str]) -> RecordBuilder:
        if self.provider_config.get("custom_fields_as_columns"):
            self._column_names.update(custom_columns(headers))
        return RecordBuilder(self.zone, self.custom_column_map())

    def _chunks(self, response: requests.Response) -> io.BufferedReader:
        return io.BufferedReader(_Chunks(response.iter_content(CHUNK_BYTES)), CHUNK_BYTES)

    def _csv_text(self, response: requests.Response) -> t.TextIO | None:
        body = self._chunks(response)
        bom = body.read(2)
        if not bom:
            return None
        if bom != b"\xff\xfe":
            raise ProviderError(
                LABEL,
                f"the CSV export from {urlparse(response.url).path} does not start with the "
                f"UTF-16LE byte order mark the API documents (it starts with {bom!r}); "
                "check filum.api_url, or set filum.export_format=json",
            )
        return io.TextIOWrapper(body, encoding="utf-16-le", newline="")

    def _read_csv(self, response: requests.Response) -> Iterator[dict[str, t.Any]]:
        text = self._csv_text(response)
        if text is None:
            return
        reader = csv.reader(text, delimiter="\t", quotechar='"')
        try:
            headers = next(reader, [])
            build = self._builder(headers).csv_rows(headers)
            width = len(headers)
            for number, row in enumerate(reader, start=1):
                if len(row) != width:
                    if not row:
                        continue
                    raise ProviderError(
                        LABEL,
                        f"CSV row {number} has {len(row)} values for "
                        f"{width} columns; the export is malformed "
                        "(try filum.export_format=json)",
                    )
                yield build(row)
        except (UnicodeDecodeError, csv.Error) as exc:
            raise ProviderError(
                LABEL, f"the CSV export is not valid UTF-16LE tab-separated text ({exc})"
            ) from None

    def _read_json(
        self, response: requests.Response, charset: str | None
    ) -> Iterator[dict[str, t.Any]]:
        body = self._chunks(response)
        codec, bom = _json_codec(body.peek(4)[:4], charset)
        body.read(bom)
        try:
            text = io.TextIOWrapper(body, encoding=codec)
        except LookupError:
            raise ProviderError(
                LABEL, f"the JSON export names an unknown charset {codec!r}"
            ) from None
        builder: RecordBuilder | None = None
        try:
            for value in json_values(text):
                for item in _records_of(value):
                    builder = builder or self._builder(list(item))
                    yield builder.json_object(item)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ProviderError(
                LABEL,
                f"expected a JSON array or NDJSON export in {codec} from "
                f"{urlparse(response.url).path} ({exc}); check filum.api_url",
            ) from None

    # -- errors ------------------------------------------------------------------------

    @override
    def validate_response(self, response: requests.Response) -> None:
        status = response.status_code
        if status == 401:
            raise ProviderError(
                LABEL,
                f"authentication failed (HTTP 401: {self.provider_error_text(response)}): "
                "check filum.api_token",
            )
        if status == 403:
            raise ProviderError(
                LABEL,
                f"access denied (HTTP 403: {self.provider_error_text(response)}): check "
                "filum.organization_id, and that filum.api_token belongs to that organization",
            )
        super().validate_response(response)

    @override
    def provider_error_text(self, response: requests.Response) -> str:
        try:
            body = msgspec.json.decode(response.content)
        except msgspec.DecodeError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("detail"), list):
            return "; ".join(_validation_error(item) for item in body["detail"])
        return super().provider_error_text(response)


def _values(documented: Sequence[str], seen: Counter[str]) -> list[str]:
    """The documented filter values plus any other value the answer showed."""
    return list(dict.fromkeys([*documented, *seen]))


def _records_of(value: t.Any) -> Iterator[dict[str, t.Any]]:
    """Ticket objects of one top-level JSON value (an object, or a wrapper around a list)."""
    if isinstance(value, dict):
        lists = [v for v in value.values() if isinstance(v, list)]
        if len(lists) == 1 and not any(field_name(str(k)) in FIELDS for k in value):
            yield from (item for item in lists[0] if isinstance(item, dict))
        else:
            yield value
        return
    raise ProviderError(
        LABEL, f"expected ticket objects in the JSON export, got {str(value)[:60]!r}"
    )


#: Settings to name when the API rejects a parameter or header (FastAPI `loc`).
_SETTING_OF = {
    "organization-id": "filum.organization_id",
    "authorization": "filum.api_token",
    "start_date": "start_date",
    "end_date": "end_date",
}


def _validation_error(item: t.Any) -> str:
    """One FastAPI validation error: `header.organization-id: Input should be ... (check ...)`."""
    if not isinstance(item, dict):
        return str(item)
    loc = [str(part) for part in item.get("loc") or []]
    text = f"{'.'.join(loc)}: {item.get('msg') or item.get('type') or 'invalid'}"
    settings = [_SETTING_OF[part] for part in loc if part in _SETTING_OF]
    return text + (f" (check {settings[0]})" if settings else "")


STREAMS: tuple[type[HelpdeskStream], ...] = (FilumTicketsStream,)
