"""ProProfs Help Desk against the sandbox: completeness, paging while the data changes,
incremental runs, faults, bad input and secrets."""

from __future__ import annotations

import json
import math
import typing as t
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import duckdb
import pytest
import requests

from sandbox import proprofs as fake
from tap_helpdesk.providers.proprofs import three_month_windows
from tap_helpdesk.providers.proprofs.records import as_bool, as_list, as_object
from tap_helpdesk.tap import TapHelpdesk
from tap_helpdesk.windows import add_months
from tests.conftest import assert_no_secret, tap_config
from tests.tap_runner import peak_memory_mb, run_tap, run_tap_until

TICKETS, MESSAGES = "proprofs_tickets", "proprofs_ticket_messages"
LIST = f"{fake.PATH}"
AUTH_LINE = (
    "tap-helpdesk: error: ProProfs Help Desk: Unable to authenticate request using account "
    "email and token: check proprofs.account_email and proprofs.token"
)


def config(sandbox, *, fast: bool = True, width: int | None = None, **top):
    """Tap settings for the sandbox; `fast` lifts the 10/s default so tests stay quick.

    `width`: max_concurrent_requests (1 for tests that count requests one at a time).
    """
    settings = tap_config(sandbox, "proprofs", **top)
    if width is not None:
        settings["proprofs"]["max_concurrent_requests"] = width
    if fast:
        settings["proprofs"]["requests_per_second"] = 200
        settings["proprofs"]["requests_per_minute"] = 100_000
    return settings


def message_keys(run) -> list[list]:
    return sorted([r["ticket_id"], r["position"]] for r in run.records.get(MESSAGES, []))


def pages_for(api, call) -> int:
    """Pages a quiet walk of one requested range needs (at least one request)."""
    low, high = call["range"]
    count = sum(
        low <= t["modified"].astimezone(api.zone).replace(tzinfo=None) <= high
        for t in api.tickets.values()
    )
    return max(1, math.ceil(count / fake.PER_PAGE))


def test_full_sync_is_complete_in_utc_with_messages_and_no_wasted_request(make_sandbox):
    sandbox = make_sandbox("proprofs", sizes={"proprofs": fake.DEFAULT_SIZE})
    run = run_tap(config(sandbox))
    assert run.returncode == 0, run.stderr
    api, truth = sandbox.apis["proprofs"], sandbox.truth()
    assert sorted(run.ids(TICKETS, "ticket_id")) == truth[TICKETS]["ids"]
    assert len(run.records[TICKETS]) == truth[TICKETS]["count"] == fake.DEFAULT_SIZE
    assert message_keys(run) == truth[MESSAGES]["ids"]
    assert len(run.records[MESSAGES]) == truth[MESSAGES]["count"]
    assert set(run.schemas) == {TICKETS, MESSAGES}

    for record in run.records[TICKETS]:
        source = api.tickets[int(record["ticket_id"])]
        assert isinstance(record["ticket_id"], str)
        assert record["modified_date_time"] == api.utc(record["ticket_id"], "modified")
        assert record["created_date_time"] == api.utc(record["ticket_id"], "created")
        assert record["ticket_due_date"] == api.utc(record["ticket_id"], "due")
        assert record["deleted"] is source["deleted"]
        assert record["staff"] == source["staff"]  # "" (unassigned) becomes null
        assert isinstance(record["custom_fields"], list)
        assert isinstance(record["labels"], list)
        assert record["ticket_subject"] == source["subject"]
        assert record.get("ticket_rating") == source.get("ticket_rating"), "new fields pass"
        for message in record["messages"]:
            assert message["created"].endswith("+00:00")
    assert any(r["deleted"] for r in run.records[TICKETS])
    assert any(r["staff"] is None for r in run.records[TICKETS])
    for row in run.records[MESSAGES]:
        source = api.tickets[int(row["ticket_id"])]["messages"][row["position"] - 1]
        assert row["created"] == source["created"].astimezone(timezone.utc).isoformat()
        assert row["message_plain_text"] == source["text"]
        assert row["reply_by"] == source.get("reply_by")

    assert run.final_state is not None
    bookmark = run.final_state["bookmarks"][TICKETS]["replication_key_value"]
    assert bookmark == max(r["modified_date_time"] for r in run.records[TICKETS])

    # The requests: POST, credentials in the body, each range within 3 months, one request
    # per page of each range and no more (messages cost none), page links POSTed as given.
    calls = api.calls
    assert sandbox.stats()["requests"]["proprofs"] == len(calls)
    assert {c["method"] for c in calls} == {"POST"}
    assert all(
        {"account_email", "token", "start_last_modified_date"} <= set(c["keys"]) for c in calls
    )
    firsts = [c for c in calls if c["page"] == "1"]
    for call in firsts:
        low, high = call["range"]
        assert low < high <= add_months(low, 3)
        assert [c["page"] for c in calls if c["range"] == call["range"]] == [
            str(n) for n in range(1, pages_for(api, call) + 1)
        ]
    # (several windows are in flight at the default width: their first pages arrive in any order)
    windows = sorted((c for c in firsts if c["end"]), key=lambda c: c["start"])
    assert [c["start"] for c in windows[1:]] == [c["end"] for c in windows[:-1]], "no gap"
    assert windows[0]["start"] == "2023-12-31 18:00:00", "start_date in America/Chicago"
    assert firsts[-1]["end"] is None, "the tail reads from the last window's end up to now"
    assert len(calls) == sum(pages_for(api, c) for c in firsts)
    assert_no_secret(run.stdout, run.stderr)


