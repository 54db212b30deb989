"""ProProfs with several requests in flight: a later 3-month window is paged side by side
with the one being read (TicketWalk.peek), its answers held until their turn, against a
sandbox whose answers come late and out of order (latency, latency_jitter)."""

from __future__ import annotations

import json
import time
import typing as t
from datetime import datetime

import pytest

from sandbox import proprofs as fake
from tests.conftest import tap_config
from tests.tap_runner import run_tap, run_tap_until

TICKETS, MESSAGES = "proprofs_tickets", "proprofs_ticket_messages"
WIDTH = 4


def settings(sandbox: t.Any, width: int = WIDTH, *, fast: bool = True) -> dict[str, t.Any]:
    """2024 (the sandbox's data) in five windows, then empty ones up to now; the tail."""
    config = tap_config(sandbox, "proprofs", start_date="2024-01-01T00:00:00Z")
    config["proprofs"]["max_concurrent_requests"] = width
    if fast:
        config["proprofs"].update(requests_per_second=200, requests_per_minute=100_000)
    return config


def bookmarks(run: t.Any) -> list[str]:
    marks = [s["bookmarks"].get(TICKETS, {}) for s in run.states]
    return [m["replication_key_value"] for m in marks if m.get("replication_key_value")]


def paged_ahead(calls: list[dict[str, t.Any]]) -> bool:
    """Whether a window's second page was asked for before the window before it ended."""
    windows = [c for c in calls if c["end"]]
    last = {c["start"]: index for index, c in enumerate(windows)}
    return any(
        call["page"] == "2" and any(last[s] > index for s in last if s < call["start"])
        for index, call in enumerate(windows)
    )


def digest(rows: list[dict[str, t.Any]]) -> list[str]:
    """The records as a multiset (sorted JSON texts)."""
    return sorted(json.dumps(r, sort_keys=True) for r in rows)


def test_several_in_flight_give_the_records_and_requests_of_one_at_a_time(
    make_sandbox: t.Any,
) -> None:
    sandbox = make_sandbox("proprofs", sizes={"proprofs": 1200}, latency=0.03, latency_jitter=0.04)
    api = sandbox.apis["proprofs"]
    runs, calls = {}, {}
    for width in (1, WIDTH):
        sandbox.reset_stats()
        before = len(api.calls)
        run = run_tap(settings(sandbox, width))
        assert run.returncode == 0, run.stderr[-2000:]
        peak = sandbox.stats()["peak_in_flight"]
        assert peak == 1 if width == 1 else peak >= 2, peak
        marks = bookmarks(run)
        assert marks, "no bookmark"
        assert marks == sorted(marks), "a bookmark moved back"
        runs[width], calls[width] = run, api.calls[before:]
    assert not paged_ahead(calls[1])
    assert paged_ahead(calls[WIDTH]), "the next window was paged side by side"
    for stream in (TICKETS, MESSAGES):
        assert digest(runs[WIDTH].records[stream]) == digest(runs[1].records[stream])
    assert len(runs[1].records[TICKETS]) == 1200
    assert len(calls[WIDTH]) == len(calls[1]), "no request wasted, none dropped"
    assert bookmarks(runs[WIDTH]) == bookmarks(runs[1])


def test_a_run_killed_with_a_window_paged_ahead_resumes_without_a_gap(
    make_sandbox: t.Any,
) -> None:
    sandbox = make_sandbox("proprofs", sizes={"proprofs": 1500}, latency=0.02, latency_jitter=0.04)
    config = settings(sandbox)
    killed = run_tap_until(config, stop_after_states=3)
    assert killed.returncode != 0
    assert paged_ahead(sandbox.apis["proprofs"].calls)
    assert 0 < len(killed.ids(TICKETS, "ticket_id")) < 1500
    marks = bookmarks(killed)
    assert marks, "a STATE was written before the kill"
    assert marks == sorted(marks), "a bookmark moved back"
    resumed = run_tap(config, state=killed.final_state)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert len(resumed.records[TICKETS]) < 1500, "the resumed run does not start over"
    truth = sandbox.truth()
    got = killed.ids(TICKETS, "ticket_id") | resumed.ids(TICKETS, "ticket_id")
    assert sorted(got) == truth[TICKETS]["ids"]
    assert min(bookmarks(resumed)) >= marks[-1]


