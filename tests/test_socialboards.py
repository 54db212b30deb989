"""Socialboards tickets against the sandbox: completeness, paging while tickets move,
token renewal and rotation, incremental runs, faults and bad input."""

from __future__ import annotations

import json
import typing as t
from datetime import datetime, timezone

import pytest
import requests

from sandbox.server import Response
from sandbox.socialboards import (
    ACCESS_TOKEN_PREFIX,
    CLIENT_ID,
    ORDER_BY,
    REFRESH_TOKEN,
    parse_time,
)
from tests.conftest import assert_no_secret, tap_config
from tests.tap_runner import TapRun, run_tap, run_tap_until

if t.TYPE_CHECKING:
    from sandbox.server import Sandbox
    from sandbox.socialboards import SocialboardsAPI

STREAM = "socialboards_tickets"
CREDENTIALS = "check socialboards.refresh_token and socialboards.client_id"


def config(sandbox: Sandbox, *, rate: float | None = 200, **top: t.Any) -> dict[str, t.Any]:
    """Tap settings for the sandbox; `rate` lifts the default 10 requests/s to keep tests quick."""
    settings = tap_config(sandbox, "socialboards", **top)
    if rate is not None:
        settings["socialboards"].update(requests_per_second=rate, requests_per_minute=60 * rate)
    return settings


def api_of(sandbox: Sandbox) -> SocialboardsAPI:
    return t.cast("SocialboardsAPI", sandbox.apis["socialboards"])


def assert_clean(run: TapRun, api: SocialboardsAPI) -> None:
    """No refresh token (configured or rotated) and no access token in stdout, stderr or state."""
    secrets = [REFRESH_TOKEN, *api.issued_refresh_tokens, *api.issued_access_tokens]
    assert_no_secret(run.stdout, run.stderr, json.dumps(run.states), secrets=secrets)
    assert ACCESS_TOKEN_PREFIX not in run.stdout + run.stderr


def bookmark(state: dict[str, t.Any] | None) -> str | None:
    if not state:
        return None
    return state["bookmarks"].get(STREAM, {}).get("replication_key_value")


def test_full_sync_is_complete_in_utc_and_close_to_one_request_per_page(make_sandbox):
    sandbox = make_sandbox("socialboards", sizes={"socialboards": 1500})
    started = datetime.now(timezone.utc)
    run = run_tap(config(sandbox))
    finished = datetime.now(timezone.utc)
    assert run.returncode == 0, run.stderr
    api, truth = api_of(sandbox), sandbox.truth()[STREAM]
    records = run.records[STREAM]
    assert sorted(r["id"] for r in records) == truth["ids"], "every ticket exactly once"
    assert len(records) == truth["count"] == 1500
    # the sandbox writes 7 fractional digits and offsets from -05:00 to +07:00
    assert len({ticket["_created_offset"] for ticket in api.tickets.values()}) > 3
    for record in records:
        assert record["creationTime"] == api.utc(record["id"], "creationTime")
        assert record["lastThreadElementCreationTime"] == api.utc(
            record["id"], "lastThreadElementCreationTime"
        )
        assert record["creationTime"].endswith("+00:00")
        assert record["inboxId"] in {301, 302}, "a field the docs do not list is carried"
    times = [r["creationTime"] for r in records]
    assert times == sorted(times), "emitted in creation order, so the bookmark is resumable"
    assert bookmark(run.final_state) == times[-1]
    # 120 tickets of a bulk import share one creation instant: all of them arrive
    instants = [ticket["_created"] for ticket in api.tickets.values()]
    assert max(instants.count(x) for x in set(instants)) == 120
    # requests: one token, and about one listing per 49 tickets (plus one look at the top
    # of each slice and the first slices' growth): 31 pages would be the floor
    paths = sandbox.stats()["paths"]
    assert paths["/token"] == 1
    assert paths["/tickets/list"] <= 45, paths
    for body in api.bodies:
        assert body["take"] == 50
        assert body["orderBy"] == ORDER_BY
    # slices run up to the moment the sync started (tickets created later wait for the next)
    last_to = max(parse_time(body["to"]) for body in api.bodies)
    assert parse_time(started.isoformat()) <= last_to <= parse_time(finished.isoformat())
    assert run.schemas[STREAM]["properties"]["creationTime"]["format"] == "date-time"
    assert_clean(run, api)