def test_the_messages_stream_logs_its_start_and_its_metrics_once_a_run(make_sandbox):
    # The SDK syncs a child stream once per page it is handed (run_metrics.py): its
    # "Beginning sync" line and its record_count and sync_duration are one each a run.
    sandbox = make_sandbox("proprofs", sizes={"proprofs": 300})
    run = run_tap(config(sandbox))
    assert run.returncode == 0, run.stderr[-3000:]
    pages = [m for m in run.metrics(TICKETS) if m[0] == "http_request_duration"]
    assert len(pages) > 10
    assert run.stderr.count(f"Beginning sync of '{MESSAGES}'") == 1
    (count, records, _), (timer, seconds, status) = run.metrics(MESSAGES)  # two points
    assert (count, records) == ("record_count", len(run.records[MESSAGES]))
    assert (timer, status) == ("sync_duration", "succeeded")
    assert seconds >= 0
    assert len(run.records[MESSAGES]) == sandbox.truth()[MESSAGES]["count"]


def test_sandbox_keeps_the_documented_rules(make_sandbox):
    """The emulator itself: envelopes under HTTP 200, the 3-month rule, 25 per page."""
    sandbox = make_sandbox("proprofs", sizes={"proprofs": 60})
    url = sandbox.url + fake.PATH
    body = {"account_email": fake.EMAIL, "token": fake.TOKEN}

    def post(**fields):
        answer = requests.post(url, json={**body, **fields}, timeout=10)
        assert answer.status_code == 200
        return answer.json()

    too_wide = post(
        start_last_modified_date="2024-01-01 00:00:00", end_last_modified_date="2024-04-01 00:00:01"
    )
    assert too_wide == {
        "status": "error",
        "description": "The start and end dates should fall within a 3-month range",
    }
    assert (
        post(
            start_last_modified_date="2024-02-01 00:00:00",
            end_last_modified_date="2024-01-01 00:00:00",
        )["status"]
        == "error"
    )
    assert post(token="nope")["description"].startswith("Unable to authenticate")
    page = post(
        start_last_modified_date="2024-01-01 00:00:00", end_last_modified_date="2024-03-31 23:59:59"
    )
    data = page["ticket_data"]
    assert data["ticket_per_page"] == 25
    assert (
        len(data["tickets"]) == data["total_tickets_on_page"] == min(25, int(data["total_tickets"]))
    )
    assert isinstance(data["total_tickets"], str)
    if int(data["total_tickets"]) > 25:
        assert data["next_page_link"] == f"{url}?page=2"
    assert requests.get(url, json=body, timeout=10).status_code == 405
    ticket = data["tickets"][0]
    assert ticket["deleted"] in {"0", "1"}
    datetime.strptime(ticket["modified_date_time"], "%Y-%m-%d %H:%M:%S")


