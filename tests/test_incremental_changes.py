"""Incremental runs see every change the API can show (Enneo, Teamwork Desk, ProProfs,
Socialboards).

A first run, then tickets created and changed the way each provider shows changes (a new
modification time; for ProProfs a reply), then a rerun from the final STATE: every created
or changed ticket arrives with its new values, and the rerun re-reads little else. The
provider's clock drives its times: behind the machine's, equal, and ahead of it.
(Filum has its own, its changes being new statuses: tests/test_filum.py.)
"""

from __future__ import annotations

import typing as t
from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import tap_config
from tests.tap_runner import run_tap

#: provider -> (ticket stream, id field, the sandbox's field and the record's field)
PROVIDERS: dict[str, tuple[str, str, str, str]] = {
    "enneo": ("enneo_reporting_tickets", "id", "modifiedAt", "modifiedAt"),
    "teamwork_desk": ("teamwork_desk_tickets", "id", "updatedAt", "updatedAt"),
    "proprofs": ("proprofs_tickets", "ticket_id", "modified", "modified_date_time"),
    # a reply is what Socialboards shows of a change: its last thread element moves
    "socialboards": ("socialboards_tickets", "id", "_last", "lastThreadElementCreationTime"),
}
CHANGES = 12


def snapshot(api: t.Any, field: str) -> dict[t.Any, t.Any]:
    return {key: ticket[field] for key, ticket in api.tickets.items()}


@pytest.mark.parametrize("skew", [-3, 0, 2], ids=["behind", "equal", "ahead"])
@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_every_change_arrives_on_the_rerun(make_sandbox: t.Any, provider: str, skew: int) -> None:
    stream, id_field, source_field, record_field = PROVIDERS[provider]
    sandbox = make_sandbox(provider, sizes={provider: 300})
    api = sandbox.apis[provider]
    api.clock = timedelta(hours=skew)
    config = tap_config(sandbox, provider, lookback_days=0)
    for _ in range(3):  # tickets recently changed before the first run, by the provider's clock
        api.mutate()
    started = datetime.now(timezone.utc).isoformat()
    first = run_tap(config)
    assert first.returncode == 0, first.stderr[-2000:]
    missed = set(sandbox.truth()[stream]["ids"]) - first.ids(stream, id_field)
    if provider == "socialboards" and skew > 0:
        # Creation slices end at the machine's clock when the run starts (a slice must be a
        # fixed set): tickets the provider stamps as created later wait until our clock has
        # passed them (a delay of the skew, never a loss; docs/providers/socialboards.md).
        assert all(api.utc(key, "creationTime") > started for key in missed)
    else:
        assert not missed, f"{provider}: {len(missed)} tickets missed by the first run"

    before = snapshot(api, source_field)
    for _ in range(CHANGES):
        api.mutate()  # one ticket created, one changed
    after = snapshot(api, source_field)
    changed = {key for key, value in after.items() if before.get(key) != value} | missed
    assert len(changed) >= CHANGES  # every mutation creates a ticket

    rerun_started = datetime.now(timezone.utc).isoformat()
    sandbox.reset_stats()
    second = run_tap(config, state=first.final_state)
    requests = sandbox.stats()["requests"].get(provider, 0)
    if provider == "socialboards" and skew > 0:  # see above: these wait for our clock
        waiting = {k for k in changed if api.utc(k, "creationTime") > rerun_started}
        assert waiting <= {*missed, *(set(after) - set(before))}, "only new tickets wait"
        changed -= waiting
    assert second.returncode == 0, second.stderr[-2000:]
    got = {str(r[id_field]): r for r in second.records.get(stream, [])}
    for key in changed:
        record = got.get(str(key))
        assert record is not None, f"{provider}: changed ticket {key} did not arrive"
        assert record[record_field] == api.utc(key, source_field)
    ratio = len(second.records[stream]) / len(changed)
    emitted = len(second.records[stream])
    print(
        f"{provider} {skew:+d} h: rerun {requests} requests, {emitted} records for "
        f"{len(changed)} changed tickets, ratio {ratio:.2f}"
    )
    assert ratio <= 3, "the rerun re-read far more than what changed"
    for state in second.states:
        value = state["bookmarks"][stream]["replication_key_value"]
        assert value >= first.final_state["bookmarks"][stream]["replication_key_value"]
