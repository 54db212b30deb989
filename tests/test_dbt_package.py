"""transform/ as a dbt package: a separate dbt project (its own dbt_project.yml, profile and
packages.yml with `local:` pointing at transform/, as a user's `git:` + `subdirectory:`
entry resolves) depends on it, points its vars at where the raw tables live, models three
of the five providers, runs `dbt deps` and `dbt build`, and builds a model of its own on
top of helpdesk_ticket_metrics. The raw tables are what the tap extracted from the
sandbox, loaded by target-duckdb (into a file the project attaches as another database)
and by target-postgres (into a schema of its own). The metrics are checked against the
sandbox as in the end-to-end tests; on PostgreSQL this test fails without a server, it
never skips.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import typing as t
from pathlib import Path

import duckdb
import pytest
import yaml

from tests.conftest import tap_config
from tests.e2e_meltano import (
    ROOT,
    check_metrics,
    duckdb_rows,
    duckdb_tables,
    expected_streams,
    pg_rows,
    pg_schemas,
    pg_tables,
    postgres_env,
    unique_name,
)
from tests.tap_runner import run_tap

pytestmark = pytest.mark.e2e

#: the providers the user's project models (the other two are neither extracted nor built)
PROVIDERS = ("proprofs", "teamwork_desk", "enneo")
SIZES = {"proprofs": 80, "teamwork_desk": 150, "enneo": 300}
RAW_SCHEMA = "raw_helpdesk"
#: a model of the user's own, on top of the package's
USER_MODEL = """
select
    provider,
    count(*) as tickets,
    avg(first_response_minutes) as mean_first_response_minutes,
    sum(case when is_open then 1 else 0 end) as open_tickets
from {{ ref('helpdesk_ticket_metrics') }}
group by provider
"""


def _tool(plugin_type: str, name: str, executable: str) -> str:
    path = ROOT / ".meltano" / plugin_type / name / "venv" / "bin" / executable
    assert path.exists(), f"{path} is missing: run `source scripts/setup.sh` first"
    return str(path)


def _load(target: str, config: dict[str, t.Any], messages: str, workdir: Path) -> None:
    """Load the tap's messages with a Singer target (the one meltano.yml installs)."""
    config_path = workdir / f"{target}.json"
    config_path.write_text(json.dumps(config), encoding="utf-8")
    completed = subprocess.run(
        [_tool("loaders", target, target), "--config", str(config_path)],
        input=messages,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=workdir,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]