def test_incremental_run_reads_only_the_lookback_and_what_changed(make_sandbox):
    sandbox = make_sandbox("proprofs", sizes={"proprofs": 400})
    settings = config(sandbox, lookback_days=1)
    first = run_tap(settings)
    assert first.returncode == 0, first.stderr
    assert first.final_state is not None
    bookmark = first.final_state["bookmarks"][TICKETS]["replication_key_value"]
    api = sandbox.apis["proprofs"]
    for _ in range(4):
        api.mutate()  # a new ticket and a reply to an old one
    before = len(api.calls)

    second = run_tap(settings, state=first.final_state)
    assert second.returncode == 0, second.stderr
    tickets = second.records[TICKETS]
    changed = {t["ticket_id"] for t in tickets if t["modified_date_time"] > bookmark}
    assert changed == {i for i in sandbox.truth()[TICKETS]["ids"] if api.utc(i) > bookmark}
    assert len(changed) >= 5, "4 new tickets and replies to old ones"
    assert len(tickets) < 30, "only the lookback day and the changes are re-read"
    for ticket_id in changed:
        latest = next(t for t in tickets if t["ticket_id"] == ticket_id)
        assert latest["modified_date_time"] == api.utc(ticket_id, "modified")
        assert len([m for m in second.records[MESSAGES] if m["ticket_id"] == ticket_id]) == len(
            api.tickets[int(ticket_id)]["messages"]
        )
    # from the bookmark minus a day to now: 3-month windows (empty after the data ends), a tail
    start = datetime.fromisoformat(bookmark) - timedelta(days=1)
    local = start.astimezone(api.zone).replace(tzinfo=None)
    windows = three_month_windows(local, datetime.now(api.zone).replace(tzinfo=None))
    assert len(api.calls) - before == len(windows) + 1
    values = [s["bookmarks"][TICKETS].get("replication_key_value") for s in second.states]
    assert all(v is None or v >= bookmark for v in values), "a bookmark moved backwards"
    assert values[-1] == max(t["modified_date_time"] for t in tickets)


def test_killed_run_resumes_from_its_last_state_without_gaps(make_sandbox):
    sandbox = make_sandbox("proprofs", sizes={"proprofs": 1000})
    settings = config(sandbox)
    killed = run_tap_until(settings, stop_after_states=2)
    assert killed.returncode != 0
    state = killed.final_state
    assert state is not None
    bookmark = state["bookmarks"][TICKETS]
    assert "progress_markers" not in bookmark, "the state is resumable"
    assert bookmark["replication_key_value"] < "2024-12"
    assert 0 < len(killed.ids(TICKETS, "ticket_id")) < 1000

    resumed = run_tap(settings, state=state)
    assert resumed.returncode == 0, resumed.stderr
    assert len(resumed.records[TICKETS]) < 1000, "it does not start over"
    truth = sandbox.truth()
    got = killed.ids(TICKETS, "ticket_id") | resumed.ids(TICKETS, "ticket_id")
    assert sorted(got) == truth[TICKETS]["ids"]
    keys = {tuple(k) for k in message_keys(killed)} | {tuple(k) for k in message_keys(resumed)}
    assert sorted(list(k) for k in keys) == truth[MESSAGES]["ids"]


def test_ten_percent_faults_still_give_every_ticket(make_sandbox):
    sandbox = make_sandbox("proprofs", sizes={"proprofs": 1000}, fault_rate=0.10, seed=11)
    run = run_tap(config(sandbox))
    assert run.returncode == 0, run.stderr
    truth = sandbox.truth()
    assert sorted(run.ids(TICKETS, "ticket_id")) == truth[TICKETS]["ids"]
    assert sorted(set(map(tuple, message_keys(run)))) == sorted(map(tuple, truth[MESSAGES]["ids"]))
    faults = {k: v for k, v in sandbox.stats()["statuses"].items() if "fault" in k}
    assert sum(faults.values()) >= 3, faults
    assert "retry" in run.stderr
    assert_no_secret(run.stdout, run.stderr)


def test_the_sandbox_reproduces_the_page_shift(make_sandbox):
    """Page-number paging over a window ending in the past skips a ticket when one on an
    earlier page is modified: it leaves the window and every later ticket moves up."""
    sandbox = make_sandbox("proprofs", sizes={"proprofs": 300})
    api, url = sandbox.apis["proprofs"], sandbox.url + fake.PATH
    body = {
        "account_email": fake.EMAIL,
        "token": fake.TOKEN,
        "start_last_modified_date": "2024-01-01 00:00:00",
        "end_last_modified_date": "2024-03-31 23:59:59",
    }
    first = requests.post(url, json=body, timeout=10).json()["ticket_data"]
    in_window = int(first["total_tickets"])
    seen = [t["ticket_id"] for t in first["tickets"]]
    api.tickets[int(seen[0])]["modified"] = datetime.now(timezone.utc).replace(microsecond=0)
    link = first["next_page_link"]
    while link:
        page = requests.post(link, json=body, timeout=10).json()["ticket_data"]
        seen += [t["ticket_id"] for t in page["tickets"]]
        link = page["next_page_link"]
    assert len(set(seen)) == in_window - 1, "one ticket that never changed was skipped"


