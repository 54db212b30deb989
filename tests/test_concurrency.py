"""Several requests in flight, against answers that take time: the same records, bookmarks
that only move forward, a run killed mid-way that resumes without a gap, no 429.

Enneo and Teamwork Desk walk their keyset in sub-ranges side by side (tap_helpdesk.paging);
answers come back out of order (latency_jitter), later sub-ranges are held until those
before them are read."""

from __future__ import annotations

import signal
import threading
import time
import typing as t

import pytest

from sandbox import enneo as sandbox_enneo
from tests.conftest import tap_config
from tests.tap_runner import run_tap, run_tap_until

#: provider -> (stream, id field, sandbox size, extra settings)
CASES: dict[str, tuple[str, str, int, dict[str, t.Any]]] = {
    # 2023-2024 in 3-month windows: independent requests
    "proprofs": ("proprofs_tickets", "ticket_id", 400, {}),
    # a 20,000-ticket export with a capped window: its parts are independent
    "filum": ("filum_tickets", "ticket_id", 20_000, {}),
    # keyset walks: pages of 1000 (Enneo) and 100 (Teamwork Desk), cut into sub-ranges
    "enneo": ("enneo_tickets", "id", 6000, {"requests_per_second": 1000}),
    "teamwork_desk": ("teamwork_desk_tickets", "id", 2500, {"requests_per_minute": 100_000}),
}
#: provider -> its keyset stream, for the tests that only concern keyset walks
KEYSET = {"enneo": "enneo_tickets", "teamwork_desk": "teamwork_desk_tickets"}


def versions(run: t.Any, stream: str, id_field: str) -> dict[str, t.Any]:
    return {str(r[id_field]): r for r in run.records[stream]}


@pytest.mark.parametrize("provider", list(CASES))
def test_requests_in_flight_give_the_records_of_one_at_a_time(
    make_sandbox: t.Any, provider: str
) -> None:
    stream, id_field, size, extra = CASES[provider]
    sandbox = make_sandbox(
        provider, sizes={provider: size}, latency=0.05, latency_jitter=0.05, export_latency=0.3
    )
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


def bookmarks(run: t.Any, stream: str) -> list[t.Any]:
    marks = [s["bookmarks"].get(stream, {}) for s in run.states]
    return [m["replication_key_value"] for m in marks if "replication_key_value" in m]


def keyset_config(sandbox: t.Any, provider: str, width: int, **extra: t.Any) -> dict[str, t.Any]:
    config = tap_config(sandbox, provider, start_date="2023-01-01T00:00:00Z")
    config[provider].update(max_concurrent_requests=width, **CASES[provider][3], **extra)
    return config


