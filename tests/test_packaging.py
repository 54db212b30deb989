"""The tap as a user installs it: a wheel built from the project, nothing from the work tree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from tap_helpdesk.providers import PROVIDERS
from tests.conftest import tap_config

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_holds_everything_and_runs_outside_the_work_tree(make_sandbox, tmp_path):
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next(tmp_path.glob("tap_helpdesk-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    schemas = {p.name for p in (ROOT / "tap_helpdesk" / "schemas").glob("*.json")}
    assert {f"tap_helpdesk/schemas/{name}" for name in schemas} <= names
    assert not any(name.startswith(("sandbox/", "tests/")) for name in names)

    target = tmp_path / "site"
    installed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr[-2000:]
    env = {**os.environ, "PYTHONPATH": str(target)}
    where = subprocess.run(
        [sys.executable, "-c", "import tap_helpdesk; print(tap_helpdesk.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=True,
    )
    assert where.stdout.strip().startswith(str(target)), "the wheel's copy is the one imported"

    discovered = subprocess.run(
        [sys.executable, "-m", "tap_helpdesk", "--discover"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=True,
    )
    streams = {s["tap_stream_id"] for s in json.loads(discovered.stdout)["streams"]}
    assert streams == {s.name for p in PROVIDERS.values() for s in p.stream_types}

    sandbox = make_sandbox("enneo", sizes={"enneo": 40})
    config = tmp_path / "config.json"
    config.write_text(json.dumps(tap_config(sandbox, "enneo")), encoding="utf-8")
    synced = subprocess.run(
        [sys.executable, "-m", "tap_helpdesk", "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert synced.returncode == 0, synced.stderr[-2000:]
    records = [json.loads(line) for line in synced.stdout.splitlines()]
    tickets = {"enneo_tickets", "enneo_reporting_tickets"}
    rows = [m for m in records if m["type"] == "RECORD"]
    assert sum(1 for m in rows if m["stream"] in tickets) == 80  # 40 tickets, two streams
    truth = sandbox.truth()
    activity = (
        truth["enneo_reporting_messages"]["count"] + truth["enneo_reporting_worklog"]["count"]
    )
    assert len(rows) == 80 + activity, "and every message and edit"