@pytest.mark.parametrize("in_flight", [1, 4])
def test_tickets_modified_mid_sync_are_not_skipped(make_sandbox, tmp_path, in_flight):
    sandbox = make_sandbox("proprofs", sizes={"proprofs": 800}, mutate_every=2)
    api = sandbox.apis["proprofs"]
    before = set(sandbox.truth()[TICKETS]["ids"])
    settings = config(sandbox)
    settings["proprofs"]["max_concurrent_requests"] = in_flight  # windows read ahead
    run = run_tap(settings)
    assert run.returncode == 0, run.stderr
    truth = sandbox.truth()
    assert not before - run.ids(TICKETS, "ticket_id"), "a ticket existing at the start was lost"
    assert "changed while they were paged through" in run.stderr, "the shift happened"
    # the last request was a tail on one page: nothing changed after it, so every ticket,
    # created mid-sync or not, was read, and its latest form was read last
    assert sorted(run.ids(TICKETS, "ticket_id")) == truth[TICKETS]["ids"]
    latest = {r["ticket_id"]: r["modified_date_time"] for r in run.records[TICKETS]}
    assert all(latest[i] == api.utc(i, "modified") for i in truth[TICKETS]["ids"])
    values = [s["bookmarks"][TICKETS].get("replication_key_value") for s in run.states]
    assert [v for v in values if v] == sorted(v for v in values if v), "bookmarks only advance"

    # loaded by primary key, as a target does, the re-read tickets collapse to the truth
    tables = {  # stream: (columns, primary key)
        TICKETS: ("ticket_id varchar, modified_date_time varchar", "ticket_id"),
        MESSAGES: ("ticket_id varchar, position integer, created varchar", "ticket_id, position"),
    }
    counts = {}
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as db:
        for stream, (columns, key) in tables.items():
            lines = tmp_path / f"{stream}.jsonl"
            lines.write_text("\n".join(json.dumps(r) for r in run.records[stream]), "utf-8")
            names = ", ".join(column.split()[0] for column in columns.split(", "))
            db.execute(f"create table {stream} ({columns}, primary key ({key}))")
            db.execute(
                f"insert or replace into {stream} select distinct on ({key}) {names} "
                "from read_json_auto(?)",
                [str(lines)],
            )
            row = db.execute(f"select count(*) from {stream}").fetchone()
            counts[stream] = row[0] if row else 0
    assert counts == {TICKETS: truth[TICKETS]["count"], MESSAGES: truth[MESSAGES]["count"]}


