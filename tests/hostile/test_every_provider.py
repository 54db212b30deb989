"""The hostile answers every provider can meet, for every provider: one line, never a record.

The server answers Socialboards' token exchange properly (so that its list is reached) and
every other request in one hostile way: a redirect to another host, an empty body, an
error object or an HTML page under HTTP 200, a body trickling past request_timeout. The
credentials are the sandbox's own (tests scan for them): none may appear anywhere, and
the other host must receive nothing.
"""

from __future__ import annotations

import json
import typing as t

import pytest

from sandbox import SECRETS, tap_settings
from tap_helpdesk.providers import PROVIDERS
from tests.hostile.server import (
    HostileServer,
    Reply,
    Seen,
    assert_clear_failure,
    assert_no_secret,
    json_reply,
    run_bounded,
)

KEYS = ("filum", "socialboards", "teamwork_desk", "proprofs", "enneo")
ERROR_OBJECT = {"error": "internal failure", "detail": "internal failure", "status": "error"}
HTML = b"<html><body><h1>Service temporarily unavailable</h1></body></html>"


def token(seen: Seen) -> Reply | None:
    """Socialboards' token exchange, answered properly; None for any other request."""
    if seen.path.endswith("/token"):
        return json_reply(
            {
                "access_token": "hostile-access-token-7f3e",
                "expires_in": 3599,
                "token_type": "bearer",
            }
        )
    return None


def hostile(kind: str, elsewhere: str) -> t.Callable[[Seen], Reply]:
    def script(seen: Seen) -> Reply:
        answer = token(seen)
        if answer is not None:
            return answer
        if kind == "redirect":
            return Reply(307, b"", {"Location": f"{elsewhere}{seen.path}?moved=1"})
        if kind == "empty":
            return Reply(200, b"", {"Content-Type": "application/json"})
        if kind == "error-object":
            return json_reply(ERROR_OBJECT)
        if kind == "html":
            return Reply(200, HTML, {"Content-Type": "text/html"})
        payload = json.dumps({"data": [], "tickets": []}).encode() * 40
        return Reply(200, payload, {"Content-Type": "application/json"}, trickle=0.05)

    return script


def config(key: str, url: str) -> dict[str, t.Any]:
    block = {
        **tap_settings(key, url),
        "requests_per_second": 100,
        "requests_per_minute": 6000,
    }
    return {
        "start_date": "2024-11-01T00:00:00Z",
        "end_date": "2024-11-20T00:00:00Z",
        "max_retries": 1,
        "backoff_base_seconds": 0.01,
        "request_timeout": 1,
        key: block,
    }


@pytest.mark.parametrize("kind", ["redirect", "empty", "error-object", "html", "trickle"])
@pytest.mark.parametrize("key", KEYS)
def test_a_hostile_answer_is_one_line_and_never_a_record(key: str, kind: str) -> None:
    with HostileServer(lambda seen: Reply(200, b"{}")) as other:
        with HostileServer(hostile(kind, other.url)) as server:
            run = run_bounded(config(key, server.url))
        assert other.seen == [], "a request followed a redirect to another host"
    line = assert_clear_failure(run, PROVIDERS[key].label)
    if kind == "redirect":
        assert "307" in line
        assert "moved=1" not in line  # a redirect's query is never shown
    assert not any(run.records.values()), "a record was built from a hostile answer"
    assert_no_secret(run, SECRETS)
    list_requests = [s for s in server.seen if not s.path.endswith("/token")]
    assert 1 <= len(list_requests) <= 4  # the first try and at most its retries


def listing(key: str, rows: list[t.Any]) -> t.Any:
    """Each provider's documented envelope around a list of rows."""
    if key == "teamwork_desk":
        return {"tickets": rows, "included": {}, "meta": {"page": {"hasMore": False}}}
    if key == "proprofs":
        return {"status": "success", "ticket_data": {"tickets": rows, "total_tickets": len(rows)}}
    if key == "socialboards":
        return {"errorCode": -1, "data": rows}
    return rows  # Enneo: a bare array


@pytest.mark.parametrize("row", [7, None, "ticket", [1]], ids=["number", "null", "text", "list"])
@pytest.mark.parametrize("key", ["enneo", "teamwork_desk", "proprofs", "socialboards"])
def test_a_list_of_tickets_holding_something_else_is_one_line(key: str, row: t.Any) -> None:
    def script(seen: Seen) -> Reply:
        return token(seen) or json_reply(listing(key, [row]))

    with HostileServer(script) as server:
        run = run_bounded(config(key, server.url))
    line = assert_clear_failure(run, PROVIDERS[key].label, "expected")
    assert "Error:" not in line, "a Python error, not a line about the answer"
    assert not any(run.records.values())
    assert_no_secret(run, SECRETS)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'[{"id": 1, "x": ' + b"[" * 5000 + b"]" * 5000 + b"}]", ("nests deeper",)),
        (b'[{"id": 1, "subject": 1e400}]', ("Number out of range",)),
    ],
    ids=["nested-5000-deep", "number-out-of-range"],
)
@pytest.mark.parametrize("key", ["enneo", "teamwork_desk"])
def test_json_the_decoder_cannot_read_is_one_line_saying_why(
    key: str, body: bytes, words: tuple[str, ...]
) -> None:
    def script(seen: Seen) -> Reply:
        return Reply(200, body, {"Content-Type": "application/json"})

    with HostileServer(script) as server:
        run = run_bounded(config(key, server.url))
    line = assert_clear_failure(run, PROVIDERS[key].label, "expected JSON", *words)
    assert "RecursionError" not in line
    assert not any(run.records.values())


@pytest.mark.parametrize(
    ("key", "field", "first", "odd"),
    [
        ("teamwork_desk", "updatedAt", "2024-11-05T10:00:00Z", "2024-11-05T10:61:00Z"),
        ("enneo", "modifiedAt", "2024-11-05 10:00:00", "2024-11-05 10:61:00"),
    ],
)
def test_a_key_the_walk_pages_on_that_is_no_time_is_one_line_naming_the_row(
    key: str, field: str, first: str, odd: str
) -> None:
    rows = [{"id": 1, field: first}, {"id": 2, field: odd}]

    def script(seen: Seen) -> Reply:
        if key == "enneo" and "ticket" not in seen.path:
            return json_reply([])
        first_page = int(seen.arg("offset") or 0) == 0
        return json_reply(listing(key, rows if first_page else []))

    with HostileServer(script) as server:
        run = run_bounded(config(key, server.url))
    line = assert_clear_failure(run, PROVIDERS[key].label, "(id=2)", repr(odd))
    assert f"_tickets: a row's {field} is {odd!r}" in line
    assert "UnreadableValue" not in line
    assert odd not in json.dumps(run.records)
    assert_no_secret(run, SECRETS)
