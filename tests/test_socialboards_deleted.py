"""Socialboards deleted tickets: listed, flagged `properties.isDeleted: true` (the request
has no field for them); the tap keeps the flag in the record. A deletion adds no thread
element and the API has no modification time, so an incremental run sees it only for a
ticket it re-reads anyway (the lookback, a new reply); a full refresh sees every one."""

from __future__ import annotations

import typing as t
from datetime import datetime, timedelta, timezone

from sandbox.socialboards import to_ticks
from tests.tap_runner import run_tap
from tests.test_socialboards import STREAM, api_of, config

if t.TYPE_CHECKING:
    from sandbox.server import Sandbox


def deleted_ids(sandbox: Sandbox) -> set[int]:
    """The tickets the sandbox holds as deleted."""
    return {i for i, ticket in api_of(sandbox).tickets.items() if ticket["properties"]["isDeleted"]}


def warehouse(*runs: t.Any) -> dict[int, dict[str, t.Any]]:
    """Per ticket, the last record emitted over the runs (what an upserting target keeps)."""
    rows: dict[int, dict[str, t.Any]] = {}
    for run in runs:
        rows.update((r["id"], r) for r in run.records.get(STREAM, []))
    return rows


def flagged(rows: dict[int, dict[str, t.Any]]) -> set[int]:
    return {i for i, row in rows.items() if row["properties"]["isDeleted"] is True}


def test_full_sync_brings_deleted_tickets_flagged_and_counted(make_sandbox):
    sandbox = make_sandbox("socialboards", sizes={"socialboards": 1500})
    run = run_tap(config(sandbox))
    assert run.returncode == 0, run.stderr
    rows = warehouse(run)
    assert sorted(rows) == sandbox.truth()[STREAM]["ids"], "deleted ones included"
    assert len(rows) == sandbox.truth()[STREAM]["count"] == 1500
    assert flagged(rows) == deleted_ids(sandbox)
    assert len(flagged(rows)) > 30, "about 4% are deleted"
    assert all(isinstance(r["properties"]["isDeleted"], bool) for r in rows.values())


def test_a_later_deletion_reaches_incremental_runs_only_where_they_re_read(make_sandbox):
    sandbox = make_sandbox("socialboards", sizes={"socialboards": 800})
    api = api_of(sandbox)
    settings = config(sandbox, lookback_days=1)
    first = run_tap(settings)
    assert first.returncode == 0, first.stderr
    live = [i for i in api.listing() if not api.tickets[i]["properties"]["isDeleted"]]
    by_creation = sorted(live, key=lambda i: api.tickets[i]["_created"])
    newest, replied, old = by_creation[-1], by_creation[10], by_creation[20:400:40]
    for ticket_id in [newest, replied, *old]:
        api.delete(ticket_id)
    now = datetime.now(timezone.utc) - timedelta(seconds=1)
    api.tickets[replied]["_last"] = to_ticks(now)  # a reply after the deletion
    api.tickets[replied]["replyCount"] += 1

    second = run_tap(settings, state=first.final_state)
    assert second.returncode == 0, second.stderr
    again = warehouse(second)
    assert {newest, replied} <= flagged(again), "the lookback and the activity walk"
    assert not set(old) & set(again), "the limit: nothing shows an older ticket changed"

    settings["socialboards"]["full_refresh"] = True
    full = run_tap(settings, state=second.final_state)
    assert full.returncode == 0, full.stderr
    assert flagged(warehouse(full)) == deleted_ids(sandbox) >= {newest, replied, *old}
    assert len(warehouse(full)) == sandbox.truth()[STREAM]["count"]


def test_tickets_deleted_mid_run_are_not_lost(make_sandbox):
    """Each request deletes a ticket (and replies on one, adds one): every ticket arrives;
    one deleted after it was read keeps its old flag until a full refresh."""
    sandbox = make_sandbox("socialboards", sizes={"socialboards": 1500}, mutate_every=1)
    before, was_deleted = set(api_of(sandbox).tickets), deleted_ids(sandbox)
    run = run_tap(config(sandbox))
    assert run.returncode == 0, run.stderr
    rows = warehouse(run)
    assert not before - set(rows), "no ticket lost"
    assert len(deleted_ids(sandbox) - was_deleted) > 20
    assert was_deleted <= flagged(rows) <= deleted_ids(sandbox)

    sandbox.configure(mutate_every=0)
    settings = config(sandbox)
    settings["socialboards"]["full_refresh"] = True
    full = run_tap(settings, state=run.final_state)
    assert full.returncode == 0, full.stderr
    assert flagged(warehouse(run, full)) == deleted_ids(sandbox)
    assert sorted(warehouse(run, full)) == sandbox.truth()[STREAM]["ids"]
