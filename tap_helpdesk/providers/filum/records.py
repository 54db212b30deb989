"""Filum CX export columns and the records they become (provider-docs/filum-tickets-export).

The documented default columns become snake_case fields; every other column is a workspace
custom field, kept in `custom_fields` under its header (and, when asked, in a column of
its own). Each header is classified once per export.
"""

from __future__ import annotations

import csv
import functools
import re
import typing as t
import unicodedata

import msgspec

from tap_helpdesk.errors import ProviderError, UnreadableValue
from tap_helpdesk.schemas import load_schema
from tap_helpdesk.timestamps import NaiveToUtc, to_utc
from tap_helpdesk.values import record_error

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from datetime import tzinfo

LABEL = "Filum CX"
STREAM = "filum_tickets"
KEYS = ("ticket_id",)  # the stream's primary key, to name a record in an error line
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
CUSTOM_FIELDS = "custom_fields"
SCHEMA_FIELDS = frozenset(load_schema("filum_tickets")["properties"])

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


def _text(value: object) -> str | None:
    """A text value; empty becomes null, JSON numbers and booleans read as the CSV shows them."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    return _json_text.encode(value).decode()


Convert = t.Callable[[t.Any], t.Any]


class RecordBuilder:
    """Turns the rows of one export into records; each header is classified once.

    A column is (header, field, convert): a default column fills its snake_case field, a
    custom-field column (field None) goes into custom_fields and, when it has one, into its
    own top-level column.
    """

    def __init__(self, zone: tzinfo, columns: Mapping[str, str]) -> None:
        """Times read in `zone`; `columns` maps custom-field headers to their own columns."""
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
            for index, name, header in integers:  # first: the ticket id names a bad time
                value = values[index]
                digits = value.isdigit() and value.isascii()
                record[name] = int(value) if digits else _integer(header, value)
            try:
                convert_fields(record, stamp_names)
            except UnreadableValue as problem:
                raise record_error(LABEL, STREAM, record, KEYS, problem) from None
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
                try:
                    record[name] = convert(value)
                except UnreadableValue as problem:
                    located = problem if problem.field else problem.in_field(name)
                    pairs = zip(specs, item.values(), strict=True)
                    ids = {field: read(v) for (_h, field, read), v in pairs if field in KEYS}
                    raise record_error(LABEL, STREAM, ids, KEYS, located) from None
            elif convert is _nested and isinstance(value, dict):
                for nested_key, nested in value.items():
                    self.custom(record, custom, str(nested_key), nested)
            else:
                self.custom(record, custom, header, value)
        record[CUSTOM_FIELDS] = custom
        return record

    def custom(
        self, record: dict[str, t.Any], custom: dict[str, str | None], header: str, value: object
    ) -> None:
        """A workspace custom field: into custom_fields, and its own column when it has one."""
        custom[header] = text = _text(value)
        if header in self.columns:
            record[self.columns[header]] = text

    def timestamp(self, value: object) -> str | None:
        """A naive UTC+7 (filum.timezone) time as ISO 8601 UTC."""
        if isinstance(value, str):
            return self.convert_time(value)  # "" -> None; other forms take the general path
        if value is None:
            return None
        return to_utc(_text(value), self.zone)


def _nested(value: object) -> object:  # marks a column of nested custom fields
    return value


def _integer(header: str, value: object) -> int | None:
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