def test_wrong_token_at_debug_level_prints_neither_token_nor_body(make_sandbox):
    sandbox = make_sandbox("proprofs", sizes={"proprofs": 30})
    api = sandbox.apis["proprofs"]
    wide = config(sandbox)  # the default width: the windows' first pages go together
    wide["proprofs"]["token"] = "wrong-proprofs-token-4d61"
    run = run_tap(wide)
    assert [line for line in run.stderr.splitlines() if "error:" in line] == [AUTH_LINE]
    asked = [(c["start"], c["end"], c["page"]) for c in api.calls]
    assert len(asked) == len(set(asked)), "an error envelope is not retried"
    sandbox.reset_stats()
    settings = config(sandbox, width=1)
    settings["proprofs"]["token"] = "wrong-proprofs-token-4d61"
    run = run_tap(settings, env={"TAP_HELPDESK_LOGLEVEL": "DEBUG"})
    assert run.returncode == 1
    assert "DEBUG" in run.stderr, "debug logging was on"
    assert "Traceback" not in run.stderr
    assert [line for line in run.stderr.splitlines() if "error:" in line] == [AUTH_LINE]
    assert sandbox.stats()["requests"]["proprofs"] == 1, "an error envelope is not retried"
    output = run.stdout + run.stderr
    assert_no_secret(output, secrets=["wrong-proprofs-token-4d61", fake.TOKEN])
    for body_text in ('"token"', "'token'", fake.EMAIL, "start_last_modified_date"):
        assert body_text not in output, "the request body was printed"


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (
            {"fault_rate": 1.0, "fault_kinds": ("502-html",)},
            "ProProfs Help Desk: HTTP 502 from /app/api/v1/list/ticket/: 502 Bad Gateway",
        ),
        (
            {"fault_rate": 1.0, "fault_kinds": ("invalid-json",)},
            "ProProfs Help Desk: expected JSON from /app/api/v1/list/ticket/ but got "
            "application/json (HTTP 200)",
        ),
        (
            {"answer_html": True},
            "ProProfs Help Desk: expected JSON from /app/api/v1/list/ticket/ but got "
            "text/html; charset=utf-8 (HTTP 200): ProProfs Help Desk We'll be back soon!",
        ),
        (
            {"max_months": 2},
            "ProProfs Help Desk: The start and end dates should fall within a 3-month range "
            "(tickets last modified 2023-12-31 18:00:00..2024-03-31 17:59:59, America/Chicago)",
        ),
    ],
)
def test_bad_answers_give_one_clear_line(make_sandbox, setup, expected):
    knobs = {k: v for k, v in setup.items() if k in {"fault_rate", "fault_kinds"}}
    sandbox = make_sandbox("proprofs", sizes={"proprofs": 10}, **knobs)
    for name, value in setup.items():
        if name not in knobs:
            setattr(sandbox.apis["proprofs"], name, value)
    run = run_tap(config(sandbox, max_retries=1))
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    errors = [line for line in run.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"tap-helpdesk: error: {expected}"), errors[0]
    assert_no_secret(run.stdout, run.stderr)


def test_unknown_values_are_carried_through_or_reported(make_sandbox):
    sandbox = make_sandbox("proprofs", sizes={"proprofs": 40})
    api = sandbox.apis["proprofs"]
    render = api.render
    odd = min(api.tickets)

    def quirky(ticket):
        out = render(ticket)
        if ticket["id"] == odd:
            out.update(deleted="maybe", ticket_status="escalated", custom_fields="", labels={})
            out["staff"] = {"id": "SF008-1", "name": "Jürgen", "email": "j@x", "team": "L2"}
        return out

    api.render = quirky
    run = run_tap(config(sandbox))
    assert run.returncode == 0, run.stderr
    record = next(r for r in run.records[TICKETS] if r["ticket_id"] == str(odd))
    assert record["ticket_status"] == "escalated", "an unknown status is carried through"
    assert record["deleted"] is None
    assert (record["custom_fields"], record["labels"]) == ([], [])
    assert record["staff"]["team"] == "L2"
    warnings = [line for line in run.stderr.splitlines() if "deleted='maybe'" in line]
    assert len(warnings) == 1, "the odd value is reported once"
    assert len(run.records[TICKETS]) == 40


def test_messages_can_be_left_out_through_the_catalog(make_sandbox):
    sandbox = make_sandbox("proprofs", sizes={"proprofs": 60})
    settings = config(sandbox)
    catalog = json.loads(run_tap(settings, args=["--discover"]).stdout)
    for entry in catalog["streams"]:
        if entry["tap_stream_id"] == MESSAGES:
            for item in entry["metadata"]:
                if item["breadcrumb"] == []:
                    item["metadata"]["selected"] = False
    run = run_tap(settings, catalog=catalog)
    assert run.returncode == 0, run.stderr
    assert set(run.schemas) == {TICKETS}
    assert MESSAGES not in run.records
    assert len(run.records[TICKETS]) == 60
    assert all(r["messages"] for r in run.records[TICKETS]), "still nested in the tickets"


def test_page_links_fall_back_to_get_when_post_is_refused(make_sandbox):
    sandbox = make_sandbox("proprofs", sizes={"proprofs": 300})
    api = sandbox.apis["proprofs"]
    api.post_links = False
    wide = run_tap(config(sandbox))  # the default width: links of several windows at once
    assert wide.returncode == 0, wide.stderr
    assert sorted(wide.ids(TICKETS, "ticket_id")) == sandbox.truth()[TICKETS]["ids"]
    assert "GET" in {c["method"] for c in api.calls if c["page"] != "1"}
    before = len(api.calls)
    sandbox.reset_stats()
    run = run_tap(config(sandbox, width=1))
    assert run.returncode == 0, run.stderr
    assert sorted(run.ids(TICKETS, "ticket_id")) == sandbox.truth()[TICKETS]["ids"]
    links = [c for c in api.calls[before:] if c["page"] != "1"]
    assert [c["method"] for c in links[:2]] == ["POST", "GET"], "one refusal, then GET"
    assert {c["method"] for c in links[1:]} == {"GET"}
    assert sandbox.stats()["statuses"]["proprofs:405"] == 1
    assert all(c["keys"] and "token" in c["keys"] for c in links), "the same body goes along"