def _user_project(workdir: Path, profile: dict[str, t.Any], variables: dict[str, t.Any]) -> Path:
    """A dbt project of a user's that depends on transform/ as a package."""
    project = workdir / "analytics"
    (project / "models").mkdir(parents=True)
    spec = {
        "name": "support_analytics",
        "version": "1.0.0",
        "config-version": 2,
        "profile": "support_analytics",
        "vars": {"helpdesk_providers": list(PROVIDERS), **variables},
    }
    (project / "dbt_project.yml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    packages = {"packages": [{"local": str(ROOT / "transform")}]}
    (project / "packages.yml").write_text(yaml.safe_dump(packages), encoding="utf-8")
    profiles = {"support_analytics": {"target": "dev", "outputs": {"dev": profile}}}
    (project / "profiles.yml").write_text(yaml.safe_dump(profiles), encoding="utf-8")
    (project / "models" / "support_kpis.sql").write_text(USER_MODEL, encoding="utf-8")
    return project


def _dbt(adapter: str, project: Path, *args: str) -> str:
    """Run dbt in the user's project; fail with its output unless it succeeds."""
    env = {
        name: value
        for name, value in os.environ.items()
        # the package must take its settings from the user's vars, not this machine's
        if name not in {"HELPDESK_SOURCE_SCHEMA", "HELPDESK_PROVIDERS"}
        and not name.startswith("DBT_")
    }
    env.update({"DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DBT_USE_COLORS": "false"})
    completed = subprocess.run(
        [
            _tool("utilities", f"dbt-{adapter}", "dbt"),
            *args,
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(project),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        cwd=project,
        env=env,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, f"dbt {' '.join(args)} failed:\n{output[-4000:]}"
    return output


def _build(adapter: str, project: Path) -> str:
    """dbt deps + dbt build; every model and test passes, none skipped or warned."""
    deps = _dbt(adapter, project, "deps")
    assert "Installed from <local @" in deps or "Installing" in deps, deps
    assert (project / "dbt_packages" / "helpdesk" / "dbt_project.yml").exists()
    build = _dbt(adapter, project, "build")
    done = re.search(r"Done\. PASS=(\d+) WARN=(\d+) ERROR=(\d+) SKIP=(\d+)", build)
    assert done, build[-3000:]
    passed, warned, errors, skipped = map(int, done.groups())
    assert (warned, errors, skipped) == (0, 0, 0), build[-3000:]
    assert passed > 50, build[-3000:]
    return done.group(0)


def _extract(make_sandbox: t.Callable[..., t.Any]) -> tuple[t.Any, dict[str, int], str]:
    sandbox = make_sandbox(*PROVIDERS, sizes=SIZES)
    expected = expected_streams(sandbox)
    assert {"proprofs_ticket_messages", "teamwork_desk_tickets", "enneo_tickets"} <= set(expected)
    run = run_tap(tap_config(sandbox, *PROVIDERS))
    assert run.returncode == 0, run.stderr[-2000:]
    return sandbox, expected, run.stdout


def _check_models(
    rows_of: t.Callable[[str], list[dict[str, t.Any]]],
    tables: list[str],
    sandbox: t.Any,
    expected: dict[str, int],
) -> dict[str, dict[str, int]]:
    summary = check_metrics(rows_of, sandbox, expected)
    assert set(summary) == set(PROVIDERS), summary
    # the providers left out build nothing
    assert not [name for name in tables if "filum" in name or "socialboards" in name], tables
    kpis = {row["provider"]: row for row in rows_of("support_kpis")}
    assert {p: int(kpis[p]["tickets"]) for p in PROVIDERS} == {
        p: expected[f"{p}_tickets"] for p in PROVIDERS
    }
    return summary


def test_dbt_package_on_duckdb(make_sandbox: t.Callable[..., t.Any], tmp_path: Path) -> None:
    sandbox, expected, messages = _extract(make_sandbox)
    raw = tmp_path / "raw.duckdb"
    _load(
        "target-duckdb",
        {"filepath": str(raw), "default_target_schema": RAW_SCHEMA},
        messages,
        tmp_path,
    )
    warehouse = tmp_path / "analytics.duckdb"
    profile = {
        "type": "duckdb",
        "path": str(warehouse),
        "schema": "support",
        "threads": 2,
        # the raw tables live in another database (catalog) than the models
        "attach": [{"path": str(raw), "alias": "raw_db", "read_only": True}],
    }
    project = _user_project(
        tmp_path,
        profile,
        {"helpdesk_source_schema": RAW_SCHEMA, "helpdesk_source_database": "raw_db"},
    )
    done = _build("duckdb", project)
    summary = _check_models(
        lambda table: duckdb_rows(warehouse, "support", table),
        duckdb_tables(warehouse, "support"),
        sandbox,
        expected,
    )
    print(f"\nuser project on DuckDB: {done}\nper provider: {summary}")

    # the message streams deselected (not loaded): their models are empty, the build green
    without = tmp_path / "raw_without_messages.duckdb"
    shutil.copy(raw, without)
    dropped = ("teamwork_desk_messages", "enneo_reporting_messages", "enneo_reporting_worklog")
    with duckdb.connect(str(without)) as connection:
        for table in dropped:
            connection.execute(f'drop table "{RAW_SCHEMA}"."{table}"')
    profile["attach"] = [{"path": str(without), "alias": "raw_db", "read_only": True}]
    (project / "profiles.yml").write_text(
        yaml.safe_dump({"support_analytics": {"target": "dev", "outputs": {"dev": profile}}}),
        encoding="utf-8",
    )
    _build("duckdb", project)
    messages_now = duckdb_rows(warehouse, "support", "helpdesk_messages")
    assert {row["provider"] for row in messages_now} == {"proprofs"}
    assert len(messages_now) == expected["proprofs_ticket_messages"]
    metrics = duckdb_rows(warehouse, "support", "helpdesk_ticket_metrics")
    teamwork = [row for row in metrics if row["provider"] == "teamwork_desk"]
    assert teamwork
    assert all(row["first_response_at"] is None for row in teamwork)
    # no messages of a provider: its counts are unknown, not 0
    others = [row for row in metrics if row["provider"] != "proprofs"]
    assert all(row["inbound_messages"] is None for row in others)
    # the provider's own figures stay
    assert any(row["provider_first_response_minutes"] is not None for row in teamwork)


def test_dbt_package_on_postgres(make_sandbox: t.Callable[..., t.Any], tmp_path: Path) -> None:
    sandbox, expected, messages = _extract(make_sandbox)
    pg = postgres_env()
    raw, models = unique_name("pkg_raw"), unique_name("pkg_support")
    with pg_schemas(pg, raw, models) as connection:
        _load(
            "target-postgres",
            {
                "host": pg["PGHOST"],
                "port": int(pg["PGPORT"]),
                "user": pg["PGUSER"],
                "password": pg["PGPASSWORD"],
                "database": pg["PGDATABASE"],
                "default_target_schema": raw,
                "add_record_metadata": False,
                "activate_version": False,
            },
            messages,
            tmp_path,
        )
        profile = {
            "type": "postgres",
            "host": pg["PGHOST"],
            "port": int(pg["PGPORT"]),
            "user": pg["PGUSER"],
            "password": pg["PGPASSWORD"],
            "dbname": pg["PGDATABASE"],
            "schema": models,
            "threads": 2,
        }
        project = _user_project(tmp_path, profile, {"helpdesk_source_schema": raw})
        done = _build("postgres", project)
        summary = _check_models(
            lambda table: pg_rows(connection, models, table),
            pg_tables(connection, models),
            sandbox,
            expected,
        )
    print(f"\nuser project on PostgreSQL: {done}\nper provider: {summary}")
