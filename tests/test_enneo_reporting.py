"""Enneo's reporting messages and worklog against the sandbox: completeness, consistency
with the tickets, selection, paging, incremental resume, kill and resume, faults, rows
added mid-sync, bad state (hostile servers: tests/hostile/test_enneo_reporting.py)."""

from __future__ import annotations

import json
import math
import typing as t
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone

import pytest
import requests

from sandbox.enneo import TOKEN
from sandbox.enneo_activity import ACTIONS
from tests.conftest import assert_no_secret, tap_config
from tests.tap_runner import TapRun, run_tap, run_tap_until

MESSAGES, WORKLOG = "enneo_reporting_messages", "enneo_reporting_worklog"
TICKETS, REPORTING = "enneo_tickets", "enneo_reporting_tickets"
PATHS = {
    TICKETS: "/api/mind/export/ticket",
    REPORTING: "/api/mind/export/reporting_tickets",
    MESSAGES: "/api/mind/export/reporting_messages",
    WORKLOG: "/api/mind/export/reporting_worklog",
}
KEYS = {MESSAGES: "conversationId", WORKLOG: "userWorklogId"}
CURSORS = {MESSAGES: "createdAt", WORKLOG: "date"}
ACTIVITY = (MESSAGES, WORKLOG)


def utc(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(timezone.utc).isoformat()


def ids(run: TapRun, stream: str) -> list[t.Any]:
    return [r[KEYS[stream]] for r in run.records.get(stream, [])]


def catalog_with(config: dict[str, t.Any], keep: t.Iterable[str]) -> dict[str, t.Any]:
    """The discovered catalog with only `keep` selected."""
    discovered = run_tap(config, args=["--discover"])
    assert discovered.returncode == 0, discovered.stderr
    catalog = json.loads(discovered.stdout)
    chosen = set(keep)
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = entry["tap_stream_id"] in chosen
    return catalog


def requests_for(count: int) -> int:
    """Pages of 1000 for `count` rows, and the request confirming a short last page."""
    return math.ceil(count / 1000) + (1 if count % 1000 else 0) or 1


# -- completeness and consistency -------------------------------------------------------


@pytest.mark.parametrize("width", [1, None], ids=["one-at-a-time", "default"])
def test_every_message_and_edit_arrives_consistent_with_its_ticket(make_sandbox, width):
    sandbox = make_sandbox("enneo", sizes={"enneo": 2345})
    config = tap_config(sandbox, "enneo")
    if width is not None:  # None: Enneo's default, 3 in flight (sub-ranges side by side)
        config["enneo"]["max_concurrent_requests"] = width
    run = run_tap(config)
    assert run.returncode == 0, run.stderr
    truth = sandbox.truth()
    api = sandbox.apis["enneo"]
    for stream in ACTIVITY:
        emitted = ids(run, stream)
        assert len(emitted) == len(set(emitted)), f"{stream}: a row emitted twice"
        assert sorted(emitted) == truth[stream]["ids"]
        assert truth[stream]["count"] > 2345
        values = [r[CURSORS[stream]] for r in run.records[stream]]
        assert all(v.endswith("+00:00") for v in values)
        assert values == sorted(values), "read in ascending order of the bookmark"
        bookmark = run.final_state["bookmarks"][stream]
        assert bookmark["replication_key"] == CURSORS[stream]
        assert bookmark["replication_key_value"] == max(values)
        states = [s["bookmarks"].get(stream, {}) for s in run.states]
        moved = [b["replication_key_value"] for b in states if b.get("replication_key_value")]
        assert moved == sorted(moved), "a bookmark moved backwards"
        # pages of 1000 and one confirming request; a tie group across a page boundary
        # can cost one page more
        asked = sandbox.stats()["paths"][PATHS[stream]]
        fewest = requests_for(truth[stream]["count"])
        if width == 1:
            assert fewest <= asked <= fewest + 2
        else:
            # sub-ranges of 0.8-0.9 of a page each, and one request per sub-range cut
            # ahead of the data's end (the walk's ceiling is now), the open-ended rest
            assert fewest - 1 <= asked <= math.ceil(fewest / 0.8) + 3 + 2, asked

    tickets = {r["id"]: r for r in run.records[REPORTING]}
    check_messages_against_tickets(run.records[MESSAGES], tickets, api)
    check_worklog_against_tickets(run.records[WORKLOG], run.records[MESSAGES], tickets)
    assert_no_secret(run.stdout, run.stderr)


def check_messages_against_tickets(
    messages: list[dict[str, t.Any]], tickets: dict[int, dict[str, t.Any]], api: t.Any
) -> None:
    """Each ticket's message rows match its reporting figures."""
    by_ticket: dict[int, list[dict[str, t.Any]]] = defaultdict(list)
    for message in messages:
        by_ticket[message["ticketId"]].append(message)
        assert message["direction"] in {"in", "out", "internal"}
        assert message["channel"] == tickets[message["ticketId"]]["channel"]
        assert message["rawData"] is None or isinstance(message["rawData"], dict)
    assert set(by_ticket) == set(tickets), "every ticket has messages"
    for ticket_id, ticket in tickets.items():
        thread = sorted(by_ticket[ticket_id], key=lambda m: (m["createdAt"], m["conversationId"]))
        counts = Counter(m["direction"] for m in thread)
        assert (counts["in"], counts["out"], counts["internal"]) == (
            ticket["incomingMessages"],
            ticket["outgoingMessages"],
            ticket["internalMessages"],
        ), ticket_id
        first = thread[0]
        assert (first["direction"], first["createdAt"]) == ("in", ticket["createdAt"])
        assert ticket["lastMessageAt"] == max(m["createdAt"] for m in thread)
        inbound = [m["createdAt"] for m in thread if m["direction"] == "in"]
        assert ticket["lastCustomerMessageAt"] == max(inbound)
        if ticket["closedAt"] is not None:
            seconds = api.tickets[ticket_id]["closedAt"] - api.tickets[ticket_id]["createdAt"]
            assert ticket["secondsToClose"] == int(seconds.total_seconds())
            assert ticket["status"] in {"closed", "resolved"}


def check_worklog_against_tickets(
    worklog: list[dict[str, t.Any]],
    messages: list[dict[str, t.Any]],
    tickets: dict[int, dict[str, t.Any]],
) -> None:
    """Edits lie within their ticket's life: a write per reply, a close per closed ticket."""
    replies = {m["conversationId"] for m in messages if m["direction"] == "out"}
    for row in worklog:
        assert row["action"] in ACTIONS
        ticket = tickets[row["ticketId"]]
        end = ticket["closedAt"] or ticket["modifiedAt"]
        assert ticket["createdAt"] <= row["date"] <= end, row["userWorklogId"]
        assert isinstance(row["duration"], int)
        assert row["duration"] >= 0
        if row["action"] == "writeAction":
            assert row["conversationId"] in replies, "a reply's edit names the reply"
        if row["action"] in {"closeAction", "autoProcessAction"}:
            assert row["date"] == ticket["closedAt"]
        for field in ("closingDateForSLA", "pendingDueBy", "firstPendingAt"):
            assert row[field] is None or row[field].endswith("+00:00")
    writes = Counter(r["ticketId"] for r in worklog if r["action"] == "writeAction")
    assert all(writes[i] == ticket["outgoingMessages"] for i, ticket in tickets.items())
    closes = {r["ticketId"] for r in worklog if r["action"] in {"closeAction", "autoProcessAction"}}
    assert closes == {i for i, ticket in tickets.items() if ticket["closedAt"] is not None}
    kinds = Counter(r["action"] for r in worklog)
    assert set(kinds) == set(ACTIONS), kinds


# -- the emulated export protocol -------------------------------------------------------


def _get(sandbox: t.Any, path: str, **params: t.Any) -> tuple[int, t.Any]:
    answer = requests.get(
        f"{sandbox.url}{path}",
        params={"format": "json", **params},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    return answer.status_code, answer.json()


@pytest.mark.parametrize("stream", ACTIVITY)
def test_the_sandbox_answers_the_export_protocol(make_sandbox, stream):
    sandbox = make_sandbox("enneo", sizes={"enneo": 300})
    path, cursor, key = PATHS[stream], CURSORS[stream], KEYS[stream]
    for limit in (0, 1001, "x"):
        status, _ = _get(sandbox, path, limit=limit)
        assert status == 400, limit
    status, _ = _get(sandbox, path, offset=-1)
    assert status == 400
    status, _ = _get(sandbox, path, orderByField="nope")
    assert status == 400
    status, newest = _get(sandbox, path)
    assert status == 200
    assert len(newest) == 100, "default limit 100"
    assert [r[cursor] for r in newest] == sorted((r[cursor] for r in newest), reverse=True)
    status, everything = _get(
        sandbox, path, limit=1000, orderByField=cursor, orderByDirection="asc"
    )
    values = [r[cursor] for r in everything]
    assert values == sorted(values)
    low, high = values[100], values[200]
    status, between = _get(
        sandbox,
        path,
        limit=1000,
        orderByField=cursor,
        orderByDirection="asc",
        **{
            "filters[0][key]": cursor,
            "filters[0][comparator]": ">=",
            "filters[0][value]": low,
            "filters[1][key]": cursor,
            "filters[1][comparator]": "<=",
            "filters[1][value]": high,
        },
    )
    assert [r[key] for r in between] == [r[key] for r in everything if low <= r[cursor] <= high]
    status, second = _get(
        sandbox, path, limit=7, offset=7, orderByField=cursor, orderByDirection="asc"
    )
    assert [r[key] for r in second] == [r[key] for r in everything[7:14]]
    field, value = ("direction", "internal") if stream == MESSAGES else ("action", "readAction")
    status, only = _get(
        sandbox,
        path,
        limit=1000,
        **{
            "filters[0][key]": field,
            "filters[0][comparator]": "in",
            "filters[0][values][]": value,
        },
    )
    assert only
    assert {r[field] for r in only} == {value}
    status, _ = _get(sandbox, path, **{"filters[0][key]": "t.createdAt"})
    assert status == 400, "reporting exports filter on bare names"


# -- selection --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "keep", [(MESSAGES,), (WORKLOG,), (TICKETS, REPORTING), (REPORTING, MESSAGES)]
)
def test_each_stream_is_selectable_alone_and_a_deselected_one_costs_nothing(make_sandbox, keep):
    sandbox = make_sandbox("enneo", sizes={"enneo": 400})
    config = tap_config(sandbox, "enneo")
    run = run_tap(config, catalog=catalog_with(config, keep))
    assert run.returncode == 0, run.stderr
    assert set(run.records) == set(keep)
    assert set(run.schemas) == set(keep)
    paths = sandbox.stats()["paths"]
    for stream, path in PATHS.items():
        if stream in keep:
            assert paths.get(path, 0) >= 1, stream
        else:
            assert paths.get(path, 0) == 0, f"{stream} is deselected but {path} was asked"
    truth = sandbox.truth()
    for stream in set(keep) & set(ACTIVITY):
        assert sorted(ids(run, stream)) == truth[stream]["ids"]


# -- paging -----------------------------------------------------------------------------


def test_equal_created_at_across_page_boundaries_loses_and_repeats_nothing(make_sandbox):
    sandbox = make_sandbox("enneo", sizes={"enneo": 900})
    api = sandbox.apis["enneo"]
    rows = sorted(api.messages.values(), key=lambda r: (r["createdAt"], r["conversationId"]))
    # one moment for 1500 messages (more than a page: the walk pages by offset within
    # it), and groups of 3 straddling the following page boundaries
    moment = rows[500]["createdAt"]
    for row in rows[500:2000]:
        row["createdAt"] = moment
    for start in range(2997, len(rows) - 3, 1000):
        for row in rows[start : start + 3]:
            row["createdAt"] = rows[start]["createdAt"]
    config = tap_config(sandbox, "enneo")
    run = run_tap(config, catalog=catalog_with(config, [MESSAGES]))
    assert run.returncode == 0, run.stderr
    emitted = ids(run, MESSAGES)
    assert len(emitted) == len(set(emitted)), "a tie group row emitted twice"
    assert sorted(emitted) == sorted(api.messages)
    assert sum(1 for r in run.records[MESSAGES] if r["createdAt"] == utc(moment)) == 1500


# -- incremental ------------------------------------------------------------------------


def test_an_incremental_run_reads_only_new_messages_and_edits(make_sandbox):
    sandbox = make_sandbox("enneo", sizes={"enneo": 1500})
    config = tap_config(sandbox, "enneo", lookback_days=0)
    catalog = catalog_with(config, ACTIVITY)
    first = run_tap(config, catalog=catalog)
    assert first.returncode == 0, first.stderr
    marks = {s: first.final_state["bookmarks"][s]["replication_key_value"] for s in ACTIVITY}
    api = sandbox.apis["enneo"]
    before = {MESSAGES: set(api.messages), WORKLOG: set(api.worklog)}
    for _ in range(25):
        api.mutate()  # new tickets and messages, stamped by the provider's clock: now
    after = {MESSAGES: set(api.messages), WORKLOG: set(api.worklog)}
    second = run_tap(config, catalog=catalog, state=first.final_state)
    assert second.returncode == 0, second.stderr
    for stream in ACTIVITY:
        new = after[stream] - before[stream]
        assert new, f"the mutations added {stream} rows"
        got = ids(second, stream)
        assert new <= set(got), f"{stream}: a new row was not read"
        # the first run's last moment is re-read (>=), nothing older
        old = set(got) - new
        assert all(
            r[CURSORS[stream]] == marks[stream]
            for r in second.records[stream]
            if r[KEYS[stream]] in old
        )
        values = [
            s["bookmarks"][stream]["replication_key_value"]
            for s in second.states
            if stream in s["bookmarks"]
        ]
        assert values
        assert all(v >= marks[stream] for v in values), "a bookmark moved back"
        assert values[-1] == max(r[CURSORS[stream]] for r in second.records[stream])


def test_a_killed_run_resumes_from_its_state_without_gaps(make_sandbox):
    sandbox = make_sandbox("enneo", sizes={"enneo": 2000})
    config = tap_config(sandbox, "enneo")
    config["enneo"]["requests_per_second"] = 1000
    killed = run_tap_until(config, stop_after_records=(MESSAGES, 2500))
    assert killed.returncode != 0
    truth = sandbox.truth()
    assert 2500 <= len(ids(killed, MESSAGES)) < truth[MESSAGES]["count"]
    assert MESSAGES in killed.final_state["bookmarks"]
    resumed = run_tap(config, state=killed.final_state)
    assert resumed.returncode == 0, resumed.stderr
    for stream in ACTIVITY:
        got = set(ids(killed, stream)) | set(ids(resumed, stream))
        assert sorted(got) == truth[stream]["ids"], stream
    # the resumed run starts at the bookmark, not from the start
    assert len(ids(resumed, MESSAGES)) < truth[MESSAGES]["count"] - 2000


# -- faults and changes -----------------------------------------------------------------


def test_ten_percent_faults_still_give_every_row(make_sandbox):
    sandbox = make_sandbox("enneo", sizes={"enneo": 2500}, fault_rate=0.10, seed=13)
    config = tap_config(sandbox, "enneo")
    run = run_tap(config, catalog=catalog_with(config, ACTIVITY))
    assert run.returncode == 0, run.stderr
    for stream in ACTIVITY:
        assert sorted(ids(run, stream)) == sandbox.truth()[stream]["ids"]
    statuses = sandbox.stats()["statuses"]
    assert sum(v for k, v in statuses.items() if "fault" in k) > 0, "faults were injected"
    assert_no_secret(run.stdout, run.stderr)


def test_rows_added_mid_sync_are_not_lost(make_sandbox):
    sandbox = make_sandbox("enneo", sizes={"enneo": 3000}, mutate_every=1)
    api = sandbox.apis["enneo"]
    before = {MESSAGES: set(api.messages), WORKLOG: set(api.worklog)}
    config = tap_config(sandbox, "enneo")
    run = run_tap(config, catalog=catalog_with(config, ACTIVITY))
    assert run.returncode == 0, run.stderr
    for stream in ACTIVITY:
        got = ids(run, stream)
        assert len(got) == len(set(got))
        assert not before[stream] - set(got), f"{stream}: rows there from the start lost"
        # a row added mid-sync is read, or is at or after the bookmark, where the next run
        # starts
        bookmark = run.final_state["bookmarks"][stream]["replication_key_value"]
        table = api.messages if stream == MESSAGES else api.worklog
        added = set(table) - before[stream]
        assert added, "rows were added during the run"
        for key in added - set(got):
            moment = table[key]["createdAt" if stream == MESSAGES else "date"]
            assert utc(moment) >= bookmark, f"{stream} {key} was skipped"


# -- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stream", "bookmark", "words"),
    [
        (MESSAGES, {"replication_key": "createdAt", "replication_key_value": "x"}, ["'x'"]),
        (
            WORKLOG,
            {"replication_key": "modifiedAt", "replication_key_value": "2024-02-01"},
            ["the bookmark is on 'modifiedAt'", "replication key is 'date'"],
        ),
        (WORKLOG, {"replication_key": "date"}, ["the bookmark has no value"]),
    ],
)
def test_a_bad_bookmark_is_one_line_before_any_request(make_sandbox, stream, bookmark, words):
    sandbox = make_sandbox("enneo", sizes={"enneo": 5})
    run = run_tap(tap_config(sandbox, "enneo"), state={"bookmarks": {stream: bookmark}})
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    errors = run.error_lines()
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"tap-helpdesk: error: state: {stream}: "), errors[0]
    for word in words:
        assert word in errors[0]
    assert sandbox.stats()["requests"] == {}
    assert '"type":"RECORD"' not in run.stdout