def test_tickets_modified_mid_sync_with_a_window_paged_ahead_are_met(
    make_sandbox: t.Any,
) -> None:
    """A window's total changes under it: it is read again in halves, ahead of the next
    window's held pages; every ticket comes, in its latest form."""
    sandbox = make_sandbox(
        "proprofs", sizes={"proprofs": 800}, mutate_every=2, latency=0.01, latency_jitter=0.03
    )
    api = sandbox.apis["proprofs"]
    before = set(sandbox.truth()[TICKETS]["ids"])
    run = run_tap(settings(sandbox))
    assert run.returncode == 0, run.stderr[-2000:]
    assert paged_ahead(api.calls)
    assert "changed while they were paged through" in run.stderr, "the shift happened"
    assert "reading them again in halves" in run.stderr
    assert_every_ticket_in_its_latest_form(run, sandbox, before)


def assert_every_ticket_in_its_latest_form(run: t.Any, sandbox: t.Any, before: set[t.Any]) -> None:
    """After tickets changed mid-sync: none that existed at the start is lost, every ticket
    comes in its latest version, bookmarks only move forward."""
    api = sandbox.apis["proprofs"]
    assert not before - run.ids(TICKETS, "ticket_id"), "a ticket existing at the start was lost"
    truth = sandbox.truth()
    assert sorted(run.ids(TICKETS, "ticket_id")) == truth[TICKETS]["ids"]
    latest = {r["ticket_id"]: r["modified_date_time"] for r in run.records[TICKETS]}
    assert all(latest[i] == api.utc(i, "modified") for i in truth[TICKETS]["ids"])
    marks = bookmarks(run)
    assert marks == sorted(marks), "a bookmark moved back"


def every_ticket_through_faults(sandbox: t.Any) -> dict[str, int]:
    """A run at the default width through injected faults: every ticket and message, drops
    and 429s among the faults, bookmarks that only move forward. Returns the faults."""
    run = run_tap(settings(sandbox))
    assert run.returncode == 0, run.stderr[-2000:]
    truth = sandbox.truth()
    assert sorted(run.ids(TICKETS, "ticket_id")) == truth[TICKETS]["ids"]
    keys = {(r["ticket_id"], r["position"]) for r in run.records[MESSAGES]}
    assert sorted(keys) == sorted(map(tuple, truth[MESSAGES]["ids"]))
    faults = {k: v for k, v in sandbox.stats()["statuses"].items() if "fault" in k}
    assert any("drop" in k for k in faults), faults
    assert any("429" in k for k in faults), faults
    marks = bookmarks(run)
    assert marks == sorted(marks), "a bookmark moved back"
    return faults


def test_faults_with_a_window_paged_ahead_still_give_every_ticket(make_sandbox: t.Any) -> None:
    """429s (with and without Retry-After), 5xx, HTML 502s and answers cut off mid-way."""
    sandbox = make_sandbox(
        "proprofs",
        sizes={"proprofs": 1000},
        fault_rate=0.12,
        seed=5,
        latency=0.01,
        latency_jitter=0.03,
    )
    faults = every_ticket_through_faults(sandbox)
    assert any("fault-5" in k for k in faults), faults
    assert paged_ahead(sandbox.apis["proprofs"].calls)


