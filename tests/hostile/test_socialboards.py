"""Hostile answers to the Socialboards walk: every record, or one line.

Each server below emulates POST /token and POST /tickets/list (creation-time filter,
newest activity first, skip/take clamped at 50) and misbehaves in one way.
"""

from __future__ import annotations

import time
import typing as t
from datetime import datetime, timedelta, timezone

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

STREAM = "socialboards_tickets"
CLIENT_ID = "hostile-client-id-5f3a9c"
REFRESH_TOKEN = "hostile-refresh-token-0123456789"
ACCESS_TOKEN = "hostile-access-token-abcdef987654"
SECRETS = (REFRESH_TOKEN, CLIENT_ID, ACCESS_TOKEN)
T0 = datetime(2024, 3, 1, 8, 0, 0, tzinfo=timezone.utc)
UTC3 = timezone(timedelta(hours=3))


def stamp(moment: datetime) -> str:
    """A time as the API writes it: 7 fractional digits, an offset (+03:00 here)."""
    return moment.astimezone(UTC3).strftime("%Y-%m-%dT%H:%M:%S.%f") + "7+03:00"


def tickets(count: int) -> list[dict[str, t.Any]]:
    """`count` tickets created 7 minutes apart; activity in an order unlike creation."""
    return [
        {
            "id": 5000 + n,
            "creationTime": stamp(T0 + timedelta(minutes=7 * n)),
            "lastThreadElementCreationTime": stamp(T0 + timedelta(days=n % 13, minutes=n)),
        }
        for n in range(count)
    ]


def utc(moment_text: str) -> str:
    return datetime.fromisoformat(moment_text).astimezone(timezone.utc).isoformat()


def config(
    url: str, *, max_concurrent_requests: int | None = None, **top: t.Any
) -> dict[str, t.Any]:
    block = (
        {}
        if max_concurrent_requests is None
        else {"max_concurrent_requests": max_concurrent_requests}
    )
    return {
        "start_date": "2024-02-25T00:00:00Z",
        "end_date": "2024-04-01T00:00:00Z",
        "max_retries": 1,
        "backoff_base_seconds": 0.01,
        "request_timeout": 5,
        "socialboards": {
            "client_id": CLIENT_ID,
            "refresh_token": REFRESH_TOKEN,
            "api_url": url,
            "requests_per_second": 200,
            "requests_per_minute": 12000,
            **block,
        },
        **top,
    }


def token_reply() -> Reply:
    return json_reply(
        {
            "access_token": ACCESS_TOKEN,
            "token_type": "bearer",
            "expires_in": 3599,
            "refresh_token": REFRESH_TOKEN,
        }
    )


def listing(data: list[dict[str, t.Any]], seen: Seen) -> list[dict[str, t.Any]]:
    """What the list holds for the body sent: created in [from, to], newest activity
    first (rows without a creationTime match every filter)."""
    body = seen.json() or {}
    low, high = (datetime.fromisoformat(body[k]) for k in ("from", "to"))
    inside = [
        row
        for row in data
        if not row.get("creationTime") or low <= datetime.fromisoformat(row["creationTime"]) <= high
    ]
    inside.sort(key=lambda r: datetime.fromisoformat(r["lastThreadElementCreationTime"]))
    inside.reverse()
    return inside


def page(data: list[dict[str, t.Any]], seen: Seen, *, extra: int = 0) -> list[dict[str, t.Any]]:
    body = seen.json() or {}
    skip, take = int(body.get("skip") or 0), min(int(body.get("take") or 25), 50)
    return listing(data, seen)[skip : skip + take + extra]


def server_of(lister: t.Callable[[Seen], Reply]) -> HostileServer:
    def script(seen: Seen) -> Reply:
        if seen.path == "/token":
            return token_reply()
        if seen.headers.get("authorization") != f"Bearer {ACCESS_TOKEN}":
            return json_reply({"Message": "Authorization has been denied"}, 401)
        return lister(seen)

    return HostileServer(script)


def envelope(rows: t.Any, code: int = -1, text: str | None = None) -> Reply:
    return json_reply({"data": rows, "errorCode": code, "errorText": text})


def emitted_ids(run: t.Any) -> list[int]:
    return sorted(r["id"] for r in run.records.get(STREAM, []))


def bookmark(run: t.Any) -> str:
    return str(run.final_state["bookmarks"][STREAM]["replication_key_value"])


