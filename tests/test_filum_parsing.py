"""Filum CX export parsing, without a server: CSV and JSON bodies as the API may send them."""

from __future__ import annotations

import csv
import io
import json
import typing as t
from datetime import date

import pytest
import requests
import urllib3

from tap_helpdesk import surrogates
from tap_helpdesk.errors import ProviderError
from tap_helpdesk.providers.filum import (
    COLUMNS,
    ExportAnswer,
    FilumTicketsStream,
    FilumWalk,
    RecentTickets,
    custom_columns,
    field_name,
    json_values,
)
from tap_helpdesk.providers.filum.decoding import EmptyExport
from tap_helpdesk.tap import TapHelpdesk
from tap_helpdesk.walk import Step

HEADERS = [*COLUMNS, "Kênh liên hệ", "Status "]
ROW = [
    "231000",
    "2024-05-12 09:00:00",
    "2024-05-13 00:30:00",
    "Nguyễn Văn Bảo",
    "",
    "bao@example.com",
    'Say "hi"\tand\r\nbye 😡',
    "Xin chào,\nCảm ơn! 🎉",
    "open",
    "",
    "",
    "",
    "",
    "",
    "",
    "102",
    "Zalo OA",
    "Zalo",
    "custom status value",
]


@pytest.fixture(scope="module")
def stream() -> FilumTicketsStream:
    """A Filum stream of a tap configured for nothing but parsing."""
    tap = TapHelpdesk(
        config={
            "start_date": "2024-01-01T00:00:00Z",
            "filum": {"api_token": "t-0000", "organization_id": "o"},
        },
        setup_mapper=False,
    )
    return t.cast("FilumTicketsStream", tap.streams["filum_tickets"])


def response(body: bytes, content_type: str, status: int = 200) -> requests.Response:
    """A streamed-looking response holding `body`."""
    answer = requests.Response()
    answer.status_code = status
    answer.headers["Content-Type"] = content_type
    answer.raw = io.BytesIO(body)
    answer.url = "https://api.filum.ai/external/tickets/export"
    return answer


def tsv(rows: list[list[str]], *, bom: bool = True, end: str = "\r\n") -> bytes:
    """Rows as Filum writes them: tab-separated, quoted where needed, UTF-16LE."""
    buffer = io.StringIO()
    csv.writer(buffer, delimiter="\t", lineterminator=end).writerows(rows)
    return (b"\xff\xfe" if bom else b"") + buffer.getvalue().encode("utf-16-le")


EXPECTED = {
    "ticket_id": 231000,
    "created_at": "2024-05-12T02:00:00+00:00",
    "updated_at": "2024-05-12T17:30:00+00:00",
    "customer_name": "Nguyễn Văn Bảo",
    "customer_phone": None,
    "customer_email": "bao@example.com",
    "subject": 'Say "hi"\tand\r\nbye 😡',
    "description": "Xin chào,\nCảm ơn! 🎉",
    "status": "open",
    "priority": None,
    "due_date": None,
    "assignee_name": None,
    "assignee_email": None,
    "creator_name": None,
    "creator_email": None,
    "installed_source_id": 102,
    "installed_source_name": "Zalo OA",
    "custom_fields": {"Kênh liên hệ": "Zalo", "Status ": "custom status value"},
}


def read_all(stream: FilumTicketsStream, answer: requests.Response) -> list[dict[str, t.Any]]:
    """Every record of one export answer."""
    return list(stream.decoder().records(answer))


@pytest.mark.parametrize("end", ["\r\n", "\n"])
def test_csv_row_becomes_a_record_in_utc_with_nulls(stream, end):
    answer = ExportAnswer()
    body = response(tsv([HEADERS, ROW], end=end), "text/csv; charset=utf-16le")
    records = read_all(stream, body)
    for record in records:
        answer.count(record)
    assert records == [EXPECTED]
    assert answer.rows == 1
    assert answer.statuses == {"open": 1}
    assert answer.without_priority == 1


def test_json_array_ndjson_and_charsets_give_the_same_record(stream):
    item: dict[str, t.Any] = dict(zip(HEADERS, ROW, strict=True))
    item["Ticket ID"], item["Installed Source ID"] = 231000, 102
    item = {k: (v if v != "" else None) for k, v in item.items()}
    array = json.dumps([item], ensure_ascii=False)
    ndjson = json.dumps(item, ensure_ascii=False) + "\n"
    bodies = [
        (array.encode("utf-16-le"), "application/json; charset=utf-16le"),
        (b"\xff\xfe" + ndjson.encode("utf-16-le"), "application/x-ndjson"),
        (array.encode("utf-8"), "application/json"),
        (b"\xef\xbb\xbf" + ndjson.encode("utf-8"), "application/x-ndjson; charset=utf-8"),
        (array.encode("utf-16-le"), "application/json"),  # no charset: told by its bytes
        (json.dumps({"data": [item]}).encode(), "application/json"),  # wrapped
    ]
    for body, kind in bodies:
        assert read_all(stream, response(body, kind)) == [EXPECTED], kind


