"""End to end: the real `meltano run tap-helpdesk target-duckdb` against the sandbox.

Compares what landed in the DuckDB file with what the sandbox holds, id by id, then runs
again from Meltano's state and checks that nothing is duplicated or lost.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import typing as t
from pathlib import Path

import duckdb
import pytest

from sandbox import MODULES, tap_settings
from sandbox.server import Sandbox
from tap_helpdesk.providers import PROVIDERS

ROOT = Path(__file__).resolve().parent.parent
PRIMARY_KEYS = {
    stream.name: tuple(stream.primary_keys)
    for provider in PROVIDERS.values()
    for stream in provider.stream_types
}


def meltano_executable() -> str:
    """The project's Meltano (scripts/setup.sh installs it); its absence is a failure."""
    found = shutil.which("meltano") or str(ROOT / ".tools" / "meltano" / "bin" / "meltano")
    assert Path(found).exists(), "meltano is not installed: run scripts/setup.sh"
    return found


def sandbox_env(sandbox: Sandbox, database: Path, state_suffix: str) -> dict[str, str]:
    """Environment that points the project's sandbox environment at this sandbox."""
    env = {
        **os.environ,
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_ENVIRONMENT": "sandbox",
        "TARGET_DUCKDB_FILEPATH": str(database),
        "MELTANO_RUN_STATE_ID_SUFFIX": state_suffix,
    }
    for key in sandbox.apis:
        for name, value in tap_settings(key, sandbox.url).items():
            env[f"TAP_HELPDESK_{key.upper()}_{name.upper()}"] = str(value)
    return env


def meltano_run(env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    """`meltano run tap-helpdesk target-duckdb` in the project."""
    return subprocess.run(
        [
            meltano_executable(),
            "run",
            *extra,
            "--state-id-suffix",
            env["MELTANO_RUN_STATE_ID_SUFFIX"],
            "tap-helpdesk",
            "target-duckdb",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def landed(database: Path) -> dict[str, list[tuple[t.Any, ...]]]:
    """Every table of the helpdesk schema, as lists of rows."""
    with duckdb.connect(str(database), read_only=True) as connection:
        tables = [
            name
            for (name,) in connection.execute(
                "select table_name from information_schema.tables "
                "where table_schema = 'helpdesk' order by 1"
            ).fetchall()
        ]
        return {
            name: connection.execute(f'select * from helpdesk."{name}"').fetchall()
            for name in tables
        }


def key_values(database: Path, table: str) -> list[t.Any]:
    """A table's primary key values (tuples for a composite key)."""
    keys = PRIMARY_KEYS[table]
    columns = ", ".join(f'"{key.lower()}"' for key in keys)
    with duckdb.connect(str(database), read_only=True) as connection:
        rows = connection.execute(f'select {columns} from helpdesk."{table}"').fetchall()
    return [row[0] if len(keys) == 1 else tuple(row) for row in rows]


def normalise(value: t.Any) -> t.Any:
    """Ids compared as text (a composite key as a tuple of texts)."""
    if isinstance(value, (list, tuple)):
        return tuple(str(part) for part in value)
    if isinstance(value, dict):
        return tuple(str(value[key]) for key in sorted(value))
    return str(value)


@pytest.mark.e2e
def test_meltano_run_into_duckdb_lands_every_row_and_resumes(make_sandbox, tmp_path):
    sandbox = make_sandbox(*MODULES, sizes={"enneo": 1200, "teamwork_desk": 700})
    database = tmp_path / "warehouse.duckdb"
    env = sandbox_env(sandbox, database, f"pytest-{tmp_path.name}")

    first = meltano_run(env, "--full-refresh")
    assert first.returncode == 0, first.stderr[-3000:]
    truth = sandbox.truth()
    assert set(landed(database)) == set(truth)
    for stream, facts in truth.items():
        got = key_values(database, stream)
        assert len(got) == facts["count"], stream
        assert sorted(map(normalise, got)) == sorted(map(normalise, facts["ids"])), stream

    # values survive the trip: UTC timestamps, parsed JSON, non-ASCII text
    api = sandbox.apis["enneo"]
    with duckdb.connect(str(database), read_only=True) as connection:
        rows = connection.execute(
            "select id, modifiedat, rawdata, fromname from helpdesk.enneo_tickets "
            "order by id limit 50"
        ).fetchall()
    for ticket_id, modified, raw, from_name in rows:
        source = api.tickets[ticket_id]
        assert modified.isoformat() + "+00:00" == api.utc(ticket_id, "modifiedAt")
        assert from_name == source["fromName"]
        if source["rawData"] not in (None, "{...}"):
            assert raw is not None
            assert source["fromName"] in raw.encode().decode("unicode_escape")

    # a second run resumes from Meltano's state: changed tickets update in place
    sandbox.configure(mutate_every=3)
    second = meltano_run(env)
    assert second.returncode == 0, second.stderr[-3000:]
    # A change made by the run's last request (confirming its last short page, which asks
    # up to the moment the walk began) is the next run's: a quiet run brings it in.
    sandbox.configure(mutate_every=0)
    quiet = meltano_run(env)
    assert quiet.returncode == 0, quiet.stderr[-3000:]
    truth = sandbox.truth()
    for stream in ("enneo_tickets", "teamwork_desk_tickets"):
        got = key_values(database, stream)
        assert len(got) == len(set(got)), f"duplicate primary keys in {stream}"
        assert sorted(got) == truth[stream]["ids"], stream
    assert "Incremental state has been updated" in second.stderr or "state" in second.stderr