def test_the_default_budget_holds_with_several_in_flight(
    make_sandbox: t.Any, monkeypatch: t.Any
) -> None:
    """ProProfs publishes no limit: the sandbox enforces a budget of 5 a second and 300 a
    minute (the tap's old default, set here) and answers 429 above it; with 4 in flight
    none comes."""
    monkeypatch.setattr(fake.ProProfsAPI, "rate_limits", (5, 300))
    sandbox = make_sandbox("proprofs", sizes={"proprofs": 700}, latency=0.05, latency_jitter=0.05)
    config = settings(sandbox, fast=False)
    config["proprofs"]["requests_per_second"] = 5
    run = run_tap(config)
    assert run.returncode == 0, run.stderr[-2000:]
    stats = sandbox.stats()
    assert not any(k.endswith(":429") for k in stats["statuses"]), stats["statuses"]
    assert stats["peak_in_flight"] >= 2
    assert stats["peak_per_second"]["proprofs"] <= 5
    assert paged_ahead(sandbox.apis["proprofs"].calls)
    assert sorted(run.ids(TICKETS, "ticket_id")) == sandbox.truth()[TICKETS]["ids"]


# -- big windows read in time parts side by side (ahead.split_plan) -------------------------

#: tickets enough for windows of more than two parts' worth of pages at WIDTH (2 x 8)
BIG = 3000


def split_parts(calls: list[dict[str, t.Any]]) -> set[tuple[str, str]]:
    """The ranges asked for that are no 3-month window (nor a tail): parts and halves."""
    windows = {c["start"]: c["end"] for c in calls if c["end"] and c["page"] == "1"}
    ranges = {(c["start"], c["end"]) for c in calls if c["end"]}
    longest = max(windows.values(), key=lambda end: end) if windows else ""
    return {
        (start, end)
        for start, end in ranges
        if not _three_months_apart(start, end) and end != longest
    }


def _three_months_apart(start: str, end: str) -> bool:
    days = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).days
    return days >= 88


def parts_side_by_side(calls: list[dict[str, t.Any]]) -> bool:
    """Whether a part's second page was asked for before the part before it ended."""
    parts = split_parts(calls)
    inside = [c for c in calls if (c["start"], c["end"]) in parts]
    last = {c["start"]: index for index, c in enumerate(inside)}
    return any(
        call["page"] == "2" and any(last[s] > index for s in last if s < call["start"])
        for index, call in enumerate(inside)
    )


def test_big_windows_read_in_parts_side_by_side_give_the_records_of_one_at_a_time(
    make_sandbox: t.Any,
) -> None:
    sandbox = make_sandbox("proprofs", sizes={"proprofs": BIG}, latency=0.01, latency_jitter=0.03)
    api = sandbox.apis["proprofs"]
    runs, calls = {}, {}
    for width in (1, WIDTH):
        before = len(api.calls)
        run = run_tap(settings(sandbox, width))
        assert run.returncode == 0, run.stderr[-2000:]
        marks = bookmarks(run)
        assert marks == sorted(marks), "a bookmark moved back"
        runs[width], calls[width] = run, api.calls[before:]
    assert not split_parts(calls[1]), "one at a time: every window read whole"
    assert len(split_parts(calls[WIDTH])) >= 6, "windows read in time parts"
    assert parts_side_by_side(calls[WIDTH])
    for stream in (TICKETS, MESSAGES):
        assert digest(runs[WIDTH].records[stream]) == digest(runs[1].records[stream])
    assert len(runs[1].records[TICKETS]) == BIG
    assert set(bookmarks(runs[1])) <= set(bookmarks(runs[WIDTH])), "every window end, and parts"
    # a partial page per part and each split window's first page: about 10% at 4 in flight
    assert len(calls[1]) < len(calls[WIDTH]) <= len(calls[1]) * 1.15, (len(calls[1]), calls)


def test_a_run_killed_while_windows_are_read_in_parts_resumes_without_a_gap(
    make_sandbox: t.Any,
) -> None:
    sandbox = make_sandbox("proprofs", sizes={"proprofs": BIG}, latency=0.01, latency_jitter=0.03)
    config = settings(sandbox)
    killed = run_tap_until(config, stop_after_states=4)
    assert killed.returncode != 0
    assert split_parts(sandbox.apis["proprofs"].calls), "killed with windows in parts"
    assert 0 < len(killed.ids(TICKETS, "ticket_id")) < BIG
    marks = bookmarks(killed)
    assert marks, "a STATE was written before the kill"
    assert marks == sorted(marks), "a bookmark moved back"
    resumed = run_tap(config, state=killed.final_state)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert len(resumed.records[TICKETS]) < BIG, "the resumed run does not start over"
    got = killed.ids(TICKETS, "ticket_id") | resumed.ids(TICKETS, "ticket_id")
    assert sorted(got) == sandbox.truth()[TICKETS]["ids"]
    assert min(bookmarks(resumed)) >= marks[-1]