@pytest.mark.parametrize("first_only", [False, True], ids=["every-page", "first-page"])
def test_one_row_more_than_take_loses_nothing(first_only: bool) -> None:
    """take+1 rows per answer (or only in the first): a later page of exactly `take` rows
    is not taken for the last."""
    data = tickets(600)

    def lister(seen: Seen) -> Reply:
        skip = int((seen.json() or {}).get("skip") or 0)
        extra = 1 if not first_only or skip == 0 else 0
        return envelope(page(data, seen, extra=extra))

    with server_of(lister) as server:
        run = run_bounded(config(server.url), env={"TAP_HELPDESK_LOGLEVEL": "DEBUG"})
    assert run.returncode == 0, run.stderr[-3000:]
    ids = [r["id"] for r in run.records[STREAM]]
    assert sorted(ids) == [r["id"] for r in data], "every ticket"
    assert len(ids) == len(set(ids)), "each once"
    assert bookmark(run) == utc(data[-1]["creationTime"])
    assert len(server.requests_to("/tickets/list")) <= 40
    assert_no_secret(run, SECRETS)


def test_a_server_ignoring_skip_is_one_line_not_a_loop() -> None:
    data = tickets(600)
    with server_of(lambda seen: envelope(listing(data, seen)[:50])) as server:
        run = run_bounded(config(server.url))
    line = assert_clear_failure(run, "Socialboards", "same rows", secrets=SECRETS)
    assert "skip 49" in line
    assert len(server.requests_to("/tickets/list")) <= 6
    assert_no_secret(run, SECRETS)


def test_a_server_ignoring_from_and_to_is_one_line() -> None:
    data = tickets(600)

    def lister(seen: Seen) -> Reply:
        body = seen.json() or {}
        skip = int(body.get("skip") or 0)
        rows = sorted(data, key=lambda r: r["lastThreadElementCreationTime"], reverse=True)
        return envelope(rows[skip : skip + 50])

    with server_of(lister) as server:
        run = run_bounded(config(server.url))
    assert_clear_failure(run, "Socialboards", "outside the range asked for", secrets=SECRETS)
    # the activity walk's first page (it learns the top of the list), then the first slice
    assert len(server.requests_to("/tickets/list")) == 2
    assert STREAM not in run.records


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        (Reply(200, b"", {"Content-Type": "application/json"}), ("expected JSON", "empty body")),
        (envelope(None, 3, "Access to community denied"), ("errorCode 3", "community denied")),
        (envelope(None), ("expected a 'data' list of tickets",)),
        (
            Reply(200, b"<html><body>Sign in</body></html>", {"Content-Type": "text/html"}),
            ("expected JSON", "text/html", "Sign in"),
        ),
    ],
    ids=["empty-body", "error-code", "data-null", "html"],
)
def test_a_bad_answer_under_200_is_one_line(answer: Reply, words: tuple[str, ...]) -> None:
    with server_of(lambda seen: answer) as server:
        run = run_bounded(config(server.url))
    assert_clear_failure(run, "Socialboards: ", *words, secrets=SECRETS)
    assert STREAM not in run.records
    assert len(server.requests_to("/tickets/list")) == 1, "not retried, not skipped"
    assert_no_secret(run, SECRETS)


def test_tickets_without_creation_time_are_emitted_once_and_counted() -> None:
    data = tickets(300)
    data[40]["creationTime"] = None
    del data[41]["creationTime"]
    data[250]["creationTime"] = ""
    with server_of(lambda seen: envelope(page(data, seen))) as server:
        run = run_bounded(config(server.url))
    assert run.returncode == 0, run.stderr[-3000:]
    ids = [r["id"] for r in run.records[STREAM]]
    assert sorted(ids) == [r["id"] for r in data], "every ticket, those without a time too"
    assert len(ids) == len(set(ids)), "each once, though every listing holds them"
    assert "3 tickets had no creationTime" in run.stderr
    assert bookmark(run) == utc(data[-1]["creationTime"])
    assert len(server.requests_to("/tickets/list")) <= 30
    assert_no_secret(run, SECRETS)