def test_json_keyed_by_field_names_with_nested_custom_fields(stream):
    item = {
        "ticketId": "231000",
        "created_at": "2024-05-12T09:00:00+07:00",
        "customFields": {"Kênh liên hệ": "Zalo", "Điểm": 5, "VIP": True},
    }
    [record] = read_all(stream, response(json.dumps([item]).encode(), "application/json"))
    assert record["ticket_id"] == 231000
    assert record["created_at"] == "2024-05-12T02:00:00+00:00"
    assert record["custom_fields"] == {"Kênh liên hệ": "Zalo", "Điểm": "5", "VIP": "true"}


def test_json_values_are_decoded_as_the_text_arrives():
    class Trickle(io.StringIO):
        def read(self, size: int | None = -1) -> str:
            return super().read(3)

    text = '[{"a": "x,]}[ \\"y"}, {"b": [1, 2]}\n]'
    assert list(json_values(Trickle(text))) == [{"a": 'x,]}[ "y'}, {"b": [1, 2]}]
    assert list(json_values(Trickle('{"a": 1}\n{"a": 2}\n'))) == [{"a": 1}, {"a": 2}]
    assert list(json_values(Trickle(""))) == []
    with pytest.raises(json.JSONDecodeError):
        list(json_values(Trickle('[{"a": "cut off')))


def test_empty_export_is_an_empty_page(stream):
    # an export of no tickets still has its header row; a body with nothing at all is not
    # "no tickets" but an answer cut off before its first byte: asked for again
    with pytest.raises(EmptyExport):
        read_all(stream, response(b"", "text/csv"))
    with pytest.raises(EmptyExport):
        read_all(stream, response(b"", "application/json"))
    assert read_all(stream, response(tsv([HEADERS]), "text/csv")) == []
    assert read_all(stream, response(b"[]", "application/json")) == []


@pytest.mark.parametrize(
    ("body", "kind", "message"),
    [
        (tsv([HEADERS, ROW], bom=False), "text/csv", "does not start with the UTF-16LE byte"),
        (tsv([HEADERS, ROW[:-1]]), "text/csv", "CSV row 1 has 18 values for 19 columns"),
        (tsv([HEADERS, ["x1", *ROW[1:]]]), "text/csv", "column 'Ticket ID' holds 'x1'"),
        (b"\xff\xfe\x00\xd8", "text/csv", "not valid UTF-16LE tab-separated text"),
        (b"<html>Login</html>", "text/html", "expected a CSV or JSON export from /external"),
        (b'[{"Ticket ID": 1', "application/json", "expected a JSON array or NDJSON export"),
        (b"[1, 2]", "application/json", "expected ticket objects in the JSON export"),
    ],
)
def test_malformed_exports_are_one_clear_error(stream, body, kind, message):
    with pytest.raises(ProviderError) as caught:
        read_all(stream, response(body, kind))
    assert str(caught.value).startswith("Filum CX: ")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_fastapi_validation_details_name_the_setting(stream):
    body = {
        "detail": [
            {"type": "missing", "loc": ["query", "start_date"], "msg": "Field required"},
            {"type": "uuid_parsing", "loc": ["header", "organization-id"], "msg": "Bad UUID"},
        ]
    }
    text = stream.provider_error_text(response(json.dumps(body).encode(), "application/json", 422))
    assert text == (
        "query.start_date: Field required (check start_date); "
        "header.organization-id: Bad UUID (check filum.organization_id)"
    )
    plain = response(b'{"detail": "Rate limit exceeded"}', "application/json", 429)
    assert stream.provider_error_text(plain) == "Rate limit exceeded"


def test_headers_become_snake_case_and_custom_columns_never_clash():
    assert field_name("Ticket ID") == "ticket_id"
    assert field_name("ticketId") == "ticket_id"
    assert field_name("Installed Source ID") == "installed_source_id"
    assert field_name("Kênh liên hệ") == "kenh_lien_he"
    assert field_name("Đơn hàng #") == "don_hang"
    assert custom_columns(["Status ", "Kênh liên hệ", "kenh lien he", "custom fields", "😀"]) == {
        "Kênh liên hệ": "kenh_lien_he",
        "kenh lien he": "custom_kenh_lien_he",
        "custom fields": "custom_custom_fields",
        "😀": "custom_field",
    }


