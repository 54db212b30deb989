"""Progress lines during a sync, and the connection check (`--test`)."""

from __future__ import annotations

import json
import random
import re
import typing as t
from datetime import datetime, timedelta

from sandbox import SECRETS
from tests.conftest import tap_config
from tests.hostile.server import HostileServer, Seen, json_reply
from tests.tap_runner import run_tap

PROGRESS = re.compile(
    r"Enneo enneo_tickets: (?P<where>.+?)(?: \((?P<pct>\d+)%\))?, (?P<records>\d+) records, "
    r"(?P<requests>\d+) requests, (?P<rate>\d+) requests/min of 600"
)


def test_a_backfill_prints_progress_a_person_reads(make_sandbox: t.Any) -> None:
    sandbox = make_sandbox("enneo", sizes={"enneo": 2500})
    config = tap_config(sandbox, "enneo")
    config["enneo"]["max_concurrent_requests"] = 1  # the requests counted are one at a time's
    run = run_tap(config)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = [m for m in map(PROGRESS.search, run.stderr.splitlines()) if m]
    assert lines, run.stderr[-2000:]
    final = lines[-1]
    assert final["where"] == "done"
    assert final["pct"] == "100"
    assert int(final["records"]) == len(run.records["enneo_tickets"]) == 2500
    assert int(final["requests"]) == 4  # 3 pages and the confirming request


def check_run(config: dict[str, t.Any]) -> t.Any:
    return run_tap(config, args=["--test"], timeout=120)


def table_rows(stderr: str) -> dict[tuple[str, str], str]:
    """(provider, check) -> PASS / WARN / FAIL, from the table the check prints."""
    rows = {}
    for line in stderr.splitlines():
        parts = re.split(r"\s{2,}", line.strip())
        if len(parts) >= 3 and parts[2] in {"PASS", "WARN", "FAIL"}:
            rows[(parts[0], parts[1])] = parts[2]
    return rows


def test_the_connection_check_passes_against_the_sandbox(make_sandbox: t.Any) -> None:
    sandbox = make_sandbox("enneo", "teamwork_desk", sizes={"enneo": 50, "teamwork_desk": 50})
    run = check_run(tap_config(sandbox, "enneo", "teamwork_desk"))
    assert run.returncode == 0, run.stderr[-3000:]
    rows = table_rows(run.stderr)
    for provider in ("Enneo", "Teamwork Desk"):
        for check in ("credentials", "sort order", "page size", "rate-limit headers", "time zone"):
            assert rows.get((provider, check)) == "PASS", (provider, check, run.stderr[-3000:])
    assert '"type":"RECORD"' in run.stdout  # what `meltano config tap-helpdesk test` looks for
    assert run.error_lines() == [], "the SDK's record limit logged as an error"
    for secret in SECRETS:
        assert secret not in run.stdout + run.stderr


def test_a_wrong_time_zone_is_reported(make_sandbox: t.Any) -> None:
    sandbox = make_sandbox("enneo", sizes={"enneo": 50})
    sandbox.apis["enneo"].mutate()  # a ticket modified just now, in the instance zone
    config = tap_config(sandbox, "enneo")
    config["enneo"]["timezone"] = "America/Los_Angeles"  # the instance is in Europe/Berlin
    run = check_run(config)
    rows = table_rows(run.stderr)
    assert rows[("Enneo", "time zone")] == "WARN", run.stderr[-3000:]
    assert "enneo.timezone" in run.stderr


def test_an_ignored_sort_order_fails_the_check() -> None:
    moments = [datetime(2024, 3, 1) + timedelta(minutes=n) for n in range(40)]
    rows = [{"id": n, "modifiedAt": m.isoformat(" ")} for n, m in enumerate(moments)]
    random.Random(3).shuffle(rows)

    def script(seen: Seen) -> t.Any:
        limit = int(seen.arg("limit") or 100)
        return json_reply(rows[:limit])  # whatever the order asked for

    with HostileServer(script) as server:
        config = {
            "start_date": "2024-01-01T00:00:00Z",
            "max_retries": 0,
            "enneo": {"api_token": "hostile-token-1234", "api_url": server.url},
        }
        run = check_run(config)
    assert run.returncode == 1, run.stderr[-3000:]
    assert table_rows(run.stderr)[("Enneo", "sort order")] == "FAIL"
    errors = [line for line in run.stderr.splitlines() if "tap-helpdesk: error:" in line]
    assert len(errors) == 1
    assert "connection check" in errors[0]
    assert "Traceback" not in run.stderr
    assert json.dumps(rows[0]) not in run.stdout  # no sync after a failed check
