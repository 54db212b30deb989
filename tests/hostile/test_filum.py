"""Hostile answers to Filum CX's export (POST /external/tickets/export): every record, or one line.

The server below emulates the export, CSV (UTF-16LE, BOM, tab-separated, quoted where
needed) or JSON as the request's Accept asks, filtered by the creation day, and
misbehaves in one way per test. Every run asks for ten days: one window, one request
(and its retries). api_token and organization_id must appear nowhere in the output.
"""

from __future__ import annotations

import csv
import io
import json
import threading
import time
import typing as t
from datetime import date, datetime, timedelta, timezone

import pytest

from tap_helpdesk.providers.filum.records import COLUMNS
from tests.hostile.server import (
    HostileServer,
    Reply,
    Seen,
    assert_clear_failure,
    assert_no_secret,
    json_reply,
    run_bounded,
)

TOKEN = "filum-hostile-token-0123456789"
ORGANIZATION_ID = "7d3c1f0e-2b4a-4c8d-9e6f-0a1b2c3d4e5f"
SECRETS = (TOKEN, ORGANIZATION_ID)
PATH = "/external/tickets/export"
STREAM = "filum_tickets"
ZONE = timezone(timedelta(hours=7))
T0 = datetime(2024, 3, 1, 9, 0, 0)  # naive, as Filum writes it (UTC+7)
HEADERS = [*COLUMNS, "Ghi chú"]
CSV_TYPE = "text/csv; charset=utf-16le"
JSON_TYPE = "application/json; charset=utf-16le"
FORMATS = ["csv", "json"]


def tickets(count: int = 30) -> list[list[str]]:
    """`count` ticket rows in HEADERS order, one an hour from T0; every row ends with a
    quoted value (a note holding a line break)."""
    rows = []
    for n in range(count):
        created = T0 + timedelta(hours=n)
        row = dict.fromkeys(HEADERS, "")
        row.update(
            {
                "Ticket ID": str(500 + n),
                "Created at": created.isoformat(" "),
                "Updated at": (created + timedelta(minutes=30)).isoformat(" "),
                "Subject": f'Đơn hàng "{n}"\tbị sai',
                "Status": "open",
                "Priority": "high",
                "Installed Source ID": "101",
                "Ghi chú": f"Dòng 1\nDòng {n}",
            }
        )
        rows.append(list(row.values()))
    return rows


DATA = tickets()
IDS = [int(row[0]) for row in DATA]


def in_range(seen: Seen, rows: list[list[str]]) -> list[list[str]]:
    """The rows whose creation day is within the request's start_date..end_date."""
    first = date.fromisoformat(seen.arg("start_date") or "")
    last = date.fromisoformat(seen.arg("end_date") or "")
    return [r for r in rows if first <= date.fromisoformat(r[1][:10]) <= last]


def csv_text(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter="\t", lineterminator="\r\n").writerows([HEADERS, *rows])
    return buffer.getvalue()


def csv_bytes(text: str) -> bytes:
    return b"\xff\xfe" + text.encode("utf-16-le")


def json_bytes(rows: list[list[str]]) -> bytes:
    objects = [{h: (v or None) for h, v in zip(HEADERS, row, strict=True)} for row in rows]
    return json.dumps(objects, ensure_ascii=False).encode("utf-16-le")


def export(seen: Seen, **reply: t.Any) -> Reply:
    """The export as asked for (CSV or JSON by the Accept header)."""
    rows = in_range(seen, DATA)
    if seen.headers.get("accept") == "application/json":
        return Reply(200, json_bytes(rows), {"Content-Type": JSON_TYPE}, **reply)
    return Reply(200, csv_bytes(csv_text(rows)), {"Content-Type": CSV_TYPE}, **reply)


def then_export(first: Reply) -> t.Callable[[Seen], Reply]:
    """A script answering `first` once, then the export."""
    answered: list[Seen] = []

    def once(seen: Seen) -> Reply:
        answered.append(seen)
        return first if len(answered) == 1 else export(seen)

    return once


