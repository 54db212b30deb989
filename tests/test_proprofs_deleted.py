"""ProProfs deleted tickets and the messages analytics builds on.

The list shows `"deleted": "0"/"1"` on each ticket and has no parameter for deleted
tickets, so they stay listed, flagged; the tap keeps the field (a boolean). Whether a
deletion moves `modified_date_time` is not documented: the sandbox's default says no (an
incremental run cannot see it, a documented limit), `deletion_touches_modified` says yes.
"""

from __future__ import annotations

import typing as t

import pytest

from tests.tap_runner import run_tap
from tests.test_proprofs import MESSAGES, TICKETS, config

if t.TYPE_CHECKING:
    from sandbox.proprofs import ProProfsAPI
    from sandbox.server import Sandbox

HELPDESK = "helpdesk@sandbox-helpdesk.example.com"


def proprofs(sandbox: Sandbox) -> ProProfsAPI:
    """The sandbox's ProProfs emulator."""
    return t.cast("ProProfsAPI", sandbox.apis["proprofs"])


def deleted_ids(sandbox: Sandbox) -> set[str]:
    """The tickets the sandbox holds as deleted."""
    return {str(i) for i, ticket in proprofs(sandbox).tickets.items() if ticket["deleted"]}


def warehouse(*runs: t.Any) -> dict[str, dict[str, t.Any]]:
    """Per ticket, the last record emitted over the runs (what an upserting target keeps)."""
    rows: dict[str, dict[str, t.Any]] = {}
    for run in runs:
        rows.update((r["ticket_id"], r) for r in run.records.get(TICKETS, []))
    return rows


def flagged(rows: dict[str, dict[str, t.Any]]) -> set[str]:
    return {ticket_id for ticket_id, row in rows.items() if row["deleted"] is True}


def old_live_tickets(sandbox: Sandbox, step: int) -> list[str]:
    """Every `step`-th ticket not deleted, oldest ids first."""
    api = proprofs(sandbox)
    return [str(i) for i in sorted(api.tickets) if not api.tickets[i]["deleted"]][::step]


def test_full_sync_brings_deleted_tickets_flagged_and_counted(make_sandbox):
    sandbox = make_sandbox("proprofs", sizes={"proprofs": 1000})
    run = run_tap(config(sandbox))
    assert run.returncode == 0, run.stderr
    rows = warehouse(run)
    assert len(rows) == sandbox.truth()[TICKETS]["count"] == 1000, "deleted ones included"
    assert flagged(rows) == deleted_ids(sandbox)
    assert len(flagged(rows)) > 20, "about 5% are deleted"
    assert {row["deleted"] for row in rows.values()} == {True, False}


def test_a_deletion_that_moves_the_modification_time_arrives_on_the_next_run(make_sandbox):
    sandbox = make_sandbox("proprofs", sizes={"proprofs": 400})
    api = proprofs(sandbox)
    api.deletion_touches_modified = True
    settings = config(sandbox, lookback_days=1)
    first = run_tap(settings)
    assert first.returncode == 0, first.stderr
    gone = old_live_tickets(sandbox, 50)
    for ticket_id in gone:
        api.delete(api.tickets[int(ticket_id)])
    second = run_tap(settings, state=first.final_state)
    assert second.returncode == 0, second.stderr
    again = warehouse(second)
    assert set(gone) <= flagged(again)
    for ticket_id in gone:
        assert again[ticket_id]["modified_date_time"] == api.utc(ticket_id, "modified")
    assert len(again) < 30, "only the lookback and the deleted tickets are re-read"
    rows = warehouse(first, second)
    assert flagged(rows) == deleted_ids(sandbox)
    assert len(rows) == sandbox.truth()[TICKETS]["count"]


def test_a_deletion_that_leaves_the_modification_time_waits_for_a_full_refresh(make_sandbox):
    """The documented limit, under the sandbox's default (the stricter reading)."""
    sandbox = make_sandbox("proprofs", sizes={"proprofs": 400})
    api = proprofs(sandbox)
    assert api.deletion_touches_modified is False
    settings = config(sandbox, lookback_days=1)
    first = run_tap(settings)
    assert first.returncode == 0, first.stderr
    gone = old_live_tickets(sandbox, 50)
    for ticket_id in gone:
        api.delete(api.tickets[int(ticket_id)])
    second = run_tap(settings, state=first.final_state)
    assert second.returncode == 0, second.stderr
    assert not set(gone) & set(warehouse(second)), "the sandbox reproduces the limit"
    full = run_tap(settings)
    assert full.returncode == 0, full.stderr
    assert flagged(warehouse(full)) == deleted_ids(sandbox) >= set(gone)


@pytest.mark.parametrize("touches", [True, False])
def test_tickets_deleted_mid_run_are_not_lost(make_sandbox, touches):
    """Every other request deletes a ticket (and replies on one, and adds one)."""
    sandbox = make_sandbox("proprofs", sizes={"proprofs": 600}, mutate_every=2)
    api = proprofs(sandbox)
    api.deletion_touches_modified = touches
    was_deleted = deleted_ids(sandbox)
    run = run_tap(config(sandbox))
    assert run.returncode == 0, run.stderr
    rows = warehouse(run)
    assert sorted(rows) == sandbox.truth()[TICKETS]["ids"], "none lost, new ones too"
    deleted_during = deleted_ids(sandbox) - was_deleted
    assert len(deleted_during) > 5
    if touches:  # each deletion moved its ticket to the tail, read last
        assert flagged(rows) == deleted_ids(sandbox)
    else:  # deleted after it was read: flagged in the warehouse only once re-read
        assert was_deleted <= flagged(rows) <= deleted_ids(sandbox)


def test_messages_follow_the_ticket_customer_first_agent_replies_after(make_sandbox):
    """What helpdesk_messages builds on: position 1 is the customer's message at the
    ticket's creation; replies carry `reply_by` (the assigned staff member), come from the
    help desk address to the customer and never before the first message nor after the
    ticket's last modification."""
    sandbox = make_sandbox("proprofs", sizes={"proprofs": 600}, mutate_every=3)
    run = run_tap(config(sandbox))
    assert run.returncode == 0, run.stderr
    tickets = warehouse(run)
    threads: dict[str, list[dict[str, t.Any]]] = {}
    for message in run.records[MESSAGES]:
        threads.setdefault(message["ticket_id"], []).append(message)
    assert set(threads) == set(tickets), "every ticket has its first message"
    replies = 0
    for ticket_id, messages in threads.items():
        ticket = tickets[ticket_id]
        latest = {m["position"]: m for m in messages}  # a re-read ticket brings them again
        ordered = [latest[p] for p in sorted(latest)]
        assert sorted(latest) == list(range(1, len(latest) + 1))
        customer = f"{ticket['customer_name']} <{ticket['customer_email']}>"
        first = ordered[0]
        assert first["created"] == ticket["created_date_time"]
        assert first["from"] == customer
        assert first.get("reply_by") is None
        times = [m["created"] for m in ordered]
        assert times == sorted(times)
        assert times[-1] <= ticket["modified_date_time"]
        for message in ordered[1:]:
            if message.get("reply_by"):
                replies += 1
                assert message["reply_by"] == ticket["staff"]
                assert (message["from"], message["to"]) == (HELPDESK, customer)
                assert message["created"] > first["created"]
            else:
                assert message["from"] == customer
    assert replies > 100
    assert all(m["created"].endswith("+00:00") for m in run.records[MESSAGES])