def test_page_links_never_take_the_token_to_another_host(make_sandbox):
    sandbox = make_sandbox("proprofs", sizes={"proprofs": 200})
    api = sandbox.apis["proprofs"]
    api.link_host = "collector.example.net:9"
    run = run_tap(config(sandbox, max_retries=0))
    assert run.returncode == 0, run.stderr
    assert sorted(run.ids(TICKETS, "ticket_id")) == sandbox.truth()[TICKETS]["ids"]
    assert any(c["page"] != "1" for c in api.calls), "page links were followed, on our host"


def test_an_api_that_ignores_the_end_bound_is_reported_and_loses_nothing(make_sandbox):
    sandbox = make_sandbox("proprofs", sizes={"proprofs": 150})
    api = sandbox.apis["proprofs"]
    api.ignore_end = True  # each window then reads 3 months from its start
    run = run_tap(config(sandbox, end_date="2024-06-15T00:00:00Z"))
    assert run.returncode == 0, run.stderr
    wanted = {i for i in sandbox.truth()[TICKETS]["ids"] if api.utc(i) < "2024-06-15"}
    assert wanted <= run.ids(TICKETS, "ticket_id")
    assert len(run.records[TICKETS]) == len(run.ids(TICKETS, "ticket_id")), "no duplicates"
    warnings = [line for line in run.stderr.splitlines() if "end_last_modified_date" in line]
    assert len(warnings) == 1, warnings
    assert "2024-03-31 17:59:59..2024-06-14 19:00:00" in warnings[0]


def test_times_are_read_in_the_account_zone(make_sandbox):
    sandbox = make_sandbox("proprofs", sizes={"proprofs": 50})
    api = sandbox.apis["proprofs"]
    api.zone = ZoneInfo("Asia/Kolkata")
    wide = config(sandbox)  # the default width: the windows' first pages go together
    wide["proprofs"]["timezone"] = "Asia/Kolkata"
    run = run_tap(wide)
    assert run.returncode == 0, run.stderr
    assert len(run.records[TICKETS]) == 50
    assert min(c["start"] for c in api.calls) == "2024-01-01 05:30:00"
    del api.calls[:]
    settings = config(sandbox, width=1)
    settings["proprofs"]["timezone"] = "Asia/Kolkata"
    run = run_tap(settings)
    assert run.returncode == 0, run.stderr
    assert len(run.records[TICKETS]) == 50
    for record in run.records[TICKETS]:
        assert record["modified_date_time"] == api.utc(record["ticket_id"], "modified")
    assert api.calls[0]["start"] == "2024-01-01 05:30:00", "start_date written in the zone"

    api.mutate()  # a ticket modified now, written in Kolkata time but read as Chicago time
    wrong = run_tap(config(sandbox))
    assert wrong.returncode == 0, wrong.stderr
    assert "is proprofs.timezone (America/Chicago) the account's time zone?" in wrong.stderr


