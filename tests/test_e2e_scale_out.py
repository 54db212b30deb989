"""Scale-out: the per-provider instances of meltano.yml (`inherit_from: tap-helpdesk`).

* Into PostgreSQL, two instances run at the same time, as two orchestrator tasks would:
  both finish, each with its own state ID and bookmarks, every row loaded once.
* Into one DuckDB file, side by side in one `meltano run`, then one of them again from
  scratch: each instance keeps to its own tables and state, nothing of the other is lost.
  (DuckDB admits one writer process per file, so runs into one DuckDB file are sequenced;
  parallel tasks need a warehouse with concurrent writers, see docs/scale-out.md.)
"""

from __future__ import annotations

import time
import typing as t

import pytest

from tests.e2e_meltano import (
    MeltanoProject,
    duckdb_rows,
    duckdb_tables,
    pg_schemas,
    pg_tables,
    postgres_env,
    tap_streams,
    unique_name,
)

pytestmark = pytest.mark.e2e

INSTANCES = {"enneo": "tap-helpdesk--enneo", "teamwork_desk": "tap-helpdesk--teamwork-desk"}
SIZES = {"enneo": 1200, "teamwork_desk": 300}


def _expected(sandbox: t.Any) -> dict[str, dict[str, int]]:
    truth = sandbox.truth()
    return {key: {name: truth[name]["count"] for name in tap_streams([key])} for key in INSTANCES}


def test_two_instances_in_parallel_into_postgres(
    make_sandbox: t.Callable[..., t.Any], tmp_path: t.Any
) -> None:
    sandbox = make_sandbox(*INSTANCES, sizes=SIZES)
    expected = _expected(sandbox)
    pg = postgres_env()
    schema = unique_name("e2e_scale")
    project = MeltanoProject(
        tmp_path, sandbox, env={**pg, "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": schema}
    )
    # Create this run's Meltano system database before two processes race to create it
    # ("table job already exists" otherwise).
    project.run("state", "list")
    with pg_schemas(pg, schema) as connection:
        begun = time.monotonic()
        processes = {
            key: project.start("run", name, "target-postgres") for key, name in INSTANCES.items()
        }
        ended: dict[str, float] = {}
        while len(ended) < len(processes) and time.monotonic() - begun < 600:
            for key, process in processes.items():
                if key not in ended and process.poll() is not None:
                    ended[key] = time.monotonic()
            time.sleep(0.2)
        for process in processes.values():
            log = process.log_path.read_text(encoding="utf-8")  # type: ignore[attr-defined]
            assert process.wait(timeout=5) == 0, log[-3000:]
        finished = {key: round(ended[key] - begun, 1) for key in processes}
        # both started together; the first to finish ran alongside the other all along
        assert min(finished.values()) > 5, finished
        both = expected["enneo"] | expected["teamwork_desk"]
        assert pg_tables(connection, schema) == sorted(both)
        keys = tap_streams(INSTANCES)
        for table, want in both.items():
            key = keys[table].primary_keys[0]
            got = connection.execute(
                f'select count(*), count(distinct "{key}") from "{schema}"."{table}"'
            ).fetchone()
            assert got == (want, want), f"{table}: {got}, sandbox {want}"
        for key, name in INSTANCES.items():
            state = project.state(f"sandbox:{name}-to-target-postgres")
            assert set(state["singer_state"]["bookmarks"]) <= set(expected[key]), key
            assert f"{key}_tickets" in state["singer_state"]["bookmarks"]
    print(f"\nparallel instances into PostgreSQL: seconds to finish {finished}")


def test_two_instances_side_by_side_into_one_duckdb_file(
    make_sandbox: t.Callable[..., t.Any], tmp_path: t.Any
) -> None:
    sandbox = make_sandbox(*INSTANCES, sizes=SIZES)
    expected = _expected(sandbox)
    warehouse = tmp_path / "one.duckdb"
    project = MeltanoProject(tmp_path, sandbox, env={"TARGET_DUCKDB_FILEPATH": str(warehouse)})
    enneo, teamwork = INSTANCES["enneo"], INSTANCES["teamwork_desk"]

    project.run("run", enneo, "target-duckdb", teamwork, "target-duckdb")
    both = expected["enneo"] | expected["teamwork_desk"]

    def counts() -> dict[str, int]:
        return {
            table: len(duckdb_rows(warehouse, "helpdesk", table))
            for table in duckdb_tables(warehouse, "helpdesk")
        }

    assert counts() == both
    assert project.state_ids() == sorted(
        f"sandbox:{name}-to-target-duckdb" for name in INSTANCES.values()
    )
    teamwork_state = project.state(f"sandbox:{teamwork}-to-target-duckdb")

    # one instance again, from scratch: the other's tables and state stay as they were
    project.run("run", "--full-refresh", enneo, "target-duckdb")
    assert counts() == both
    assert project.state(f"sandbox:{teamwork}-to-target-duckdb") == teamwork_state
    enneo_state = project.state(f"sandbox:{enneo}-to-target-duckdb")["singer_state"]
    assert set(enneo_state["bookmarks"]) == set(expected["enneo"])