@pytest.mark.parametrize("provider", list(KEYSET))
def test_a_keyset_run_killed_with_sub_ranges_in_flight_resumes_without_a_gap(
    make_sandbox: t.Any, provider: str
) -> None:
    stream = KEYSET[provider]
    size = CASES[provider][2]
    sandbox = make_sandbox(provider, sizes={provider: size}, latency=0.02, latency_jitter=0.04)
    config = keyset_config(sandbox, provider, 4)
    killed = run_tap_until(config, stop_after_records=(stream, size // 2))
    assert killed.returncode != 0
    assert 0 < len(killed.ids(stream)) < size
    marks = bookmarks(killed, stream)
    assert marks, "a STATE was written before the kill"
    assert marks == sorted(marks), "a bookmark moved back"
    resumed = run_tap(config, state=killed.final_state)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert len(resumed.records[stream]) < size, "the resumed run does not start over"
    assert sorted(killed.ids(stream) | resumed.ids(stream)) == sandbox.truth()[stream]["ids"]
    assert min(bookmarks(resumed, stream)) >= marks[-1]


def test_enneo_tickets_modified_mid_sync_at_width_4_are_met_in_their_new_form(
    make_sandbox: t.Any,
) -> None:
    sandbox = make_sandbox(
        "enneo", sizes={"enneo": 5000}, mutate_every=1, latency=0.01, latency_jitter=0.03
    )
    before = set(sandbox.truth()["enneo_tickets"]["ids"])
    run = run_tap(keyset_config(sandbox, "enneo", 4))
    assert run.returncode == 0, run.stderr[-2000:]
    assert not before - run.ids("enneo_tickets"), "a ticket was skipped"
    marks = bookmarks(run, "enneo_tickets")
    assert marks == sorted(marks), "a bookmark moved back"
    latest = {r["id"]: r["modifiedAt"] for r in run.records["enneo_tickets"]}
    assert len(run.records["enneo_tickets"]) > len(latest), "modified tickets are re-read"
    final = run.final_state["bookmarks"]["enneo_tickets"]["replication_key_value"]
    api = sandbox.apis["enneo"]
    # a ticket changed after the walk last passed it is at or after the final bookmark,
    # where the next run starts (see tests/test_enneo.py)
    for ticket_id in before:
        now = api.utc(ticket_id, "modifiedAt")
        assert latest[ticket_id] == now or now >= final, f"ticket {ticket_id} is stale"


def test_teamwork_tickets_updated_mid_sync_at_width_4_are_met_in_their_new_form(
    make_sandbox: t.Any,
) -> None:
    sandbox = make_sandbox(
        "teamwork_desk",
        sizes={"teamwork_desk": 2000},
        mutate_every=1,
        latency=0.01,
        latency_jitter=0.03,
    )
    before = set(sandbox.truth()["teamwork_desk_tickets"]["ids"])
    run = run_tap(keyset_config(sandbox, "teamwork_desk", 4))
    assert run.returncode == 0, run.stderr[-2000:]
    assert not before - run.ids("teamwork_desk_tickets")
    api = sandbox.apis["teamwork_desk"]
    latest = {r["id"]: r["updatedAt"] for r in run.records["teamwork_desk_tickets"]}
    final = run.final_state["bookmarks"]["teamwork_desk_tickets"]["replication_key_value"]
    stale = [
        i
        for i in before
        if latest[i] != api.tickets[i]["updatedAt"].isoformat()
        and api.tickets[i]["updatedAt"].isoformat() < final
    ]
    assert not stale, "every ticket updated before the walk ended is read in its new form"


@pytest.mark.parametrize("provider", list(KEYSET))
def test_faults_with_sub_ranges_in_flight_still_give_every_ticket(
    make_sandbox: t.Any, provider: str
) -> None:
    """429s (with and without Retry-After), 5xx, HTML 502s and answers cut off mid-way."""
    stream = KEYSET[provider]
    sandbox = make_sandbox(
        provider,
        sizes={provider: CASES[provider][2]},
        fault_rate=0.1,
        seed=5,
        latency=0.01,
        latency_jitter=0.03,
    )
    run = run_tap(keyset_config(sandbox, provider, 4))
    assert run.returncode == 0, run.stderr[-2000:]
    assert sorted(run.ids(stream)) == sandbox.truth()[stream]["ids"]
    faults = {k: v for k, v in sandbox.stats()["statuses"].items() if "fault" in k}
    assert any("drop" in k for k in faults), faults
    assert any("429" in k for k in faults), faults
    marks = bookmarks(run, stream)
    assert marks == sorted(marks), "a bookmark moved back"


def test_a_retry_after_pauses_every_request_in_flight(make_sandbox: t.Any) -> None:
    """After a 429 with Retry-After: 1, no request of the run reaches the server for that
    second: not the retry, not the other sub-ranges' next pages."""
    sandbox = make_sandbox(
        "teamwork_desk",
        sizes={"teamwork_desk": 1500},
        fault_rate=0.04,
        fault_kinds=("429-retry-after",),
        seed=3,
        latency=0.02,
        latency_jitter=0.02,
    )
    seen: list[tuple[float, int]] = []
    lock = threading.Lock()
    handle = sandbox.handle

    def recording(request: t.Any) -> t.Any:
        response = handle(request)
        with lock:
            seen.append((time.monotonic(), response.status))
        return response

    sandbox.handle = recording  # type: ignore[method-assign]
    run = run_tap(keyset_config(sandbox, "teamwork_desk", 4))
    assert run.returncode == 0, run.stderr[-2000:]
    assert (
        sorted(run.ids("teamwork_desk_tickets")) == sandbox.truth()["teamwork_desk_tickets"]["ids"]
    )
    refused = [moment for moment, status in seen if status == 429]
    assert refused, "429s were injected"
    assert sandbox.stats()["peak_in_flight"] >= 2
    for moment in refused:
        # requests sent before the 429 came back may still arrive a moment later
        early = [m for m, _status in seen if moment + 0.1 < m < moment + 0.95]
        assert not early, f"{len(early)} requests within the second after a Retry-After"


def test_enneo_budget_holds_with_sub_ranges_in_flight(make_sandbox: t.Any) -> None:
    """requests_per_second 10 (the default until 2 Dec) with 4 in flight: no second holds more."""
    sandbox = make_sandbox("enneo", sizes={"enneo": 8000}, latency=0.05)
    config = tap_config(sandbox, "enneo", start_date="2023-01-01T00:00:00Z")
    config["enneo"].update(max_concurrent_requests=4, requests_per_second=10)
    run = run_tap(config)
    assert run.returncode == 0, run.stderr[-2000:]
    stats = sandbox.stats()
    assert stats["peak_in_flight"] >= 2
    assert stats["peak_per_second"]["enneo"] <= 10
    assert sorted(run.ids("enneo_tickets")) == sandbox.truth()["enneo_tickets"]["ids"]


def test_enneo_default_budget_holds_with_sub_ranges_in_flight(
    make_sandbox: t.Any, monkeypatch: t.Any
) -> None:
    """The default budget (20 a second, 600 a minute) at 8 in flight, answers 10 ms late:
    no second holds more than 20, against a sandbox that refuses the 21st (no 429)."""
    monkeypatch.setattr(sandbox_enneo.EnneoAPI, "rate_limits", (20, 600))
    sandbox = make_sandbox("enneo", sizes={"enneo": 12000}, latency=0.01)
    config = tap_config(sandbox, "enneo", start_date="2023-01-01T00:00:00Z")
    config["enneo"]["max_concurrent_requests"] = 8
    run = run_tap(config)
    assert run.returncode == 0, run.stderr[-2000:]
    stats = sandbox.stats()
    assert stats["peak_in_flight"] >= 4
    assert 10 < stats["peak_per_second"]["enneo"] <= 20
    assert not any(k.endswith(":429") for k in stats["statuses"]), stats["statuses"]
    assert sorted(run.ids("enneo_tickets")) == sandbox.truth()["enneo_tickets"]["ids"]


@pytest.mark.slow
def test_teamwork_default_budget_with_four_in_flight_never_triggers_429(
    make_sandbox: t.Any,
) -> None:
    """131 pages at the documented 120 requests/minute with 4 in flight: no 429, and at
    least 90% of a minute's budget (as tests/test_teamwork_desk.py at one at a time)."""
    sandbox = make_sandbox("teamwork_desk", sizes={"teamwork_desk": 13050}, latency=0.05)
    config = tap_config(sandbox, "teamwork_desk")
    config["teamwork_desk"]["max_concurrent_requests"] = 4
    run = run_tap(config)
    assert run.returncode == 0, run.stderr[-2000:]
    stats = sandbox.stats()
    assert not any(key.endswith(":429") for key in stats["statuses"]), stats["statuses"]
    assert 108 <= stats["peak_per_minute"]["teamwork_desk"] <= 120
    assert stats["peak_in_flight"] >= 2
    assert len(run.ids("teamwork_desk_tickets")) == 13050


@pytest.mark.parametrize("provider", list(CASES))
def test_a_stop_signal_with_stalled_requests_in_flight_ends_the_run_at_once(
    make_sandbox: t.Any, provider: str
) -> None:
    # Answers stall just before SIGTERM: the requests in flight would take a minute each,
    # with retries. The run must end now (not after request_timeout), with its one line
    # and the last STATE, and a rerun from that STATE must lose nothing.
    stream, id_field, size, extra = CASES[provider]
    sandbox = make_sandbox(provider, sizes={provider: size}, latency=0.02)
    config = tap_config(sandbox, provider, start_date="2023-01-01T00:00:00Z", request_timeout=30)
    config[provider].update(max_concurrent_requests=4, **extra)

    def stall() -> None:
        sandbox.knobs.latency = 60.0
        time.sleep(0.5)  # the next requests go out and wait

    stopped = run_tap_until(
        config, stop_after_states=2, stop_signal=signal.SIGTERM, before_stop=stall
    )
    assert stopped.exit_seconds is not None
    assert stopped.exit_seconds < 10, f"{stopped.exit_seconds:.1f} s from SIGTERM to exit"
    assert stopped.returncode == 128 + signal.SIGTERM
    assert stopped.error_lines() == [
        "tap-helpdesk: error: stopped by SIGTERM; the last STATE written is where a rerun resumes"
    ]
    assert stopped.final_state is not None
    sandbox.knobs.latency = 0.0
    resumed = run_tap(config, state=stopped.final_state)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    got = stopped.ids(stream, id_field) | resumed.ids(stream, id_field)
    assert sorted(map(str, got)) == sorted(map(str, sandbox.truth()[stream]["ids"]))