def test_a_bookmark_in_the_future_reads_nothing_for_that_stream_only(make_sandbox):
    sandbox = make_sandbox("enneo", sizes={"enneo": 200})
    future = (datetime.now(timezone.utc) + timedelta(days=30)).replace(microsecond=0)
    state = {
        "bookmarks": {
            MESSAGES: {"replication_key": "createdAt", "replication_key_value": future.isoformat()}
        }
    }
    run = run_tap(tap_config(sandbox, "enneo"), state=state)
    assert run.returncode == 0, run.stderr
    assert MESSAGES not in run.records
    assert "later than now" in run.stderr
    assert MESSAGES in run.stderr
    assert sandbox.stats()["paths"].get(PATHS[MESSAGES], 0) == 0
    assert sorted(ids(run, WORKLOG)) == sandbox.truth()[WORKLOG]["ids"]


def test_sub_ranges_in_flight_give_every_row_with_bookmarks_in_order(make_sandbox):
    sandbox = make_sandbox(
        "enneo", sizes={"enneo": 3000}, mutate_every=3, latency=0.005, latency_jitter=0.02
    )
    api = sandbox.apis["enneo"]
    before = {MESSAGES: set(api.messages), WORKLOG: set(api.worklog)}
    config = tap_config(sandbox, "enneo", start_date="2023-06-01T00:00:00Z")
    config["enneo"].update(max_concurrent_requests=4, requests_per_second=1000)
    run = run_tap(config, catalog=catalog_with(config, ACTIVITY))
    assert run.returncode == 0, run.stderr
    assert sandbox.stats()["peak_in_flight"] > 1, "requests were in flight together"
    for stream in ACTIVITY:
        got = ids(run, stream)
        assert len(got) == len(set(got)), f"{stream}: a row emitted twice"
        assert not before[stream] - set(got), f"{stream}: a row was lost"
        values = [r[CURSORS[stream]] for r in run.records[stream]]
        assert values == sorted(values), "records leave in key order"
        marks = [s["bookmarks"].get(stream, {}).get("replication_key_value") for s in run.states]
        marks = [mark for mark in marks if mark is not None]
        assert marks
        assert marks == sorted(marks), "a bookmark moved back"