def config(url: str, export_format: str = "csv", **top: t.Any) -> dict[str, t.Any]:
    return {
        "start_date": "2024-03-01T00:00:00+07:00",
        "end_date": "2024-03-10T23:59:59+07:00",
        "max_retries": 1,
        "backoff_base_seconds": 0.01,
        "request_timeout": 5,
        "filum": {
            "api_token": TOKEN,
            "organization_id": ORGANIZATION_ID,
            "api_url": url,
            "export_format": export_format,
        },
        **top,
    }


def run_against(script: t.Callable[[Seen], Reply], export_format: str = "csv", **top: t.Any):
    with HostileServer(script) as server:
        run = run_bounded(config(server.url, export_format, **top))
    assert_no_secret(run, SECRETS)
    return run, server.requests_to(PATH)


def assert_every_ticket_once(run: t.Any) -> None:
    assert run.returncode == 0, run.stderr[-3000:]
    ids = [record["ticket_id"] for record in run.records[STREAM]]
    assert sorted(ids) == IDS, "every ticket, each once"
    latest = max(r["created_at"] for r in run.records[STREAM])
    assert run.final_state["bookmarks"][STREAM]["replication_key_value"] == latest


def one_line(run: t.Any, *words: str) -> str:
    line = assert_clear_failure(run, "Filum CX", *words, secrets=SECRETS)
    assert not run.records.get(STREAM), "nothing of a failed answer is a record"
    return line


# -- the emulator itself -----------------------------------------------------------------


@pytest.mark.parametrize("export_format", FORMATS)
def test_a_well_behaved_server_gives_every_ticket_in_one_request(export_format: str) -> None:
    run, seen = run_against(export, export_format)
    assert_every_ticket_once(run)
    assert len(seen) == 1
    record = next(r for r in run.records[STREAM] if r["ticket_id"] == 500)
    assert record["created_at"] == "2024-03-01T02:00:00+00:00"
    assert record["subject"] == 'Đơn hàng "0"\tbị sai'
    assert record["custom_fields"] == {"Ghi chú": "Dòng 1\nDòng 0"}


# -- an error, or not an export, under 200 --------------------------------------------------


@pytest.mark.parametrize("export_format", FORMATS)
def test_a_json_error_object_under_200_is_one_line_never_a_record(export_format: str) -> None:
    def script(seen: Seen) -> Reply:
        return json_reply({"detail": "Export is temporarily unavailable"})

    run, seen = run_against(script, export_format)
    line = one_line(run, "error instead of tickets", "Export is temporarily unavailable")
    assert "HTTP 200" in line
    assert len(seen) == 1


@pytest.mark.parametrize("export_format", FORMATS)
def test_html_under_200_is_one_line(export_format: str) -> None:
    page = "<html><body><h1>Đăng nhập</h1><form>Login</form></body></html>"
    reply = Reply(200, page, {"Content-Type": "text/html"})
    run, _seen = run_against(lambda seen: reply, export_format)
    one_line(run, "expected a CSV or JSON export", "text/html", "Login")


@pytest.mark.parametrize(
    ("content_type", "export_format", "words"),
    [
        ("text/csv", "csv", ("does not start with the UTF-16LE byte order mark",)),
        ("application/json", "json", ("expected a JSON array or NDJSON export",)),
    ],
)
def test_html_under_200_labelled_as_an_export_is_one_line(
    content_type: str, export_format: str, words: tuple[str, ...]
) -> None:
    page = b"<html><body>Service unavailable</body></html>"
    reply = Reply(200, page, {"Content-Type": content_type})
    run, _seen = run_against(lambda seen: reply, export_format)
    one_line(run, *words)


@pytest.mark.parametrize("export_format", FORMATS)
def test_a_wrong_content_type_is_one_line(export_format: str) -> None:
    def script(seen: Seen) -> Reply:
        reply = export(seen)
        reply.headers["Content-Type"] = "application/pdf"
        return reply

    run, seen = run_against(script, export_format)
    one_line(run, "expected a CSV or JSON export", "but got application/pdf")
    assert len(seen) == 1


# -- empty and cut bodies ------------------------------------------------------------------


