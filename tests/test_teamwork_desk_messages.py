"""Teamwork Desk messages, archived and deleted tickets against the sandbox."""

from __future__ import annotations

import copy
import json
import typing as t
from collections import defaultdict
from datetime import datetime, timezone

import pytest

from tap_helpdesk.providers import teamwork_desk
from tests.conftest import assert_no_secret, tap_config
from tests.tap_runner import TapRun, run_tap, run_tap_until

TICKETS = "teamwork_desk_tickets"
MESSAGES = "teamwork_desk_messages"
PATH = "/desk/api/v2/tickets.json"


def spy(sandbox: t.Any) -> list[dict[str, list[str]]]:
    """The query of every ticket-list request the sandbox answers, in order."""
    seen: list[dict[str, list[str]]] = []
    api = sandbox.apis["teamwork_desk"]
    original = api.list_tickets

    def record(request: t.Any) -> t.Any:
        seen.append(request.query)
        return original(request)

    sandbox._routes[("GET", PATH)] = (api, record)
    return seen


def includes(query: dict[str, list[str]]) -> set[str]:
    return {x for x in (query.get("includes") or [""])[0].split(",") if x}


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def minutes(start: str, end: str) -> int:
    return int((at(end) - at(start)).total_seconds() // 60)


def message_ids(*runs: TapRun) -> list[t.Any]:
    return [m["id"] for run in runs for m in run.records.get(MESSAGES, [])]


def deselect(catalog: dict[str, t.Any], keep: set[str]) -> dict[str, t.Any]:
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if item["breadcrumb"] == []:
                item["metadata"]["selected"] = entry["tap_stream_id"] in keep
    return catalog


def states_of(run: TapRun, key: str) -> list[str]:
    values = [s["bookmarks"].get(TICKETS, {}).get(key) for s in run.states]
    return [v for v in values if v is not None]


def test_messages_arrive_once_each_consistent_with_their_tickets(make_sandbox):
    sandbox = make_sandbox("teamwork_desk", sizes={"teamwork_desk": 700})
    queries = spy(sandbox)
    run = run_tap(tap_config(sandbox, "teamwork_desk"))
    assert run.returncode == 0, run.stderr
    truth = sandbox.truth()
    emitted = message_ids(run)
    assert len(emitted) == len(set(emitted)), "a message is emitted once per run"
    assert sorted(emitted) == truth[MESSAGES]["ids"]
    messages = run.records[MESSAGES]
    assert {m["threadType"] for m in messages} == {"message", "forward", "note", "eventInfo"}
    assert all(m["createdAt"].endswith("+00:00") for m in messages)
    # the analytics a warehouse computes from the messages equal the provider's figures
    tickets = {r["id"]: r for r in run.records[TICKETS]}
    threads: dict[int, list[dict[str, t.Any]]] = defaultdict(list)
    for m in messages:
        threads[m["ticket"]["id"]].append(m)
    assert set(threads) == set(tickets), "every ticket has its thread, no orphan message"
    answered = 0
    for ticket_id, ticket in tickets.items():
        thread = sorted(threads[ticket_id], key=lambda m: (m["createdAt"], m["id"]))
        assert ticket["messageCount"] == len(thread)
        assert thread[0]["createdAt"] == ticket["createdAt"]
        assert thread[0]["createdBy"]["type"] == "customers"
        replies = [
            m for m in thread if m["threadType"] == "message" and m["createdBy"]["type"] == "users"
        ]
        first = minutes(ticket["createdAt"], replies[0]["createdAt"]) if replies else None
        assert ticket["responseTimeMins"] == first, ticket_id
        answered += first is not None
        assert all(at(m["createdAt"]) <= at(ticket["updatedAt"]) for m in thread)
    assert answered > len(tickets) / 2
    # one request per page, only ticket pages, messages included in every one of them
    assert sandbox.stats()["paths"] == {PATH: len(queries)}
    assert all("messages" in includes(q) for q in queries)
    # messages arrive inside every ticket page, yet their stream is announced and counted
    # once a run (run_metrics.py), not once a page
    assert len(queries) > 2
    assert run.stderr.count(f"Beginning sync of '{MESSAGES}'") == 1
    counted = [(m, value) for m, value, _status in run.metrics(MESSAGES) if m == "record_count"]
    assert counted == [("record_count", len(messages))]
    assert_no_secret(run.stdout, run.stderr)


def test_archived_and_deleted_tickets_arrive_flagged(make_sandbox):
    sandbox = make_sandbox("teamwork_desk", sizes={"teamwork_desk": 700})
    api = sandbox.apis["teamwork_desk"]
    archived, deleted = api.archived_ids(), api.state_ids("deleted")
    merged = api.state_ids("merged")
    assert len(archived) > 100, "the data set has archived tickets"
    assert len(deleted) > 50, "and deleted ones"
    assert merged, "and merged ones"
    run = run_tap(tap_config(sandbox, "teamwork_desk"))
    assert run.returncode == 0, run.stderr
    tickets = {r["id"]: r for r in run.records[TICKETS]}
    assert sorted(tickets) == sandbox.truth()[TICKETS]["ids"]
    assert all(tickets[i]["archivedAt"] for i in archived)
    assert not any(r["archivedAt"] for i, r in tickets.items() if i not in set(archived))
    assert {i for i, r in tickets.items() if r["state"] == "deleted"} == set(deleted)
    assert all(tickets[i]["deletedAt"] for i in deleted)
    assert {i for i, r in tickets.items() if r["state"] == "merged"} == set(merged)
    archived_threads = {m["ticket"]["id"] for m in run.records[MESSAGES]}
    assert set(archived) <= archived_threads, "the messages of archived tickets too"
    # both walks keep their own bookmark in the stream's state
    final = run.final_state["bookmarks"][TICKETS]
    assert final["replication_key_value"] == max(
        r["updatedAt"] for i, r in tickets.items() if i not in set(archived)
    )
    assert final["archived_value"] == max(tickets[i]["updatedAt"] for i in archived)


def test_without_include_archived_no_archived_walk_is_made(make_sandbox):
    sandbox = make_sandbox("teamwork_desk", sizes={"teamwork_desk": 300})
    queries = spy(sandbox)
    config = tap_config(sandbox, "teamwork_desk")
    config["teamwork_desk"]["include_archived"] = False
    run = run_tap(config)
    assert run.returncode == 0, run.stderr
    assert queries
    assert not any("archived" in q for q in queries)
    api = sandbox.apis["teamwork_desk"]
    # the sandbox hides archived tickets unless asked (the stricter reading)
    expected = set(sandbox.truth()[TICKETS]["ids"]) - set(api.archived_ids())
    assert run.ids(TICKETS) == expected
    assert "archived_value" not in run.final_state["bookmarks"][TICKETS]


@pytest.mark.parametrize(
    ("keep", "asked"),
    [
        (
            {TICKETS, *(f"teamwork_desk_{n}" for n in teamwork_desk.SIDELOADS if n != "messages")},
            set(teamwork_desk.SIDELOADS.values()) - {"messages"},
        ),
        ({MESSAGES}, {"messages"}),
        ({TICKETS}, set()),
    ],
    ids=["messages-deselected", "messages-alone", "tickets-alone"],
)
def test_selection_decides_what_is_included(make_sandbox, keep, asked):
    sandbox = make_sandbox("teamwork_desk", sizes={"teamwork_desk": 250})
    config = tap_config(sandbox, "teamwork_desk")
    catalog = deselect(json.loads(run_tap(config, args=["--discover"]).stdout), keep)
    queries = spy(sandbox)
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.stderr
    assert queries
    for query in queries:
        assert includes(query) == asked, query
        assert ("includes" in query) == bool(asked), "no includes parameter when none is wanted"
    assert set(run.schemas) == keep
    truth = sandbox.truth()
    if MESSAGES in keep:
        assert sorted(message_ids(run)) == truth[MESSAGES]["ids"]
    else:
        assert MESSAGES not in run.records
    if TICKETS in keep:
        assert sorted(run.ids(TICKETS)) == truth[TICKETS]["ids"]


def test_incremental_run_reads_new_messages_and_moves_both_bookmarks_forward(make_sandbox):
    sandbox = make_sandbox("teamwork_desk", sizes={"teamwork_desk": 800})
    config = tap_config(sandbox, "teamwork_desk", lookback_days=1)
    first = run_tap(config)
    assert first.returncode == 0, first.stderr
    before = first.final_state["bookmarks"][TICKETS]
    api = sandbox.apis["teamwork_desk"]
    now = datetime.now(timezone.utc).replace(microsecond=0)
    active = next(i for i in sorted(api.tickets) if i not in set(api.archived_ids()))
    archived = api.archived_ids()[0]
    added = {
        api.add_message(active, now, "users"),
        api.add_message(archived, now),  # a reply to an archived ticket reopens it
    }
    second = run_tap(config, state=first.final_state)
    assert second.returncode == 0, second.stderr
    assert added <= set(message_ids(second))
    assert {active, archived} <= second.ids(TICKETS)
    assert len(message_ids(second)) < len(message_ids(first)) / 10, "only the lookback"
    reread = second.records[TICKETS]
    assert len(reread) < 100
    assert next(r for r in reread if r["id"] == archived)["archivedAt"] is None
    for key in ("replication_key_value", "archived_value"):
        values = states_of(second, key)
        assert values, key
        assert min(values) >= before[key], f"{key} moved backwards"
    assert (
        second.final_state["bookmarks"][TICKETS]["replication_key_value"]
        > before["replication_key_value"]
    )


@pytest.mark.parametrize("where", ["archived-walk", "between-walks", "active-walk"])
def test_killed_run_resumes_both_walks_without_loss(make_sandbox, where):
    sandbox = make_sandbox("teamwork_desk", sizes={"teamwork_desk": 1500})
    api = sandbox.apis["teamwork_desk"]
    archived = len(api.archived_ids())
    assert archived > 300
    config = tap_config(sandbox, "teamwork_desk")
    stop = {"archived-walk": 150, "between-walks": archived, "active-walk": archived + 300}
    killed = run_tap_until(config, stop_after_records=(TICKETS, stop[where]))
    state = killed.final_state["bookmarks"][TICKETS]
    assert "archived_value" in state
    assert ("replication_key_value" in state) == (where == "active-walk")
    if where == "between-walks":  # the archived walk is done: its bookmark is its last
        ids = set(api.archived_ids())
        last = max(r["updatedAt"] for r in killed.records[TICKETS] if r["id"] in ids)
        assert state["archived_value"] == last
    resumed = run_tap(config, state=killed.final_state)
    assert resumed.returncode == 0, resumed.stderr
    truth = sandbox.truth()
    assert sorted(killed.ids(TICKETS) | resumed.ids(TICKETS)) == truth[TICKETS]["ids"]
    assert sorted(set(message_ids(killed, resumed))) == truth[MESSAGES]["ids"]
    assert len(resumed.records[TICKETS]) < 1500 - stop[where] / 2, "it does not start over"
    assert len(set(message_ids(resumed))) == len(message_ids(resumed))


def test_faults_still_give_every_message(make_sandbox):
    sandbox = make_sandbox("teamwork_desk", sizes={"teamwork_desk": 1500}, fault_rate=0.3, seed=3)
    run = run_tap(tap_config(sandbox, "teamwork_desk"))
    assert run.returncode == 0, run.stderr
    truth = sandbox.truth()
    assert sorted(message_ids(run)) == truth[MESSAGES]["ids"]
    assert sorted(run.ids(TICKETS)) == truth[TICKETS]["ids"]
    faults = {k: v for k, v in sandbox.stats()["statuses"].items() if "fault" in k}
    assert sum(faults.values()) >= 2, faults


def test_messages_added_mid_run_arrive_in_the_same_run(make_sandbox):
    sandbox = make_sandbox("teamwork_desk", sizes={"teamwork_desk": 1500}, mutate_every=1)
    before = set(sandbox.truth()[MESSAGES]["ids"])
    run = run_tap(tap_config(sandbox, "teamwork_desk"))
    assert run.returncode == 0, run.stderr
    after = set(sandbox.truth()[MESSAGES]["ids"])
    assert len(after - before) >= 15, "the sandbox added messages while the run went on"
    emitted = message_ids(run)
    assert len(emitted) == len(set(emitted))
    assert set(emitted) == after, "every message, added mid-run or not, arrives"
    api = sandbox.apis["teamwork_desk"]
    latest = {r["id"]: r for r in run.records[TICKETS]}
    for ticket_id, ticket in api.tickets.items():
        assert latest[ticket_id]["messageCount"] == ticket["messageCount"], ticket_id


def test_a_state_from_before_the_archived_walk_backfills_the_archive_once(make_sandbox):
    sandbox = make_sandbox("teamwork_desk", sizes={"teamwork_desk": 600})
    config = tap_config(sandbox, "teamwork_desk")
    first = run_tap(config)
    assert first.returncode == 0, first.stderr
    old = copy.deepcopy(first.final_state)
    entry = old["bookmarks"][TICKETS]
    entry.pop("archived_key")
    entry.pop("archived_value")
    second = run_tap(config, state=old)
    assert second.returncode == 0, second.stderr
    archived = set(sandbox.apis["teamwork_desk"].archived_ids())
    assert archived <= second.ids(TICKETS), "every archived ticket, from start_date"
    assert len(second.ids(TICKETS) - archived) < 60, "the rest from the bookmark only"
    final = second.final_state["bookmarks"][TICKETS]
    assert final["archived_value"] == first.final_state["bookmarks"][TICKETS]["archived_value"]


def test_an_archived_bookmark_that_is_no_time_is_one_clear_line(make_sandbox):
    sandbox = make_sandbox("teamwork_desk", sizes={"teamwork_desk": 20})
    state = {
        "bookmarks": {
            TICKETS: {
                "replication_key": "updatedAt",
                "replication_key_value": "2024-06-01T00:00:00+00:00",
                "archived_value": "last tuesday",
            }
        }
    }
    run = run_tap(tap_config(sandbox, "teamwork_desk"), state=state)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    errors = run.error_lines()
    assert len(errors) == 1, errors
    assert "archived_value" in errors[0]
    assert "'last tuesday'" in errors[0]
    assert sandbox.stats()["requests"].get("teamwork_desk", 0) == 0
