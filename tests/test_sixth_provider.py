"""A sixth provider added through the registry alone, synced end to end by the real CLI.

Its stream module, schema and emulator live under tests/sixth_provider/; the tap finds the
module through TAP_HELPDESK_PROVIDER_MODULES, and no file under tap_helpdesk/ or sandbox/
names it (docs/adding-a-provider.md).
"""

from __future__ import annotations

import json
import os
import typing as t
from pathlib import Path

import pytest

from sandbox.server import Sandbox
from tests.sixth_provider.emulator import TOKEN, OrbitAPI, tap_settings
from tests.tap_runner import run_tap

ROOT = Path(__file__).resolve().parent.parent
ENV = {"TAP_HELPDESK_PROVIDER_MODULES": "tests.sixth_provider.provider", "PYTHONPATH": str(ROOT)}


@pytest.fixture
def orbit() -> t.Iterator[Sandbox]:
    sandbox = Sandbox([OrbitAPI(7, 230)]).start()
    yield sandbox
    sandbox.stop()


def config(sandbox: Sandbox) -> dict[str, t.Any]:
    return {"start_date": "2024-01-01T00:00:00Z", "orbit": tap_settings(sandbox.url)}


def test_the_sixth_provider_syncs_end_to_end_and_resumes(orbit: Sandbox) -> None:
    first = run_tap(config(orbit), env=ENV)
    assert first.returncode == 0, first.stderr[-2000:]
    truth = orbit.truth()["orbit_tickets"]
    assert sorted(first.ids("orbit_tickets")) == truth["ids"]
    assert len(first.records["orbit_tickets"]) == truth["count"] == 230
    assert orbit.stats()["requests"]["orbit"] == 5  # ceil(230 / 50)
    record = first.records["orbit_tickets"][0]
    assert record["updatedAt"].endswith("+00:00")
    bookmark = first.final_state["bookmarks"]["orbit_tickets"]
    latest = max(r["updatedAt"] for r in first.records["orbit_tickets"])
    assert bookmark == {"replication_key": "updatedAt", "replication_key_value": latest}
    assert TOKEN not in first.stdout + first.stderr

    second = run_tap(config(orbit), state=first.final_state, env=ENV)
    assert second.returncode == 0, second.stderr[-2000:]
    assert 0 < len(second.records["orbit_tickets"]) < 40  # the lookback day only


def test_its_settings_come_from_its_module(orbit: Sandbox) -> None:
    about = run_tap({}, args=["--about", "--format=json"], env=ENV)
    properties = json.loads(about.stdout)["settings"]["properties"]
    assert set(properties["orbit"]["properties"]) >= {"api_token", "api_url"}
    bad = {**config(orbit), "orbit": {"api_token": "x"}}
    run = run_tap(bad, env=ENV)
    assert run.returncode == 1
    assert "orbit.api_url: required to use Orbit Desk" in run.stderr


def test_no_file_of_the_tap_or_the_sandbox_names_it() -> None:
    for folder in ("tap_helpdesk", "sandbox"):
        for path in (ROOT / folder).rglob("*.py"):
            assert "orbit" not in path.read_text(encoding="utf-8").lower(), path
    assert "TAP_HELPDESK_PROVIDER_MODULES" not in os.environ
