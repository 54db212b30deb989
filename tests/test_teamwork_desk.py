"""Teamwork Desk tickets and sideloads against the sandbox."""

from __future__ import annotations

import io
import json
import sys
from contextlib import redirect_stdout

import pytest

from tap_helpdesk.providers import teamwork_desk
from tap_helpdesk.tap import TapHelpdesk
from tests.conftest import assert_no_secret, tap_config
from tests.tap_runner import TapRun, parse_messages, run_tap, run_tap_until

SIDELOADS = [f"teamwork_desk_{name}" for name in teamwork_desk.SIDELOADS]


def test_tickets_and_sideloads_are_complete_with_no_extra_requests(make_sandbox):
    sandbox = make_sandbox("teamwork_desk", sizes={"teamwork_desk": 1234})
    run = run_tap(tap_config(sandbox, "teamwork_desk"))
    assert run.returncode == 0, run.stderr
    truth = sandbox.truth()
    assert sorted(run.ids("teamwork_desk_tickets")) == truth["teamwork_desk_tickets"]["ids"]
    for stream in SIDELOADS:
        emitted = [r["id"] for r in run.records[stream]]
        assert len(emitted) == len(set(emitted)), f"{stream} is deduplicated within the run"
        assert sorted(emitted) == truth[stream]["ids"], stream
    # one SCHEMA per stream, sideloads included
    assert set(run.schemas) == {"teamwork_desk_tickets", *SIDELOADS}
    # sideloads cost no requests: only ticket pages were asked for (13 pages of 100; the
    # keyset walk re-reads one tie at each page edge, so at most one extra page)
    stats = sandbox.stats()
    assert stats["paths"] == {"/desk/api/v2/tickets.json": stats["requests"]["teamwork_desk"]}
    assert 13 <= stats["requests"]["teamwork_desk"] <= 14
    ticket = run.records["teamwork_desk_tickets"][0]
    assert ticket["updatedAt"].endswith("+00:00")
    api = sandbox.apis["teamwork_desk"]
    source = api.tickets[ticket["id"]]
    assert ticket["updatedAt"] == source["updatedAt"].isoformat()
    assert ticket["customer"] == {"id": source["customer"]["id"], "type": "customers"}
    assert_no_secret(run.stdout, run.stderr)


def test_last_page_comes_from_has_more_not_from_the_requested_size(make_sandbox, monkeypatch):
    """Ask for 250 per page: the API clamps to 100, and the walk must still reach the end."""
    sandbox = make_sandbox("teamwork_desk", sizes={"teamwork_desk": 450})
    monkeypatch.setattr(teamwork_desk, "PAGE_SIZE", 250)
    buffer = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    monkeypatch.setattr(sys, "stdout", buffer)
    tap = TapHelpdesk(config=tap_config(sandbox, "teamwork_desk"))
    with redirect_stdout(buffer):
        tap.sync_all()
    buffer.flush()
    run = TapRun(0, buffer.buffer.getvalue().decode("utf-8"), "")  # type: ignore[attr-defined]
    parse_messages(run.stdout, run)
    assert (
        sorted(run.ids("teamwork_desk_tickets")) == sandbox.truth()["teamwork_desk_tickets"]["ids"]
    )
    assert sandbox.stats()["requests"]["teamwork_desk"] >= 5  # 450 / 100, not 450 / 250


def test_incremental_run_reads_only_the_lookback_and_changes(make_sandbox):
    sandbox = make_sandbox("teamwork_desk", sizes={"teamwork_desk": 900})
    config = tap_config(sandbox, "teamwork_desk", lookback_days=2)
    first = run_tap(config)
    assert first.returncode == 0, first.stderr
    bookmark = first.final_state["bookmarks"]["teamwork_desk_tickets"]["replication_key_value"]
    assert bookmark == max(r["updatedAt"] for r in first.records["teamwork_desk_tickets"])

    sandbox.configure(mutate_every=1)
    second = run_tap(config, state=first.final_state)
    assert second.returncode == 0, second.stderr
    tickets = second.records["teamwork_desk_tickets"]
    assert 0 < len(tickets) < 100
    changed = [t for t in tickets if t["updatedAt"] > bookmark]
    assert changed, "tickets changed since the last run are read"
    for state in second.states:
        value = state["bookmarks"].get("teamwork_desk_tickets", {}).get("replication_key_value")
        assert value is None or value >= bookmark, "a bookmark moved backwards"


def test_killed_run_resumes_without_gaps(make_sandbox):
    sandbox = make_sandbox("teamwork_desk", sizes={"teamwork_desk": 1500})
    config = tap_config(sandbox, "teamwork_desk")
    killed = run_tap_until(config, stop_after_records=("teamwork_desk_tickets", 450))
    assert 0 < len(killed.ids("teamwork_desk_tickets")) < 1500
    resumed = run_tap(config, state=killed.final_state)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.records["teamwork_desk_tickets"], "the resumed run continues"
    assert len(resumed.records["teamwork_desk_tickets"]) < 1500, "it does not start over"
    got = killed.ids("teamwork_desk_tickets") | resumed.ids("teamwork_desk_tickets")
    assert sorted(got) == sandbox.truth()["teamwork_desk_tickets"]["ids"]