class CutOff:
    """A urllib3-like body that breaks after `size` bytes, as a dropped connection does."""

    def __init__(self, body: bytes, size: int) -> None:
        self.body, self.size = body, size

    def stream(self, amt: int, decode_content: bool = True) -> t.Iterator[bytes]:
        yield self.body[: self.size]
        raise urllib3.exceptions.ProtocolError("Connection broken: IncompleteRead")

    def close(self) -> None:
        return


def test_an_answer_cut_off_midway_is_fetched_again(stream, monkeypatch):
    body = tsv([HEADERS, ROW])
    attempts: list[int] = []
    steps: list[Step] = []

    def send(prepared: requests.PreparedRequest, context: t.Any) -> requests.Response:
        attempts.append(1)
        answer = response(body, "text/csv; charset=utf-16le")
        if len(attempts) == 1:
            answer.raw = CutOff(body, 300)
        return answer

    settle = FilumWalk.settle

    def noted(walk: FilumWalk, *args: t.Any) -> Step:
        steps.append(settle(walk, *args))
        return steps[-1]

    day = date(2024, 5, 12)
    monkeypatch.setattr(stream, "_request", send)
    monkeypatch.setattr(stream, "retry_delay", lambda exc, attempt: 0.0)
    monkeypatch.setattr(stream, "export_range", lambda context: (day, day))
    monkeypatch.setattr(FilumWalk, "settle", noted)
    records = list(stream.request_records(None))
    assert len(attempts) == 2, "the cut answer was asked for again"
    assert records == [EXPECTED]
    assert [step.rows for step in steps] == [1], "only the complete read is counted"
    assert steps[0].bookmark == EXPECTED["created_at"]


def test_recent_tickets_drop_repeats_and_forget_what_the_walk_has_passed():
    recent = RecentTickets()

    def ticket(ticket_id: int, created: str, updated: str) -> dict[str, t.Any]:
        return {"ticket_id": ticket_id, "created_at": created, "updated_at": updated}

    first = ticket(1, "2024-03-01T10:00:00+00:00", "2024-03-02T10:00:00+00:00")
    assert recent.is_new(first)
    assert not recent.is_new(dict(first)), "the same version again"
    changed = ticket(1, "2024-03-01T10:00:00+00:00", "2024-03-05T08:00:00+00:00")
    assert recent.is_new(changed), "a new version is emitted"
    assert recent.is_new(ticket(2, "2024-03-03T10:00:00+00:00", "2024-03-03T11:00:00+00:00"))
    recent.forget_before("2024-03-04T17:00:00+00:00")
    assert len(recent) == 1, "ticket 2 lies wholly before the window now read"
    assert not recent.is_new(dict(changed)), "ticket 1's latest version is still known"


UPDATED = {1: "2024-03-20T10:00:00+00:00", 3: "2024-03-06T11:00:00+00:00"}


@pytest.mark.parametrize(
    ("filter_field", "kept"),
    [("created_at", {3}), ("updated_at", {1, 3}), (None, {1, 3})],
)
def test_recent_tickets_are_forgotten_by_the_date_the_export_filters_on(filter_field, kept):
    recent = RecentTickets()
    for ticket_id, created, updated in [
        (1, "2024-03-01T10:00:00+00:00", "2024-03-20T10:00:00+00:00"),  # updated later
        (2, "2024-03-01T10:00:00+00:00", "2024-03-01T11:00:00+00:00"),
        (3, "2024-03-06T10:00:00+00:00", "2024-03-06T11:00:00+00:00"),  # ahead of the walk
    ]:
        assert recent.is_new({"ticket_id": ticket_id, "created_at": created, "updated_at": updated})
    recent.forget_before("2024-03-04T17:00:00+00:00", filter_field)
    for ticket_id in kept:
        assert not recent.is_new(
            {"ticket_id": ticket_id, "created_at": "", "updated_at": UPDATED[ticket_id]}
        ), ticket_id
    assert len(recent) == len(kept)


def test_json_values_read_lone_surrogates_as_replacement_characters_however_the_text_arrives():
    # the escape split across reads (3 characters at a time) is still seen
    class Trickle(io.StringIO):
        def read(self, size: int | None = -1) -> str:
            return super().read(3)

    text = '[{"a": 1}, {"Subject": "cut \\ud83d", "\\udc00k": "pair \\ud83d\\ude00 kept"}]'
    surrogates.replaced.clear()
    values = list(json_values(Trickle(text), "Filum CX"))
    assert values == [{"a": 1}, {"Subject": "cut \ufffd", "\ufffdk": "pair \U0001f600 kept"}]
    assert surrogates.replaced == {"Filum CX": 2}
    surrogates.replaced.clear()
    assert list(json_values(Trickle('[{"a": "\\u00e9"}]'))) == [{"a": "é"}]
    assert not surrogates.replaced