@pytest.mark.parametrize("where", ["/token", "/tickets/list"])
def test_a_redirect_is_not_followed_and_nothing_reaches_the_other_host(where: str) -> None:
    with HostileServer(lambda seen: token_reply()) as elsewhere:

        def script(seen: Seen) -> Reply:
            if seen.path == where:
                return Reply(307, b"", {"Location": f"{elsewhere.url}{where}?via=redirect"})
            if seen.path == "/token":
                return token_reply()
            return envelope([])

        with HostileServer(script) as server:
            run = run_bounded(config(server.url), env={"TAP_HELPDESK_LOGLEVEL": "DEBUG"})
        assert elsewhere.seen == [], "the other host received nothing"
    host = elsewhere.url.removeprefix("http://")
    line = assert_clear_failure(run, "Socialboards", "307", host, "not followed", secrets=SECRETS)
    assert "via=redirect" not in line
    assert len(server.requests_to(where)) == 1
    assert_no_secret(run, SECRETS)


def spaced(count: int, first: datetime, minutes: float, base: int) -> list[dict[str, t.Any]]:
    """`count` tickets created `minutes` apart from `first`, ids from `base`."""
    return [
        {
            "id": base + n,
            "creationTime": stamp(first + timedelta(minutes=minutes * n)),
            "lastThreadElementCreationTime": stamp(T0 + timedelta(days=n % 13, minutes=n)),
        }
        for n in range(count)
    ]


def test_a_server_ignoring_skip_in_a_later_slice_is_one_line_at_four_in_flight() -> None:
    """The first slice (600 tickets in its day: dense enough to size the next ones) and the
    second are paged right, slowly; the third, cut ahead and paged side by side with the
    second, gets its first page again for every skip. Its answers are digested ahead of
    their turn and held, and the run stops with one line once its turn comes, the slices
    before it delivered."""
    honest = spaced(600, T0, 2, 5000) + spaced(300, T0 + timedelta(days=1.1), 2, 7000)
    data = honest + spaced(120, T0 + timedelta(days=3), 1, 9000)

    def lister(seen: Seen) -> Reply:
        body = seen.json() or {}
        if datetime.fromisoformat(body["from"]) < T0 + timedelta(days=2.5):
            time.sleep(0.1)  # the slices before: slow, so that the later one runs ahead
            return envelope(page(data, seen))
        return envelope(listing(data, seen)[:50])

    with server_of(lister) as server:
        run = run_bounded(config(server.url, start_date=T0.isoformat(), max_concurrent_requests=4))
    line = assert_clear_failure(run, "Socialboards", "same rows", secrets=SECRETS)
    assert "skip 49" in line
    sent = [s.json() or {} for s in server.requests_to("/tickets/list")]
    ignored = {b["from"] for b in sent if b.get("skip") == 49 and b["from"] >= "2024-03-03"}
    assert len(ignored) == 1, "one later slice was paged"
    (start,) = ignored
    assert start in line, "the later slice is named"
    assert emitted_ids(run) == sorted(r["id"] for r in honest), "the slices before it are out"
    assert bookmark(run) == utc(honest[-1]["creationTime"])
    ahead = [i for i, b in enumerate(sent) if b.get("skip") and b["from"] == start]
    before = [i for i, b in enumerate(sent) if b.get("skip") and b["from"] < start]
    assert ahead[0] < before[-1], "...side by side with the slice before it (peeked)"
    assert len(sent) <= 40
    assert_no_secret(run, SECRETS)


def test_a_lone_surrogate_in_a_ticket_is_read_as_a_replacement_character_not_a_stop() -> None:
    # .NET strings are UTF-16: one cut inside an emoji is sent as a lone "\ud83d" escape
    data = tickets(60)
    data[3]["title"] = "cut inside an emoji \ud83d"
    data[4]["title"] = "whole \U0001f600"

    with server_of(lambda seen: envelope(page(data, seen))) as server:
        run = run_bounded(config(server.url))
    assert run.returncode == 0, run.stderr[-3000:]
    assert emitted_ids(run) == [row["id"] for row in data]
    subjects = {r["id"]: r.get("title") for r in run.records[STREAM]}
    assert subjects[5003] == "cut inside an emoji \ufffd"
    assert subjects[5004] == "whole \U0001f600"
    warnings = [line for line in run.stderr.splitlines() if "U+FFFD" in line]
    assert len(warnings) == 1, run.stderr[-3000:]
    assert "lone UTF-16 surrogates" in warnings[0]
    assert "Socialboards (" in warnings[0]
    assert_no_secret(run, SECRETS)