def test_tickets_modified_mid_sync_in_a_part_are_met(make_sandbox: t.Any) -> None:
    """A part's total changes under it: it is read again in halves before the next part."""
    sandbox = make_sandbox(
        "proprofs", sizes={"proprofs": BIG}, mutate_every=3, latency=0.01, latency_jitter=0.02
    )
    api = sandbox.apis["proprofs"]
    before = set(sandbox.truth()[TICKETS]["ids"])
    run = run_tap(settings(sandbox))
    assert run.returncode == 0, run.stderr[-2000:]
    assert parts_side_by_side(api.calls)
    assert "changed while they were paged through" in run.stderr, "the shift happened"
    assert_every_ticket_in_its_latest_form(run, sandbox, before)


def test_faults_while_windows_are_read_in_parts_still_give_every_ticket(
    make_sandbox: t.Any,
) -> None:
    sandbox = make_sandbox(
        "proprofs",
        sizes={"proprofs": BIG},
        fault_rate=0.12,
        seed=11,
        latency=0.01,
        latency_jitter=0.02,
    )
    every_ticket_through_faults(sandbox)
    assert parts_side_by_side(sandbox.apis["proprofs"].calls)


def test_the_default_budget_holds_with_windows_read_in_parts(
    make_sandbox: t.Any, monkeypatch: t.Any
) -> None:
    """The sandbox enforces the tap's default budget (10 a second, 300 a minute)."""
    monkeypatch.setattr(fake.ProProfsAPI, "rate_limits", (10, 300))
    sandbox = make_sandbox("proprofs", sizes={"proprofs": BIG}, latency=0.02, latency_jitter=0.03)
    run = run_tap(settings(sandbox, fast=False))
    assert run.returncode == 0, run.stderr[-2000:]
    stats = sandbox.stats()
    assert not any(k.endswith(":429") for k in stats["statuses"]), stats["statuses"]
    assert stats["peak_per_second"]["proprofs"] <= 10
    assert parts_side_by_side(sandbox.apis["proprofs"].calls)
    assert sorted(run.ids(TICKETS, "ticket_id")) == sandbox.truth()[TICKETS]["ids"]


@pytest.mark.slow
def test_the_default_settings_keep_10_a_second_and_300_a_minute(
    make_sandbox: t.Any, monkeypatch: t.Any
) -> None:
    """Default rates and width against a sandbox refusing more than 10 a second and 300 a
    minute: more than a minute's budget of requests, none refused, the minute waited out."""
    monkeypatch.setattr(fake.ProProfsAPI, "rate_limits", (10, 300))
    sandbox = make_sandbox("proprofs", sizes={"proprofs": 8000}, latency=0.05)
    config = tap_config(sandbox, "proprofs", start_date="2024-01-01T00:00:00Z")
    assert "max_concurrent_requests" not in config["proprofs"], "the default width"
    started = time.monotonic()
    run = run_tap(config)
    elapsed = time.monotonic() - started
    assert run.returncode == 0, run.stderr[-2000:]
    stats = sandbox.stats()
    assert not any(k.endswith(":429") for k in stats["statuses"]), stats["statuses"]
    sent = stats["requests"]["proprofs"]
    assert sent > 300, "more than a minute's budget"
    assert stats["peak_per_second"]["proprofs"] <= 10
    assert stats["peak_per_minute"]["proprofs"] <= 300
    assert elapsed >= 60, "the 301st request waited for the minute"
    assert stats["peak_in_flight"] >= 2
    assert parts_side_by_side(sandbox.apis["proprofs"].calls)
    assert sorted(run.ids(TICKETS, "ticket_id")) == sandbox.truth()[TICKETS]["ids"]