@pytest.mark.parametrize("skew", [timedelta(hours=-2), timedelta(hours=2)], ids=["behind", "ahead"])
def test_rows_stamped_by_a_provider_clock_behind_or_ahead_of_ours_arrive(make_sandbox, skew):
    sandbox = make_sandbox("enneo", sizes={"enneo": 600}, mutate_every=2)
    api = sandbox.apis["enneo"]
    api.clock = skew
    config = tap_config(sandbox, "enneo", lookback_days=0)
    catalog = catalog_with(config, ACTIVITY)
    first = run_tap(config, catalog=catalog)  # its bookmarks end near the provider's now
    assert first.returncode == 0, first.stderr
    sandbox.configure(mutate_every=0)
    before = {MESSAGES: set(api.messages), WORKLOG: set(api.worklog)}
    for _ in range(10):
        api.mutate()
    second = run_tap(config, catalog=catalog, state=first.final_state)
    assert second.returncode == 0, second.stderr
    for stream in ACTIVITY:
        table = api.messages if stream == MESSAGES else api.worklog
        new = set(table) - before[stream]
        assert new, stream
        assert new <= set(ids(second, stream)), f"{stream}: a row stamped {skew} was missed"
        missed = before[stream] - set(ids(first, stream)) - set(ids(second, stream))
        assert not missed, f"{stream}: rows added during the first run were never read"