@pytest.mark.parametrize("export_format", FORMATS)
def test_an_empty_200_body_is_asked_for_again_then_one_line(export_format: str) -> None:
    kind = CSV_TYPE if export_format == "csv" else JSON_TYPE
    run, seen = run_against(lambda seen: Reply(200, b"", {"Content-Type": kind}), export_format)
    one_line(run, "cut off 2 times", "EmptyExport")
    assert len(seen) == 2, "the first attempt and max_retries=1"


@pytest.mark.parametrize("export_format", FORMATS)
def test_an_empty_200_body_once_is_transient(export_format: str) -> None:
    kind = CSV_TYPE if export_format == "csv" else JSON_TYPE
    run, seen = run_against(then_export(Reply(200, b"", {"Content-Type": kind})), export_format)
    assert_every_ticket_once(run)
    assert len(seen) == 2


def cut_in_last_quoted_value() -> bytes:
    """The export of DATA, ending inside the last row's quoted note."""
    text = csv_text(DATA)
    return csv_bytes(text[: text.rindex('"Dòng 1') + 5])


@pytest.mark.parametrize("content_length", [True, False])
def test_a_tsv_cut_inside_a_quoted_value_at_the_end_is_asked_for_again(
    content_length: bool,
) -> None:
    cut = Reply(200, cut_in_last_quoted_value(), {"Content-Type": CSV_TYPE})
    cut.content_length = content_length  # the length of the cut body, or none at all
    run, seen = run_against(then_export(cut))
    assert_every_ticket_once(run)
    assert len(seen) == 2
    assert "was cut off (TruncatedExport), retry 1 of 1" in run.stderr


@pytest.mark.parametrize("content_length", [True, False])
def test_a_tsv_always_cut_inside_a_quoted_value_is_one_line(content_length: bool) -> None:
    def script(seen: Seen) -> Reply:
        return Reply(
            200,
            cut_in_last_quoted_value(),
            {"Content-Type": CSV_TYPE},
            content_length=content_length,
        )

    with HostileServer(script) as server:
        run = run_bounded(config(server.url))
    assert_no_secret(run, SECRETS)
    assert_clear_failure(run, "Filum CX", "cut off 2 times", "TruncatedExport", secrets=SECRETS)
    # the rows before the cut are real tickets: emitted, but no bookmark claims them
    assert sorted(r["ticket_id"] for r in run.records[STREAM]) == IDS[:-1]
    assert all(STREAM not in s.get("bookmarks", {}) for s in run.states)
    assert len(server.requests_to(PATH)) == 2


def inside_last_row() -> tuple[bytes, int]:
    """The export of DATA, and a length that ends inside its last row's subject."""
    text = csv_text(DATA)
    return csv_bytes(text), len(csv_bytes(text[: text.rindex("Đơn hàng") + 4]))


def test_a_csv_longer_than_its_content_length_is_asked_for_again() -> None:
    body, length = inside_last_row()
    longer = Reply(200, body, {"Content-Type": CSV_TYPE, "Content-Length": str(length)})
    longer.content_length = False
    run, seen = run_against(then_export(longer))
    assert_every_ticket_once(run)
    assert len(seen) == 2


def test_a_csv_always_longer_than_its_content_length_is_one_line() -> None:
    body, length = inside_last_row()
    headers = {"Content-Type": CSV_TYPE, "Content-Length": str(length)}
    run, seen = run_against(lambda seen: Reply(200, body, headers, content_length=False))
    assert_clear_failure(run, "Filum CX", "cut off 2 times", secrets=SECRETS)
    assert len(seen) == 2


def test_a_csv_shorter_than_its_content_length_is_asked_for_again() -> None:
    body = csv_bytes(csv_text(DATA))
    headers = {"Content-Type": CSV_TYPE, "Content-Length": str(len(body) + 64)}
    shorter = Reply(200, body, headers, content_length=False)
    run, seen = run_against(then_export(shorter))
    assert_every_ticket_once(run)
    assert len(seen) == 2


def test_a_csv_always_shorter_than_its_content_length_is_one_line() -> None:
    body = csv_bytes(csv_text(DATA))
    headers = {"Content-Type": CSV_TYPE, "Content-Length": str(len(body) + 64)}
    run, seen = run_against(lambda seen: Reply(200, body, headers, content_length=False))
    assert_clear_failure(run, "Filum CX", "cut off 2 times", secrets=SECRETS)
    assert len(seen) == 2


