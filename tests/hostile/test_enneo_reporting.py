"""Hostile answers to Enneo's reporting messages and worklog: every row, or one line.

The server below answers the activity exports as the tap asks for them (filters on the
cursor field, ascending order, offset and limit) and the ticket exports with nothing, and
misbehaves in one way per test: 5xx, 429, answers cut short, pages shorter than asked,
the same page again, rows out of order, rows without the cursor field.
"""

from __future__ import annotations

import json
import typing as t
from collections import Counter
from datetime import datetime, timedelta

import pytest

from tests.hostile.server import (
    HostileServer,
    Reply,
    Seen,
    assert_clear_failure,
    assert_no_secret,
    json_reply,
    run_bounded,
)

TOKEN = "enneo-reporting-hostile-token-0123456789"
MESSAGES, WORKLOG = "enneo_reporting_messages", "enneo_reporting_worklog"
MESSAGES_PATH = "/api/mind/export/reporting_messages"
WORKLOG_PATH = "/api/mind/export/reporting_worklog"
T0 = datetime(2024, 3, 1, 8, 0, 0)
Row = dict[str, t.Any]


def messages(count: int, *, ties: int = 1) -> list[Row]:
    """`count` messages, `ties` of them per second, ascending."""
    return [
        {
            "ticketId": 4711 + n // 4,
            "conversationId": 9000 + n,
            "channel": "email",
            "direction": ("in", "out", "internal", "out")[n % 4],
            "createdAt": (T0 + timedelta(seconds=n // ties)).isoformat(" "),
            "rawData": json.dumps({"n": n}) if n % 3 else "{...}",
        }
        for n in range(count)
    ]


def worklog(count: int, *, ties: int = 1) -> list[Row]:
    """`count` edits, `ties` of them per second, ascending."""
    return [
        {
            "date": (T0 + timedelta(seconds=n // ties)).isoformat(" "),
            "ticketId": 4711 + n // 3,
            "conversationId": None,
            "userId": 101,
            "action": "writeAction",
            "duration": 60 + n,
            "closingDateForSLA": None,
            "userWorklogId": n + 1,
        }
        for n in range(count)
    ]


CURSOR = {MESSAGES_PATH: "createdAt", WORKLOG_PATH: "date"}


def export_page(data: list[Row], seen: Seen, cursor: str, *, serve: int | None = None) -> list[Row]:
    """The export as the tap asks for it: cursor >= / <= filters, ascending, offset, limit."""
    matching = data
    index = 0
    while seen.arg(f"filters[{index}][key]") is not None:
        assert seen.arg(f"filters[{index}][key]") == cursor
        comparator = seen.arg(f"filters[{index}][comparator]")
        value = seen.arg(f"filters[{index}][value]") or ""
        if comparator == ">=":
            matching = [r for r in matching if r.get(cursor) is None or r[cursor] >= value]
        else:
            assert comparator == "<="
            matching = [r for r in matching if r.get(cursor) is None or r[cursor] <= value]
        index += 1
    assert seen.arg("orderByField") == cursor
    assert seen.arg("orderByDirection") == "asc"
    offset = int(seen.arg("offset") or 0)
    limit = int(seen.arg("limit") or 100)
    assert 1 <= limit <= 1000
    return matching[offset : offset + min(limit, serve or limit)]


Misbehave = t.Callable[[Seen, list[Row]], Reply | None]


def server(
    data: dict[str, list[Row]], misbehave: Misbehave | None = None, *, serve: int | None = None
) -> HostileServer:
    """The exports of `data` (path -> rows); `misbehave` may replace an answer."""

    def script(seen: Seen) -> Reply:
        if seen.header("authorization") != f"Bearer {TOKEN}":
            return json_reply({"error": "Unauthorized"}, 401)
        if seen.path not in data:
            return json_reply([])  # the ticket exports: empty
        rows = export_page(data[seen.path], seen, CURSOR[seen.path], serve=serve)
        replaced = misbehave(seen, rows) if misbehave else None
        return replaced if replaced is not None else json_reply(rows)

    return HostileServer(script)


def config(url: str, **top: t.Any) -> dict[str, t.Any]:
    return {
        "start_date": "2024-01-01T00:00:00Z",
        "max_retries": 3,
        "backoff_base_seconds": 0.01,
        "request_timeout": 5,
        "enneo": {
            "api_token": TOKEN,
            "api_url": url,
            "requests_per_second": 1000,
            "requests_per_minute": 60000,
        },
        **top,
    }


def keys(run: t.Any, stream: str) -> list[t.Any]:
    key = "conversationId" if stream == MESSAGES else "userWorklogId"
    return [r[key] for r in run.records.get(stream, [])]


def assert_every_row_once(run: t.Any, data: dict[str, list[Row]]) -> None:
    assert run.returncode == 0, run.stderr[-3000:]
    for stream, path, key in (
        (MESSAGES, MESSAGES_PATH, "conversationId"),
        (WORKLOG, WORKLOG_PATH, "userWorklogId"),
    ):
        got = keys(run, stream)
        assert Counter(got) == Counter(r[key] for r in data.get(path, [])), stream
    assert "Traceback" not in run.stderr
    assert_no_secret(run, [TOKEN])


def first_time(paths: tuple[str, ...] = (MESSAGES_PATH,)) -> t.Callable[[Seen], bool]:
    """Whether a request to one of `paths` is asked for the first time."""
    answered: set[tuple[t.Any, ...]] = set()

    def first(seen: Seen) -> bool:
        identity = (seen.path, tuple(sorted((k, tuple(v)) for k, v in seen.query.items())))
        if seen.path not in paths or identity in answered:
            return False
        answered.add(identity)
        return True

    return first


# -- faults that are retried ------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        json_reply({"error": "Bad gateway"}, 502),
        json_reply({"error": "Service unavailable"}, 503),
        json_reply({"detail": "Rate limit exceeded"}, 429, **{"Retry-After": "0"}),
        json_reply({"detail": "Rate limit exceeded"}, 429),
        Reply(drop=True),
    ],
    ids=["502", "503", "429-retry-after", "429-bare", "dropped"],
)
def test_a_failed_first_answer_to_every_page_is_retried_to_every_row(reply: Reply) -> None:
    data = {MESSAGES_PATH: messages(2300), WORKLOG_PATH: worklog(1200)}
    first = first_time((MESSAGES_PATH, WORKLOG_PATH))
    with server(data, lambda seen, rows: reply if first(seen) else None) as hostile:
        run = run_bounded(config(hostile.url))
        asked = len(hostile.requests_to(MESSAGES_PATH))
    assert_every_row_once(run, data)
    assert asked >= 8, "each page was asked twice"


@pytest.mark.parametrize("how", ["cut_at", "chunked_cut"])
def test_an_answer_cut_short_is_asked_again_not_taken_as_a_short_page(how: str) -> None:
    data = {MESSAGES_PATH: messages(2500)}
    first = first_time()

    def misbehave(seen: Seen, rows: list[Row]) -> Reply | None:
        if not first(seen):
            return None
        body = json.dumps(rows)
        if how == "cut_at":
            return Reply(200, body, {"Content-Type": "application/json"}, cut_at=len(body) // 2)
        return Reply(200, body, {"Content-Type": "application/json"}, chunked_cut=True)

    with server(data, misbehave) as hostile:
        run = run_bounded(config(hostile.url))
    assert_every_row_once(run, data)


def test_a_fault_that_never_ends_is_one_line_and_a_state_that_resumes() -> None:
    data = {MESSAGES_PATH: messages(3500)}
    cutoff = data[MESSAGES_PATH][2000]["createdAt"]
    broken = {"on": True}

    def misbehave(seen: Seen, rows: list[Row]) -> Reply | None:
        if broken["on"] and (seen.arg("filters[0][value]") or "") >= cutoff:
            return json_reply({"error": "Service unavailable"}, 503)
        return None

    with server(data, misbehave) as hostile:
        failed = run_bounded(config(hostile.url, max_retries=2))
        assert_clear_failure(failed, "Enneo", "503", secrets=[TOKEN])
        assert 0 < len(keys(failed, MESSAGES)) < 3500
        broken["on"] = False
        resumed = run_bounded(config(hostile.url), state=failed.final_state)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    got = set(keys(failed, MESSAGES)) | set(keys(resumed, MESSAGES))
    assert got == {r["conversationId"] for r in data[MESSAGES_PATH]}


# -- pages that are not what was asked for ------------------------------------------------


@pytest.mark.parametrize(("count", "serve"), [(300, 7), (2500, 999)])
def test_pages_shorter_than_asked_lose_nothing(count: int, serve: int) -> None:
    data = {MESSAGES_PATH: messages(count), WORKLOG_PATH: worklog(count)}
    with server(data, serve=serve) as hostile:
        run = run_bounded(config(hostile.url))
    assert_every_row_once(run, data)
    bookmark = run.final_state["bookmarks"][MESSAGES]["replication_key_value"]
    assert bookmark == f"{T0 + timedelta(seconds=count - 1):%Y-%m-%dT%H:%M:%S}+00:00"


def one_moment(rows: list[Row], field: str, start: int, stop: int) -> list[Row]:
    """Rows[start:stop] given the time of rows[start] (a bulk change in one second)."""
    for row in rows[start:stop]:
        row[field] = rows[start][field]
    return rows


@pytest.mark.parametrize(
    "shape",
    [
        "7-per-second",
        "1500-in-one-second-mid-page",
        "1500-in-one-second-from-a-page-start",
    ],
)
def test_equal_times_across_page_boundaries_give_every_row_once(shape: str) -> None:
    # 7 per second: tie groups straddle every page boundary; 1500 in one second: a group
    # larger than a page, walked by offset within it
    if shape == "7-per-second":
        data = {MESSAGES_PATH: messages(4100, ties=7), WORKLOG_PATH: worklog(2100, ties=7)}
    else:
        start = 500 if shape.endswith("mid-page") else 0
        data = {
            MESSAGES_PATH: one_moment(messages(4100), "createdAt", start, start + 1500),
            WORKLOG_PATH: one_moment(worklog(2100), "date", start, start + 1500),
        }
    with server(data) as hostile:
        run = run_bounded(config(hostile.url))
    assert_every_row_once(run, data)


def test_the_same_page_for_every_cursor_is_an_error_not_a_loop() -> None:
    page = messages(1000)
    with HostileServer(
        lambda seen: json_reply(page if seen.path == MESSAGES_PATH else [])
    ) as hostile:
        run = run_bounded(config(hostile.url))
        asked = len(hostile.requests_to(MESSAGES_PATH))
    assert_clear_failure(run, "Enneo", secrets=[TOKEN])
    assert asked <= 6


def test_a_stale_page_is_one_line_and_the_rerun_loses_nothing() -> None:
    data = {MESSAGES_PATH: messages(3300)}
    answers: list[list[Row]] = []
    stale = {"on": True}

    def misbehave(seen: Seen, rows: list[Row]) -> Reply | None:
        # the second page answered with the first page's rows (a stale cache): rows
        # before the cursor, so a later page could hold rows the walk passed
        answers.append(rows)
        if stale["on"] and len(answers) == 2:
            return json_reply(answers[0])
        return None

    with server(data, misbehave) as hostile:
        failed = run_bounded(config(hostile.url))
        assert_clear_failure(failed, "Enneo", "order", secrets=[TOKEN])
        stale["on"] = False
        rerun = run_bounded(config(hostile.url), state=failed.final_state)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    got = set(keys(failed, MESSAGES)) | set(keys(rerun, MESSAGES))
    assert got == {r["conversationId"] for r in data[MESSAGES_PATH]}


def test_rows_out_of_order_are_an_error() -> None:
    rows = messages(1500)
    rows[10], rows[600] = rows[600], rows[10]
    with server({MESSAGES_PATH: rows}) as hostile:
        run = run_bounded(config(hostile.url))
    assert_clear_failure(run, "Enneo", "order", secrets=[TOKEN])


@pytest.mark.parametrize("in_flight", [1, 3])
def test_rows_without_their_time_are_emitted_and_counted(in_flight: int) -> None:
    # A filter on the time cannot exclude rows without one here: every sub-range read side
    # by side meets them, and that is no repeated answer.
    rows = worklog(1800)
    for row in rows[400:403]:
        row["date"] = None
    data = {WORKLOG_PATH: rows}
    with server(data) as hostile:
        settings = config(hostile.url)
        settings["enneo"]["max_concurrent_requests"] = in_flight
        run = run_bounded(settings)
    assert_every_row_once(run, data)
    assert "rows had no date" in run.stderr
    value = run.final_state["bookmarks"][WORKLOG]["replication_key_value"]
    assert value == f"{T0 + timedelta(seconds=1799):%Y-%m-%dT%H:%M:%S}+00:00"


def test_a_row_time_that_is_no_time_is_one_line_naming_the_stream() -> None:
    rows = worklog(30)
    rows[-1]["date"] = "last tuesday"
    with server({WORKLOG_PATH: rows}) as hostile:
        run = run_bounded(config(hostile.url))
    line = assert_clear_failure(run, "Enneo", secrets=[TOKEN])
    assert "enneo_reporting_worklog: a row's date is 'last tuesday'" in line, line


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (Reply(200, b"<html>maintenance</html>", {"Content-Type": "text/html"}), ["JSON"]),
        (json_reply({"message": "Export queued, it will be emailed"}), ["JSON array"]),
        (Reply(200, b'[{"conversationId": 1,', {"Content-Type": "application/json"}), []),
    ],
    ids=["html", "async-export-confirmation", "invalid-json"],
)
def test_an_answer_that_is_no_export_is_one_line(reply: Reply, words: list[str]) -> None:
    with server({MESSAGES_PATH: messages(10)}, lambda seen, rows: reply) as hostile:
        run = run_bounded(config(hostile.url, max_retries=1))
    line = assert_clear_failure(run, "Enneo", *words, secrets=[TOKEN])
    assert "reporting_messages" in line
    assert MESSAGES not in run.records