def test_a_server_that_clamps_take_lower_still_gives_every_ticket(make_sandbox):
    """The API clamps take silently: ask 50, get 20. A short page is not the last page."""
    sandbox = make_sandbox("socialboards", sizes={"socialboards": 700})
    api = api_of(sandbox)
    api.max_take = 20
    run = run_tap(config(sandbox))
    assert run.returncode == 0, run.stderr
    assert sorted(run.ids(STREAM)) == sandbox.truth()[STREAM]["ids"]
    assert len(run.records[STREAM]) == 700
    assert {body["take"] for body in api.bodies} == {50}


def naive_walk(url: str) -> set[int]:
    """What a plain skip/take walk over the whole range sees, stopping at a short page."""
    token = requests.post(
        f"{url}/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": REFRESH_TOKEN,
            "client_id": CLIENT_ID,
        },
        timeout=10,
    ).json()["access_token"]
    body: dict[str, t.Any] = {
        "from": "2024-01-01T00:00:00+00:00",
        "to": datetime.now(timezone.utc).isoformat(),  # tickets created meanwhile stay out
        "orderBy": ORDER_BY,
        "take": 50,
        "skip": 0,
    }
    seen: set[int] = set()
    while True:
        rows = requests.post(
            f"{url}/tickets/list",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        ).json()["data"]
        seen |= {row["id"] for row in rows}
        if len(rows) < 50:
            return seen
        body["skip"] += 50


def test_replies_mid_sync_make_a_naive_walk_lose_tickets_but_not_the_tap(make_sandbox):
    """Every request posts a reply (the ticket jumps to the top) and creates a ticket."""
    naive_box = make_sandbox("socialboards", sizes={"socialboards": 1500}, mutate_every=1)
    existing = set(naive_box.truth()[STREAM]["ids"])
    lost = existing - naive_walk(naive_box.url)
    assert lost, "the sandbox reproduces the shift"
    assert lost <= set(api_of(naive_box).replied), "the lost tickets are those that got a reply"

    sandbox = make_sandbox("socialboards", sizes={"socialboards": 1500}, mutate_every=1)
    existing = set(sandbox.truth()[STREAM]["ids"])
    run = run_tap(config(sandbox))
    assert run.returncode == 0, run.stderr
    api = api_of(sandbox)
    assert len(api.replied) > 30, "tickets moved all through the sync"
    assert not existing - run.ids(STREAM), "no ticket that existed at the start is skipped"
    new = set(sandbox.truth()[STREAM]["ids"]) - existing
    assert new
    assert not new & run.ids(STREAM), "tickets created mid-sync wait for the next run"
    times = [r["creationTime"] for r in run.records[STREAM]]
    assert times == sorted(times)