# -- a stalled body ------------------------------------------------------------------------


@pytest.mark.parametrize("export_format", FORMATS)
@pytest.mark.parametrize("content_length", [True, False])
def test_a_body_trickling_past_request_timeout_ends_in_one_line(
    export_format: str, content_length: bool
) -> None:
    def script(seen: Seen) -> Reply:
        return export(seen, trickle=0.02, content_length=content_length)

    started = time.monotonic()
    run, seen = run_against(script, export_format, request_timeout=1)
    took = time.monotonic() - started
    line = assert_clear_failure(run, "Filum CX", "cut off 2 times", secrets=SECRETS)
    assert "request_timeout" in line
    assert all(STREAM not in s.get("bookmarks", {}) for s in run.states), "no bookmark"
    assert len(seen) == 2
    assert took < 20, f"bounded by request_timeout, took {took:.1f} s"


# -- several windows, several in flight ----------------------------------------------------

#: 2024-01-01..2024-06-29 (UTC+7): three windows at first, one ticket every four hours,
#: each updated two days after it was created (the answers show the range is by creation)
LONG_FIRST, LONG_LAST = date(2024, 1, 1), date(2024, 6, 29)


def long_tickets() -> list[list[str]]:
    rows = []
    start = datetime(2024, 1, 1, 1, 0, 0)
    for n in range((LONG_LAST - LONG_FIRST).days * 6 + 6):
        created = start + timedelta(hours=4 * n)
        row = dict.fromkeys(HEADERS, "")
        row.update(
            {
                "Ticket ID": str(10_000 + n),
                "Created at": created.isoformat(" "),
                "Updated at": (created + timedelta(days=2)).isoformat(" "),
                "Status": "closed",
                "Priority": "low",
            }
        )
        rows.append(list(row.values()))
    return rows


LONG = long_tickets()


def long_config(url: str, width: int) -> dict[str, t.Any]:
    settings = config(url)
    settings["start_date"] = f"{LONG_FIRST}T00:00:00+07:00"
    settings["end_date"] = f"{LONG_LAST}T23:59:59+07:00"
    settings["filum"]["max_concurrent_requests"] = width
    return settings


def long_export(seen: Seen, rows: list[list[str]] | None = None, **reply: t.Any) -> Reply:
    body = csv_bytes(csv_text(in_range(seen, LONG) if rows is None else rows))
    return Reply(200, body, {"Content-Type": CSV_TYPE}, **reply)


def later_first(seen: Seen) -> None:
    """Hold back every window but the last: later answers arrive ahead of their turn."""
    if (seen.arg("end_date") or "") < LONG_LAST.isoformat():
        time.sleep(0.3)


@pytest.mark.parametrize("width", [1, 4])
def test_a_server_ignoring_the_date_range_in_a_later_window_is_one_line(width: int) -> None:
    """From April on the server answers every ticket, whatever range was asked."""

    def script(seen: Seen) -> Reply:
        later_first(seen)
        if (seen.arg("start_date") or "") >= "2024-03-01":
            return long_export(seen, LONG)
        return long_export(seen)

    with HostileServer(script) as server:
        run = run_bounded(long_config(server.url, width))
        seen = server.requests_to(PATH)
    assert_no_secret(run, SECRETS)
    line = assert_clear_failure(run, "Filum CX", "ignored the export's date range", secrets=SECRETS)
    assert "holds tickets whose created_at is on 2024-01-01" in line
    assert len(seen) >= 2
    first_end = min(date.fromisoformat(s.arg("end_date") or "") for s in seen)
    marks = [
        s["bookmarks"][STREAM]["replication_key_value"]
        for s in run.states
        if s.get("bookmarks", {}).get(STREAM)
    ]
    assert marks, "the first window's tickets are delivered and claimed"
    assert max(marks) < f"{first_end + timedelta(days=1)}", "no bookmark past the first window"