def test_ten_percent_faults_still_give_every_ticket(make_sandbox):
    sandbox = make_sandbox("teamwork_desk", sizes={"teamwork_desk": 2500}, fault_rate=0.1, seed=5)
    run = run_tap(tap_config(sandbox, "teamwork_desk"))
    assert run.returncode == 0, run.stderr
    assert (
        sorted(run.ids("teamwork_desk_tickets")) == sandbox.truth()["teamwork_desk_tickets"]["ids"]
    )
    faults = {k: v for k, v in sandbox.stats()["statuses"].items() if "fault" in k}
    assert sum(faults.values()) >= 2, faults
    assert "retry" in run.stderr


def test_tickets_updated_mid_sync_are_not_skipped(make_sandbox):
    sandbox = make_sandbox("teamwork_desk", sizes={"teamwork_desk": 2000}, mutate_every=1)
    before = set(sandbox.truth()["teamwork_desk_tickets"]["ids"])
    run = run_tap(tap_config(sandbox, "teamwork_desk"))
    assert run.returncode == 0, run.stderr
    assert not before - run.ids("teamwork_desk_tickets")
    api = sandbox.apis["teamwork_desk"]
    latest = {r["id"]: r["updatedAt"] for r in run.records["teamwork_desk_tickets"]}
    stale = [i for i in before if latest[i] != api.tickets[i]["updatedAt"].isoformat()]
    assert not stale, "every ticket updated during the sync is read in its new form"


@pytest.mark.slow
def test_default_budget_never_triggers_429_and_uses_the_budget(make_sandbox):
    """131 pages at the documented 120 requests/minute: no 429, and a full minute's budget."""
    sandbox = make_sandbox("teamwork_desk", sizes={"teamwork_desk": 13050})
    run = run_tap(tap_config(sandbox, "teamwork_desk"))
    assert run.returncode == 0, run.stderr
    stats = sandbox.stats()
    assert not any(key.endswith(":429") for key in stats["statuses"]), stats["statuses"]
    assert stats["peak_per_minute"]["teamwork_desk"] <= 120
    assert stats["peak_per_minute"]["teamwork_desk"] >= 108, "at least 90% of the budget"
    assert len(run.ids("teamwork_desk_tickets")) == 13050


def test_wrong_api_key_gives_one_clear_line(make_sandbox):
    sandbox = make_sandbox("teamwork_desk", sizes={"teamwork_desk": 5})
    config = tap_config(sandbox, "teamwork_desk")
    config["teamwork_desk"]["api_key"] = "tkn.v1_wrong-key-0000"
    run = run_tap(config)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert run.error_lines() == [
        "tap-helpdesk: error: Teamwork Desk: authentication failed (HTTP 401): "
        "check teamwork_desk.api_key"
    ]
    assert_no_secret(run.stdout, run.stderr, secrets=["tkn.v1_wrong-key-0000"])


@pytest.mark.parametrize("kind", ["502-html", "invalid-json"])
def test_bad_responses_give_one_clear_line(make_sandbox, kind):
    sandbox = make_sandbox(
        "teamwork_desk", sizes={"teamwork_desk": 5}, fault_rate=1.0, fault_kinds=(kind,)
    )
    run = run_tap(tap_config(sandbox, "teamwork_desk", max_retries=1))
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    errors = run.error_lines()
    assert len(errors) == 1, errors
    assert errors[0].startswith("tap-helpdesk: error: Teamwork Desk: ")
    assert ("HTTP 502" in errors[0]) if kind == "502-html" else ("expected JSON" in errors[0])
    assert_no_secret(run.stdout, run.stderr)


def test_filter_and_includes_are_sent_as_documented(make_sandbox):
    sandbox = make_sandbox("teamwork_desk", sizes={"teamwork_desk": 50})
    seen: list[dict[str, list[str]]] = []
    original = sandbox.apis["teamwork_desk"].list_tickets

    def spy(request):
        seen.append(request.query)
        return original(request)

    sandbox._routes[("GET", "/desk/api/v2/tickets.json")] = (sandbox.apis["teamwork_desk"], spy)
    run = run_tap(tap_config(sandbox, "teamwork_desk", end_date="2024-12-31T00:00:00Z"))
    assert run.returncode == 0, run.stderr
    # the archived walk first (archived=true), then the list as it shows by default; both
    # filtered alike, every state asked for (deleted tickets arrive flagged, not dropped)
    assert [q.get("archived") for q in seen] == [["true"]] + [None] * (len(seen) - 1)
    for query in seen:
        assert json.loads(query["filter"][0]) == {
            "updatedAt": {"$gte": "2024-01-01T00:00:00Z", "$lte": "2024-12-31T00:00:00Z"},
            "state": {"$in": ["active", "scheduled", "merged", "deleted"]},
        }
        assert query["orderBy"] == ["updatedAt"]
        assert query["orderMode"] == ["asc"]
        assert query["pageSize"] == ["100"]
        assert set(query["includes"][0].split(",")) == set(teamwork_desk.SIDELOADS.values())