def test_incremental_runs_read_lookback_and_new_tickets_full_refresh_reads_all(make_sandbox):
    sandbox = make_sandbox("socialboards", sizes={"socialboards": 800})
    settings = config(sandbox, lookback_days=1)
    first = run_tap(settings)
    assert first.returncode == 0, first.stderr
    first_mark = bookmark(first.final_state)
    assert first_mark is not None
    assert first_mark == max(r["creationTime"] for r in first.records[STREAM])

    api = api_of(sandbox)
    for _ in range(5):
        api.mutate()  # five new tickets (created now) and five replies to old ones
    created = set(sandbox.truth()[STREAM]["ids"]) - first.ids(STREAM)
    sandbox.configure(mutate_every=3)  # and more while the second run is under way
    listings = sandbox.stats()["paths"]["/tickets/list"]
    second = run_tap(settings, state=first.final_state)
    assert second.returncode == 0, second.stderr
    assert created <= second.ids(STREAM)
    lookback = [r for r in second.records[STREAM] if r["creationTime"] <= first_mark]
    assert 0 < len(lookback) < 20, "only the last day before the bookmark is re-read"
    assert len(second.records[STREAM]) < 30
    for state in second.states:
        assert (bookmark(state) or first_mark) >= first_mark, "a bookmark moved back"
    # the sandbox's data ends in 2024, so slices widen 4-fold a few times over 2025-26; a
    # slice holding tickets costs its page, a page past it (the page size is not known yet
    # in this run) and a last look at its top
    assert sandbox.stats()["paths"]["/tickets/list"] - listings <= 12

    sandbox.configure(mutate_every=0)
    third = run_tap(settings, state=second.final_state)
    assert third.returncode == 0, third.stderr
    third_mark, second_mark = bookmark(third.final_state), bookmark(second.final_state)
    assert third_mark is not None
    assert second_mark is not None
    assert third_mark >= second_mark
    every = first.ids(STREAM) | second.ids(STREAM) | third.ids(STREAM)
    assert sorted(every) == sandbox.truth()[STREAM]["ids"], "tickets created mid-run come next"

    # full_refresh: every ticket again, from start_date, and still no bookmark moves back
    settings["socialboards"]["full_refresh"] = True
    again = run_tap(settings, state=third.final_state)
    assert again.returncode == 0, again.stderr
    assert sorted(again.ids(STREAM)) == sandbox.truth()[STREAM]["ids"]
    assert all(bookmark(s) == bookmark(third.final_state) for s in again.states)


def test_killed_run_resumes_from_its_last_state_without_gaps(make_sandbox):
    sandbox = make_sandbox("socialboards", sizes={"socialboards": 1500})
    settings = config(sandbox)
    # the bookmark moves once per creation-time slice (about 700 tickets, fewer in the first
    # slices), so the run is killed at the first STATE after 300 tickets, not the fourth
    killed = run_tap_until(settings, stop_after_records=(STREAM, 300))
    assert killed.returncode != 0
    assert 300 <= len(killed.ids(STREAM)) < 1500
    resumed = run_tap(settings, state=killed.final_state)
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(killed.ids(STREAM) | resumed.ids(STREAM)) == sandbox.truth()[STREAM]["ids"]
    assert len(resumed.ids(STREAM)) < 1500 - 250, "the resumed run starts at the bookmark"


def test_ten_percent_faults_still_give_every_ticket(make_sandbox):
    sandbox = make_sandbox("socialboards", sizes={"socialboards": 1500}, fault_rate=0.10, seed=11)
    run = run_tap(config(sandbox))
    assert run.returncode == 0, run.stderr
    assert sorted(run.ids(STREAM)) == sandbox.truth()[STREAM]["ids"]
    statuses = sandbox.stats()["statuses"]
    assert sum(v for k, v in statuses.items() if "fault" in k) >= 5, statuses
    assert_clean(run, api_of(sandbox))


def test_a_token_is_renewed_before_it_expires(make_sandbox):
    sandbox = make_sandbox("socialboards", sizes={"socialboards": 1500})
    api = api_of(sandbox)
    api.token_lifetime = 2.0  # the endpoint says expires_in=1
    run = run_tap(config(sandbox, rate=20))
    assert run.returncode == 0, run.stderr
    assert sorted(run.ids(STREAM)) == sandbox.truth()[STREAM]["ids"]
    assert len(api.issued_access_tokens) >= 2
    assert "socialboards:401" not in sandbox.stats()["statuses"], "no request met a dead token"
    assert_clean(run, api)