def test_tsvs_cut_with_several_windows_in_flight_are_asked_for_again() -> None:
    """Each window's first answer is cut inside a row; later ones arrive first (peeked)."""
    answered: set[str] = set()
    lock = threading.Lock()

    def script(seen: Seen) -> Reply:
        later_first(seen)
        window = f"{seen.arg('start_date')}..{seen.arg('end_date')}"
        with lock:
            first = window not in answered
            answered.add(window)
        whole = long_export(seen)
        if first:
            return Reply(200, whole.payload()[:-41], whole.headers, content_length=False)
        return whole

    with HostileServer(script) as server:
        run = run_bounded(long_config(server.url, 4))
        seen = server.requests_to(PATH)
    assert_no_secret(run, SECRETS)
    assert run.returncode == 0, run.stderr[-3000:]
    ids = [record["ticket_id"] for record in run.records[STREAM]]
    assert sorted(ids) == sorted(int(row[0]) for row in LONG), "every ticket, each once"
    assert len(seen) == 2 * len(answered), "each window asked for twice"
    assert len(answered) >= 3
    assert run.stderr.count("was cut off") == len(answered)


@pytest.mark.parametrize("export_format", FORMATS)
@pytest.mark.parametrize(
    ("column", "value"),
    [(1, "2024-03-01 25:00:00"), (2, "2024-03-01 08:61:00"), (2, "01/03/2024 08:00:00")],
    ids=["hour-25", "minute-61", "day-month"],
)
def test_a_time_that_is_no_time_is_one_line_naming_the_ticket_and_field(
    export_format: str, column: int, value: str
) -> None:
    data = [list(row) for row in DATA]
    data[5][column] = value

    def script(seen: Seen) -> Reply:
        rows = [r for r in data if r is data[5] or in_range(seen, [r])]
        if seen.headers.get("accept") == "application/json":
            return Reply(200, json_bytes(rows), {"Content-Type": JSON_TYPE})
        return Reply(200, csv_bytes(csv_text(rows)), {"Content-Type": CSV_TYPE})

    run, _requests = run_against(script, export_format)
    field = "created_at" if column == 1 else "updated_at"
    line = assert_clear_failure(
        run, "Filum CX: filum_tickets record ticket_id=505", f"field '{field}'", repr(value)
    )
    assert "UnreadableValue" not in line
    assert value not in json.dumps(run.records), "the ticket with the bad time is no record"


def test_lone_surrogates_in_json_exports_read_ahead_are_counted_once() -> None:
    """Later windows arrive first and are read whole ahead of their turn, then read again
    when their rows go out: the warning counts each answer's lone surrogates once."""
    subject = HEADERS.index("Subject")
    rows = [list(row) for row in LONG]
    for row in rows[::60]:
        row[subject] = "cut inside an emoji \ud83d"
    served = {"halves": 0}
    lock = threading.Lock()

    def script(seen: Seen) -> Reply:
        later_first(seen)
        answer = in_range(seen, rows)
        with lock:
            served["halves"] += sum("\ud83d" in row[subject] for row in answer)
        objects = [{h: (v or None) for h, v in zip(HEADERS, row, strict=True)} for row in answer]
        return Reply(200, json.dumps(objects).encode("utf-16-le"), {"Content-Type": JSON_TYPE})

    settings = long_config("", 4)
    settings["filum"]["export_format"] = "json"
    with HostileServer(script) as server:
        settings["filum"]["api_url"] = server.url
        run = run_bounded(settings)
        seen = server.requests_to(PATH)
    assert_no_secret(run, SECRETS)
    assert run.returncode == 0, run.stderr[-3000:]
    ids = [record["ticket_id"] for record in run.records[STREAM]]
    assert sorted(ids) == sorted(int(row[0]) for row in rows), "every ticket, each once"
    cut = [r["subject"] for r in run.records[STREAM] if r["subject"]]
    assert cut == ["cut inside an emoji \ufffd"] * len(rows[::60])
    assert len(seen) >= 3, "several windows"
    (warning,) = [line for line in run.stderr.splitlines() if "U+FFFD" in line]
    assert f"Filum CX ({served['halves']})" in warning, (served, warning)
