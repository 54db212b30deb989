"""Several requests in flight, against answers that take time: the same records, bookmarks
that only move forward, a run killed mid-way that resumes without a gap, no 429."""

from __future__ import annotations

import typing as t

import pytest

from tests.conftest import tap_config
from tests.tap_runner import run_tap, run_tap_until

#: provider -> (stream, id field, sandbox size, extra settings)
CASES: dict[str, tuple[str, str, int, dict[str, t.Any]]] = {
    # 2023-2024 in 3-month windows: independent requests
    "proprofs": ("proprofs_tickets", "ticket_id", 400, {}),
    # a 20,000-ticket export with a capped window: its parts are independent
    "filum": ("filum_tickets", "ticket_id", 20_000, {}),
}


def versions(run: t.Any, stream: str, id_field: str) -> dict[str, t.Any]:
    return {str(r[id_field]): r for r in run.records[stream]}


@pytest.mark.parametrize("provider", list(CASES))
def test_requests_in_flight_give_the_records_of_one_at_a_time(
    make_sandbox: t.Any, provider: str
) -> None:
    stream, id_field, size, extra = CASES[provider]
    sandbox = make_sandbox(provider, sizes={provider: size}, latency=0.05, export_latency=0.3)
    runs = {}
    for width in (1, 3):
        config = tap_config(sandbox, provider, start_date="2023-01-01T00:00:00Z")
        config[provider].update(max_concurrent_requests=width, **extra)
        sandbox.reset_stats()
        run = run_tap(config)
        assert run.returncode == 0, run.stderr[-2000:]
        stats = sandbox.stats()
        assert stats["peak_in_flight"] == width if width == 1 else stats["peak_in_flight"] >= 2
        assert not any(k.endswith(":429") for k in stats["statuses"]), stats["statuses"]
        marks = [s["bookmarks"].get(stream, {}) for s in run.states]
        values = [m["replication_key_value"] for m in marks if "replication_key_value" in m]
        assert values, "no bookmark"
        assert values == sorted(values), "a bookmark moved back"
        runs[width] = run
    assert versions(runs[3], stream, id_field) == versions(runs[1], stream, id_field)
    assert len(runs[3].records[stream]) == len(runs[1].records[stream])


def test_a_run_killed_with_requests_in_flight_resumes_without_a_gap(make_sandbox: t.Any) -> None:
    sandbox = make_sandbox("proprofs", sizes={"proprofs": 600}, latency=0.05)
    config = tap_config(sandbox, "proprofs", start_date="2022-01-01T00:00:00Z")
    config["proprofs"]["max_concurrent_requests"] = 4
    killed = run_tap_until(config, stop_after_states=3)
    assert killed.returncode != 0
    assert 0 < len(killed.ids("proprofs_tickets", "ticket_id")) < 600
    resumed = run_tap(config, state=killed.final_state)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    got = killed.ids("proprofs_tickets", "ticket_id") | resumed.ids("proprofs_tickets", "ticket_id")
    assert sorted(got) == sorted(sandbox.truth()["proprofs_tickets"]["ids"])