def test_a_token_refused_mid_sync_is_renewed_with_the_rotated_refresh_token(make_sandbox):
    """Tokens die after 0.3 s although the endpoint promises an hour, and every exchange
    returns a new refresh token and retires the one sent."""
    sandbox = make_sandbox("socialboards", sizes={"socialboards": 1500})
    api = api_of(sandbox)
    api.token_lifetime, api.advertised_expires_in = 0.3, 3599
    api.rotate_refresh_tokens = True
    # about two seconds, logging at debug level: the secret scan sees everything; one
    # request at a time, so that each 401 is its own (several in flight meeting one dead
    # token: tests/test_socialboards_concurrency.py)
    settings = config(sandbox, rate=20)
    settings["socialboards"]["max_concurrent_requests"] = 1
    run = run_tap(settings, env={"TAP_HELPDESK_LOGLEVEL": "DEBUG"})
    assert run.returncode == 0, run.stderr
    assert "DEBUG" in run.stderr
    assert sorted(run.ids(STREAM)) == sandbox.truth()[STREAM]["ids"]
    refused = sandbox.stats()["statuses"].get("socialboards:401", 0)
    assert refused >= 1
    assert len(api.issued_access_tokens) == refused + 1, "one new token per 401, then retried"
    assert run.stderr.count("access token refused (HTTP 401); renewing it") == refused
    rotations = len(api.issued_refresh_tokens)
    assert rotations == refused + 1, "each exchange used the refresh token rotated before it"
    assert run.stderr.count("the token endpoint rotated the refresh token") == rotations
    assert_clean(run, api)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("per_second", "most"),
    [
        (None, 10),  # the default: 300 a minute, bursts of at most 10 a second
        (5, 5),  # the default until 2 Dec, set
    ],
)
def test_default_budget_and_end_date_are_kept(make_sandbox, per_second, most):
    sandbox = make_sandbox("socialboards", sizes={"socialboards": 300})
    settings = config(sandbox, rate=None, end_date="2024-10-01T00:00:00+02:00")
    if per_second is not None:
        settings["socialboards"]["requests_per_second"] = per_second
    run = run_tap(settings)
    assert run.returncode == 0, run.stderr
    end = parse_time("2024-10-01T00:00:00+02:00")
    api = api_of(sandbox)
    assert sorted(run.ids(STREAM)) == sorted(
        i for i, x in api.tickets.items() if x["_created"] <= end
    )
    assert max(parse_time(body["to"]) for body in api.bodies) == end
    stats = sandbox.stats()
    assert stats["peak_per_second"]["socialboards"] <= most
    if per_second is None:  # the default is spent, not the old one
        assert stats["peak_per_second"]["socialboards"] > 5
    assert stats["peak_per_minute"]["socialboards"] <= 300
    assert stats["requests"]["socialboards"] >= 10


@pytest.mark.parametrize(
    ("setting", "value", "reason"),
    [
        ("refresh_token", "sbx-refresh-wrong-value-0042", "invalid_grant"),
        ("client_id", "someone-else", "invalid_client"),
    ],
)
def test_wrong_credentials_give_one_clear_line(make_sandbox, setting, value, reason):
    sandbox = make_sandbox("socialboards", sizes={"socialboards": 10})
    settings = config(sandbox)
    settings["socialboards"][setting] = value
    run = run_tap(settings)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert run.error_lines() == [
        "tap-helpdesk: error: Socialboards: authentication failed at /token "
        f"(HTTP 400: {reason}): {CREDENTIALS}"
    ]
    assert_no_secret(run.stdout, run.stderr, secrets=["sbx-refresh-wrong-value-0042"])
    assert_clean(run, api_of(sandbox))


def test_a_fresh_token_refused_too_gives_one_clear_line(make_sandbox):
    sandbox = make_sandbox("socialboards", sizes={"socialboards": 10})
    api_of(sandbox).token_lifetime = 0.0  # every access token is dead on arrival
    run = run_tap(config(sandbox))
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert run.error_lines() == [
        "tap-helpdesk: error: Socialboards: authentication failed (HTTP 401 with a new "
        f"access token): {CREDENTIALS}"
    ]
    assert sandbox.stats()["paths"] == {"/token": 2, "/tickets/list": 2}
    assert_clean(run, api_of(sandbox))


def test_an_error_envelope_under_http_200_gives_one_clear_line(make_sandbox):
    sandbox = make_sandbox("socialboards", sizes={"socialboards": 10})
    api_of(sandbox).envelope_error = (7, "Community 'acme' is disabled")
    run = run_tap(config(sandbox))
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert run.error_lines() == [
        "tap-helpdesk: error: Socialboards: /tickets/list answered errorCode 7: "
        "Community 'acme' is disabled"
    ]
    assert STREAM not in run.records


HTML = b"<html><body><h1>Down for maintenance</h1></body></html>"