@pytest.mark.slow
def test_default_budget_paces_requests(make_sandbox):
    sandbox = make_sandbox("proprofs", sizes={"proprofs": 250})
    started = datetime.now()
    settings = config(sandbox, fast=False)
    settings["proprofs"]["requests_per_second"] = 5  # the pacing asserted is 5 a second
    run = run_tap(settings)
    assert run.returncode == 0, run.stderr
    requests_sent = sandbox.stats()["requests"]["proprofs"]
    assert requests_sent >= 12
    assert datetime.now() - started >= timedelta(seconds=(requests_sent - 5) / 5)
    assert sandbox.stats()["peak_per_second"]["proprofs"] <= 6
    assert len(run.records[TICKETS]) == 250


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        (
            {"timezone": "Mars/Olympus_Mons"},
            "proprofs.timezone: unknown time zone 'Mars/Olympus_Mons'",
        ),
        ({"token": ""}, "proprofs.token: required to use ProProfs Help Desk"),
        ({"api_url": "www.proprofsdesk.com"}, "proprofs.api_url"),
    ],
)
def test_bad_settings_give_one_clear_line(block, expected):
    settings = {
        "start_date": "2024-01-01T00:00:00Z",
        "proprofs": {**fake.tap_settings("http://127.0.0.1:9"), **block},
    }
    run = run_tap(settings)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    errors = [line for line in run.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, errors
    assert expected in errors[0]
    assert_no_secret(run.stdout, run.stderr)


def test_window_plan_matches_the_sandbox_rule():
    """Every window the tap plans is accepted by the emulator's 3-month check."""
    api = fake.ProProfsAPI(seed=1, size=0)
    start = datetime(2023, 11, 30, 18)
    for window in three_month_windows(start, datetime(2026, 11, 22)):
        assert window.end is not None
        body = {
            "start_last_modified_date": window.start.strftime("%Y-%m-%d %H:%M:%S"),
            "end_last_modified_date": window.end.strftime("%Y-%m-%d %H:%M:%S"),
        }
        assert not isinstance(api._range(body, datetime(2026, 11, 22)), str), window


@pytest.mark.slow
def test_memory_stays_flat_as_tickets_grow(make_sandbox):
    peaks = {}
    for size in (2000, 40000):
        sandbox = make_sandbox("proprofs", sizes={"proprofs": size})
        truth = sandbox.truth()
        records = truth[TICKETS]["count"] + truth[MESSAGES]["count"]
        peaks[size] = peak_memory_mb(config(sandbox), records)
    # only tickets a later read can meet are remembered: 20 times the tickets, the same
    # memory (1.2 MB more when written; the map it replaced held every ticket up to 50,000)
    assert peaks[40000] - peaks[2000] < 5, peaks


ODD_FORMS: list[dict[str, t.Any]] = [
    {"deleted": "0", "custom_fields": [], "labels": [{"a": 1}], "staff": {"id": 1}, "inbox": {}},
    {"deleted": "1", "custom_fields": "", "labels": {}, "staff": "", "inbox": []},
    {"deleted": "yes", "custom_fields": {"f": 1}, "labels": None, "staff": [], "inbox": None},
    {"deleted": True, "custom_fields": "x", "staff": {}, "messages": "none"},
    {"deleted": ["1"], "labels": "[]", "inbox": "Support", "messages": [7, None]},
    {
        "deleted": "",
        "messages": [
            {"created": "2024-05-12 09:30:00", "reply_by": {}},
            {"created": None, "reply_by": {"id": 3}},
            {"created": 1715506200, "reply_by": ""},
            {"body": "no time, no reply_by"},
        ],
    },
]


@pytest.mark.parametrize("form", ODD_FORMS)
def test_ticket_rows_are_normalised_as_the_helpers_read_each_form(form: dict[str, t.Any]) -> None:
    # post_process recognises the common forms by class; every form must come out as the
    # helpers (records.as_bool, as_list, as_object) read it
    block = {"api_url": "http://127.0.0.1:9", "account_email": "a@b.c", "token": "t"}
    tap = TapHelpdesk(config={"start_date": "2024-01-01T00:00:00Z", "proprofs": block})
    stream = tap.streams["proprofs_tickets"]
    stream._future = "9999"  # check_zone: no ticket is ahead of this
    row = {"ticket_id": 12, "modified_date_time": "2024-05-12 09:30:00", **form}
    out = stream.post_process(json.loads(json.dumps(row)))
    assert out is not None
    assert out["ticket_id"] == "12"
    assert out["deleted"] == as_bool(form.get("deleted"))
    assert out["deleted"] is None or type(out["deleted"]) is bool
    for key in ("custom_fields", "labels"):
        assert out[key] == as_list(form.get(key))
    for key in ("staff", "inbox"):
        assert out[key] == as_object(form.get(key))
    messages = form.get("messages")
    if not isinstance(messages, list):
        assert out.get("messages") == messages
        return
    for sent, got in zip(messages, out["messages"], strict=True):
        if not isinstance(sent, dict):
            assert got == sent
            continue
        created = sent.get("created")
        expected = stream.convert_time(created) if isinstance(created, str) else None
        assert got["created"] == expected
        assert got["reply_by"] == as_object(sent.get("reply_by"))
