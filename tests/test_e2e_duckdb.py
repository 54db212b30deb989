"""End to end into DuckDB, the demo's embedded default: `meltano run tap-helpdesk
target-duckdb dbt-duckdb:build` (target-duckdb 0.8.0 with duckdb 1.1.3, dbt-duckdb reading
the same file), every stream compared with the sandbox and the unified model checked."""

from __future__ import annotations

import csv
import time
import typing as t

import pytest

from tests.conftest import tap_config
from tests.e2e_meltano import (
    E2E_SIZES,
    ROOT,
    MeltanoProject,
    check_metrics,
    check_streams,
    check_unified,
    duckdb_rows,
    duckdb_tables,
    expected_streams,
    sandbox_environment_providers,
)
from tests.tap_runner import run_tap

pytestmark = pytest.mark.e2e


def test_duckdb_end_to_end_with_dbt(make_sandbox: t.Callable[..., t.Any], tmp_path: t.Any) -> None:
    started = time.monotonic()
    sandbox = make_sandbox(sizes=E2E_SIZES)
    expected = expected_streams(sandbox)
    warehouse = tmp_path / "warehouse.duckdb"
    project = MeltanoProject(
        tmp_path,
        sandbox,
        env={"TARGET_DUCKDB_FILEPATH": str(warehouse), "DBT_DUCKDB_PATH": str(warehouse)},
    )
    direct = run_tap(tap_config(sandbox, *sandbox_environment_providers()))
    assert direct.returncode == 0, direct.stderr[-2000:]

    run = project.run("run", "tap-helpdesk", "target-duckdb", "dbt-duckdb:build")
    assert "Completed successfully" in run.output, run.tail()

    counts = check_streams(
        lambda table: duckdb_rows(warehouse, "helpdesk", table),
        duckdb_tables(warehouse, "helpdesk"),
        expected,
        direct.records,
        direct.schemas,
        # target-duckdb 0.8.0 loads through CSV files, where "" and NULL are one value
        empty_is_null=True,
    )
    unified = check_unified(
        duckdb_rows(warehouse, "analytics", "helpdesk_tickets"), sandbox, expected
    )
    metrics = check_metrics(
        lambda table: duckdb_rows(warehouse, "analytics", table), sandbox, expected
    )
    # dbt-duckdb wrote its models into the file target-duckdb loaded (catalog = file stem)
    assert "helpdesk_tickets" in duckdb_tables(warehouse, "analytics")
    print(
        f"\nDuckDB rows per stream: {counts}\nhelpdesk_tickets per provider: {unified}"
        f"\nmetrics models per provider (rows, filled metric columns): {metrics}"
        f"\nmeltano run {run.seconds:.1f}s, test {time.monotonic() - started:.1f}s"
    )


def test_documented_mappings_are_the_seeds() -> None:
    """docs/dbt.md's mapping tables hold exactly the rows of the dbt seeds."""
    docs = (ROOT / "docs" / "dbt.md").read_text(encoding="utf-8")
    for kind in ("status", "priority"):
        block = docs.split(f"<!-- mapping:{kind}:start -->")[1].split(
            f"<!-- mapping:{kind}:end -->"
        )[0]
        documented = [
            tuple(cell.strip() for cell in line.strip("|").split("|"))
            for line in block.strip().splitlines()[2:]
        ]
        with (ROOT / "transform" / "seeds" / f"helpdesk_{kind}_map.csv").open(
            encoding="utf-8"
        ) as f:
            seeded = [tuple(row) for row in list(csv.reader(f))[1:]]
        assert documented == seeded, kind