@pytest.mark.parametrize(
    ("where", "answer", "expected"),
    [
        (
            "list",
            Response(200, HTML, {"Content-Type": "text/html"}),
            "expected JSON from /tickets/list but got text/html (HTTP 200): Down for maintenance",
        ),
        (
            "list",
            Response(200, b'{"data": [{"id": 1', {"Content-Type": "application/json"}),
            "expected JSON from /tickets/list",
        ),
        (
            "list",
            Response(
                200, b'{"data": "none", "errorCode": -1}', {"Content-Type": "application/json"}
            ),
            "expected a 'data' list of tickets from /tickets/list",
        ),
        ("token", "502-html", "HTTP 502 from /token: 502 Bad Gateway"),
    ],
)
def test_bad_bodies_give_one_clear_line(make_sandbox, where, answer, expected):
    if where == "token":  # the first request of a run is the token exchange
        sandbox = make_sandbox(
            "socialboards", sizes={"socialboards": 10}, fault_rate=1.0, fault_kinds=(answer,)
        )
    else:
        sandbox = make_sandbox("socialboards", sizes={"socialboards": 10})
        api_of(sandbox).list_response = answer
    run = run_tap(config(sandbox, max_retries=1))
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    errors = run.error_lines()
    assert len(errors) == 1, errors
    assert errors[0].startswith("tap-helpdesk: error: Socialboards: ")
    assert expected in errors[0]
    assert_clean(run, api_of(sandbox))


def test_activity_walk_brings_every_reply_and_new_ticket_and_little_else(make_sandbox):
    """Run; replies on old tickets, new tickets, tag edits; more of them while the second
    run walks the list; rerun from the final STATE, and again: every ticket's latest
    activity arrives, and the rerun reads little but what changed."""
    sandbox = make_sandbox("socialboards", sizes={"socialboards": 800})
    settings = config(sandbox)
    api = api_of(sandbox)
    first = run_tap(settings)
    assert first.returncode == 0, first.stderr
    assert first.final_state is not None
    state = first.final_state["bookmarks"][STREAM]
    assert state["replication_key"] == "creationTime"
    assert state["activity_key"] == "lastThreadElementCreationTime"
    top = max(api.utc(i, "lastThreadElementCreationTime") for i in api.tickets)
    assert state["activity_value"] == top, "the activity at the top of the list"

    before = set(api.tickets)
    for _ in range(5):
        api.mutate()  # a new ticket, a reply on an old one (to the top), a tag edit
    replied_before = set(api.replied)
    created_before = set(api.tickets) - before
    sandbox.configure(mutate_every=3)  # and replies while the walk passes the list
    listings = sandbox.stats()["paths"]["/tickets/list"]
    second = run_tap(settings, state=first.final_state)
    assert second.returncode == 0, second.stderr
    second_requests = sandbox.stats()["paths"]["/tickets/list"] - listings
    assert created_before <= second.ids(STREAM)
    assert replied_before <= second.ids(STREAM), "every reply on an old ticket arrives"
    replied_during = set(api.replied) - replied_before
    assert replied_during, "tickets moved while the second run walked"
    assert "the activity walk read" in second.stderr
    for later_state in second.states:
        mark = later_state["bookmarks"][STREAM]
        assert mark["replication_key_value"] >= state["replication_key_value"]
        assert mark.get("activity_value", top) >= top, "a bookmark moved back"

    sandbox.configure(mutate_every=0)
    third = run_tap(settings, state=second.final_state)
    assert third.returncode == 0, third.stderr
    latest: dict[int, str] = {}
    for run in (first, second, third):
        for record in run.records.get(STREAM, []):
            latest[record["id"]] = record["lastThreadElementCreationTime"]
    stale = [i for i in api.tickets if latest.get(i) != api.utc(i, "lastThreadElementCreationTime")]
    assert not stale, "each ticket's latest activity arrived, in the second run or the third"

    changed = created_before | replied_before | replied_during
    ratio = len(second.records[STREAM]) / len(changed)
    print(
        f"rerun: {len(second.records[STREAM])} records for {len(changed)} tickets created or "
        f"replied to (ratio {ratio:.2f}), {second_requests} listing requests"
    )
    assert ratio <= 3, "the rerun reads little but what changed"
    assert second_requests <= 20
