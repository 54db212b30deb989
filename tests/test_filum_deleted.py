"""Filum CX deleted tickets: the export lists them only when `statuses` names `deleted`
(the sandbox's stricter reading of docs that say nothing of the default); the tap asks
for every documented status, so they reach the warehouse flagged `status: "deleted"`."""

from __future__ import annotations

import typing as t
from datetime import datetime, timezone

import requests

from sandbox import filum as fake
from tests.conftest import tap_config
from tests.tap_runner import run_tap
from tests.test_filum import STREAM, config_for, filum, ticket_ids

if t.TYPE_CHECKING:
    from sandbox.server import Sandbox

DELETED = "deleted"


def export(sandbox: Sandbox, **params: t.Any) -> list[dict[str, t.Any]]:
    """One JSON export of 2024 straight from the sandbox (no tap)."""
    answer = requests.post(
        sandbox.url + fake.PATH,
        params={"start_date": "2024-01-01", "end_date": "2024-03-30", **params},
        headers={
            "authorization": f"Bearer {fake.TOKEN}",
            "organization-id": fake.ORGANIZATION_ID,
            "auth-type": "token",
            "accept": "application/json",
        },
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return t.cast("list[dict[str, t.Any]]", answer.json())


def deleted_ids(sandbox: Sandbox) -> set[int]:
    """The tickets the sandbox holds as deleted."""
    return {i for i, ticket in filum(sandbox).tickets.items() if ticket.status == DELETED}


def latest_versions(run: t.Any) -> dict[int, dict[str, t.Any]]:
    """Per ticket, the last record emitted (what a target keeps, upserting by the key)."""
    return {record["ticket_id"]: record for record in run.records.get(STREAM, [])}


def test_the_sandbox_lists_deleted_tickets_only_when_statuses_asks_for_them(make_sandbox):
    sandbox = make_sandbox("filum", sizes={"filum": 600})
    default = export(sandbox)
    assert default, "the quarter has tickets"
    assert DELETED not in {row["Status"] for row in default}, "hidden by default"
    only = export(sandbox, statuses=DELETED)
    assert only
    assert {row["Status"] for row in only} == {DELETED}
    every = export(sandbox, statuses=list(fake.STATUSES))
    assert {row["Ticket ID"] for row in every} == {row["Ticket ID"] for row in default} | {
        row["Ticket ID"] for row in only
    }
    filum(sandbox).lists_deleted_by_default = True  # the other reading of the docs
    assert len(export(sandbox)) == len(every)


def test_full_sync_brings_deleted_tickets_flagged(make_sandbox):
    sandbox = make_sandbox("filum", sizes={"filum": 2000})
    run = run_tap(config_for(sandbox))
    assert run.returncode == 0, run.stderr
    truth = sandbox.truth()[STREAM]
    assert sorted(ticket_ids(run)) == truth["ids"], "deleted tickets included"
    assert len(run.records[STREAM]) == truth["count"] == 2000
    flagged = {r["ticket_id"] for r in run.records[STREAM] if r["status"] == DELETED}
    assert flagged == deleted_ids(sandbox)
    assert len(flagged) > 40, "about 5% are deleted"
    api = filum(sandbox)
    assert all(DELETED in e.statuses for e in api.exports), "every export asks for them"


def test_a_ticket_deleted_after_the_sync_arrives_flagged_on_the_next_run(make_sandbox):
    """Deleting moves Updated at: where the export range applies to the update day, the
    incremental run's range covers it and the ticket comes again, flagged."""
    sandbox = make_sandbox("filum", sizes={"filum": 400})
    api = filum(sandbox)
    api.filter_field = "updated"
    config = tap_config(sandbox, "filum", lookback_days=0)
    first = run_tap(config)
    assert first.returncode == 0, first.stderr
    live = sorted(i for i in api.tickets if api.tickets[i].status != DELETED)
    gone = [api.tickets[i] for i in live[::40]]
    for ticket in gone:
        api.delete(ticket)
    second = run_tap(config, state=first.final_state)
    assert second.returncode == 0, second.stderr
    got = latest_versions(second)
    for ticket in gone:
        assert got[ticket.id]["status"] == DELETED
        assert got[ticket.id]["updated_at"] == api.utc(ticket.id, "updated")
    assert len(got) < 60, "the rerun read only what changed"
    warehouse = latest_versions(first) | got
    assert {i for i, r in warehouse.items() if r["status"] == DELETED} == deleted_ids(sandbox)
    assert len(warehouse) == sandbox.truth()[STREAM]["count"]


def test_with_the_range_on_creation_a_later_deletion_waits_for_a_full_refresh(make_sandbox):
    """The limit: where the export range applies to the creation day (the sandbox's
    default), an incremental run re-reads only recent creation days, so an older ticket
    deleted since is not seen until a run without state."""
    sandbox = make_sandbox("filum", sizes={"filum": 400})
    api = filum(sandbox)
    config = tap_config(sandbox, "filum", lookback_days=1)
    first = run_tap(config)
    assert first.returncode == 0, first.stderr
    old = next(t for i, t in sorted(api.tickets.items()) if t.status != DELETED)
    assert old.created < datetime(2024, 12, 1, tzinfo=timezone.utc)
    api.delete(old)
    second = run_tap(config, state=first.final_state)
    assert second.returncode == 0, second.stderr
    assert old.id not in ticket_ids(second), "the sandbox reproduces the limit"
    full = run_tap(config)
    assert full.returncode == 0, full.stderr
    assert latest_versions(full)[old.id]["status"] == DELETED


def test_tickets_deleted_mid_run_are_not_lost_and_arrive_flagged(make_sandbox):
    """Each request deletes a ticket (and changes another): with the range on the update
    day, a deleted ticket moves to today, read last, so the warehouse ends as the sandbox."""
    sandbox = make_sandbox("filum", sizes={"filum": 800}, mutate_every=1)
    api = filum(sandbox)
    api.filter_field = "updated"
    before = set(api.tickets)
    was_deleted = deleted_ids(sandbox)
    run = run_tap(tap_config(sandbox, "filum"))
    assert run.returncode == 0, run.stderr
    assert not before - set(ticket_ids(run)), "no ticket lost"
    deleted_during = deleted_ids(sandbox) - was_deleted
    assert len(deleted_during) > 10
    warehouse = latest_versions(run)
    assert len(warehouse) == sandbox.truth()[STREAM]["count"]
    assert {i for i, r in warehouse.items() if r["status"] == DELETED} == deleted_ids(sandbox)
