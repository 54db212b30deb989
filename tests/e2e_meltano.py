"""Helpers of the end-to-end tests: the real meltano CLI, real targets, real PostgreSQL.

Each test gets its own Meltano system directory (state database and run directory) that
links to the project's installed plugins, so tests, the demo and other runs never share
state or run files. The sandbox's URL reaches the tap through Meltano's own environment
variables (TAP_HELPDESK_<PROVIDER>_API_URL) on top of the `sandbox` environment of
meltano.yml, which holds the sandbox's (fake) credentials.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import time
import typing as t
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import yaml

from tap_helpdesk.providers import PROVIDERS

if t.TYPE_CHECKING:
    from sandbox.server import Sandbox

ROOT = Path(__file__).resolve().parent.parent
MELTANO = ROOT / ".tools" / "meltano" / "bin" / "meltano"
VENV_BIN = ROOT / ".venv" / "bin"
#: sandbox sizes of the end-to-end tests: several pages of every stream, a few minutes in all
#: (the demo runs the full default sizes)
E2E_SIZES = {
    "filum": 3000,
    "socialboards": 300,
    "teamwork_desk": 450,
    "proprofs": 120,
    "enneo": 1500,
}
PLUGIN_DIRS = ("extractors", "loaders", "utilities", "mappers", "transformers", "orchestrators")


# -- what the tap extracts --------------------------------------------------------------


def sandbox_environment_providers() -> list[str]:
    """Providers the `sandbox` environment of meltano.yml configures."""
    project = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
    env = next(e for e in project["environments"] if e["name"] == "sandbox")
    extractor = next(
        p for p in env["config"]["plugins"]["extractors"] if p["name"] == "tap-helpdesk"
    )
    return [key for key in PROVIDERS if key in extractor["config"]]


def tap_streams(providers: t.Iterable[str]) -> dict[str, t.Any]:
    """Stream name -> stream class, for the given providers."""
    return {
        stream_type.name: stream_type
        for key in providers
        for stream_type in PROVIDERS[key].stream_types
    }


def expected_streams(sandbox: Sandbox) -> dict[str, int]:
    """Stream -> row count the sandbox holds, for every stream the meltano run extracts.

    Fails when the tap has streams for a provider the sandbox emulates but meltano.yml's
    sandbox environment does not configure: the end-to-end tests must cover every stream.
    """
    configured = sandbox_environment_providers()
    unwired = [key for key in sandbox.apis if PROVIDERS[key].stream_types and key not in configured]
    assert not unwired, (
        f"the tap has streams for {unwired} but meltano.yml's sandbox environment does not "
        "configure them: add their sandbox settings there"
    )
    truth = sandbox.truth()
    streams = tap_streams(key for key in configured if key in sandbox.apis)
    missing = sorted(set(streams) - set(truth))
    assert not missing, f"the sandbox reports no truth for {missing}"
    return {name: int(truth[name]["count"]) for name in streams}


# -- meltano ------------------------------------------------------------------------------


@dataclass
class MeltanoRun:
    """One finished meltano command."""

    args: list[str]
    returncode: int
    output: str
    seconds: float

    def tail(self, lines: int = 60) -> str:
        """The end of the combined output, for assertion messages."""
        return "\n".join(self.output.splitlines()[-lines:])


@dataclass
class MeltanoProject:
    """The project's meltano.yml run with an isolated system directory and extra env."""

    workdir: Path
    sandbox: Sandbox | None = None
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.sys_dir = self.workdir / ".meltano"
        self.sys_dir.mkdir(parents=True, exist_ok=True)
        installed = ROOT / ".meltano"
        for name in PLUGIN_DIRS:
            source = installed / name
            if source.exists() and not (self.sys_dir / name).exists():
                (self.sys_dir / name).symlink_to(source, target_is_directory=True)
        assert (installed / "extractors" / "tap-helpdesk").exists(), (
            "the project's plugins are not installed: run `source scripts/setup.sh` first"
        )

    def environ(self) -> dict[str, str]:
        """The environment meltano runs in."""
        env = {
            **os.environ,
            "PATH": f"{VENV_BIN}:{MELTANO.parent}:{os.environ.get('PATH', '')}",
            "MELTANO_PROJECT_ROOT": str(ROOT),
            "MELTANO_SYS_DIR_ROOT": str(self.sys_dir),
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "MELTANO_ENVIRONMENT": "sandbox",
            "NO_COLOR": "1",
            "DO_NOT_TRACK": "1",
        }
        # dbt writes its compiled files and logs next to this run's state (Meltano reads
        # <NAMESPACE>_<SETTING> variables as setting values)
        for utility in ("DBT_DUCKDB", "DBT_POSTGRES"):
            env[f"{utility}_TARGET_PATH"] = str(self.workdir / utility.lower() / "target")
            env[f"{utility}_LOG_PATH"] = str(self.workdir / utility.lower() / "logs")
        if self.sandbox is not None:
            for key in self.sandbox.apis:
                env[f"TAP_HELPDESK_{key.upper()}_API_URL"] = self.sandbox.url
        env.update(self.env)
        return env

    def start(self, *args: str, log_name: str | None = None) -> subprocess.Popen[str]:
        """Start `meltano ARGS` without waiting; its output goes to a log file."""
        log = self.workdir / (log_name or f"meltano-{uuid.uuid4().hex[:8]}.log")
        handle = log.open("w", encoding="utf-8")
        process = subprocess.Popen(
            [str(MELTANO), *args],
            cwd=ROOT,
            env=self.environ(),
            stdout=handle,
            stderr=subprocess.STDOUT,
            text=True,
        )
        process.log_path = log  # type: ignore[attr-defined]
        handle.close()
        return process

    def run(self, *args: str, check: bool = True, timeout: float = 600) -> MeltanoRun:
        """Run `meltano ARGS` to the end; fail with its output's tail unless it succeeds."""
        started = time.monotonic()
        completed = subprocess.run(
            [str(MELTANO), *args],
            cwd=ROOT,
            env=self.environ(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        result = MeltanoRun(
            list(args),
            completed.returncode,
            completed.stdout + completed.stderr,
            time.monotonic() - started,
        )
        if check:
            assert result.returncode == 0, (
                f"meltano {' '.join(args)} failed ({result.returncode}):\n{result.tail()}"
            )
        return result

    def state(self, state_id: str) -> dict[str, t.Any]:
        """The stored state of one state ID."""
        output = self.run("state", "get", state_id).output
        start = output.index("{")
        decoder = json.JSONDecoder()
        value, _ = decoder.raw_decode(output[start:])
        return t.cast(dict[str, t.Any], value)

    def state_ids(self) -> list[str]:
        """Every stored state ID."""
        output = self.run("state", "list").output
        return sorted(set(re.findall(r"sandbox:[\w.-]+-to-[\w.-]+", output)))


# -- PostgreSQL ---------------------------------------------------------------------------

PG_VARIABLES = ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE")


def postgres_env() -> dict[str, str]:
    """Connection variables of the test server: from the environment (scripts/test.sh sets
    them), else from scripts/postgres.sh start (which installs and starts it if needed)."""
    if all(os.environ.get(name) for name in PG_VARIABLES):
        return {name: os.environ[name] for name in PG_VARIABLES}
    completed = subprocess.run(
        ["bash", str(ROOT / "scripts" / "postgres.sh"), "start"],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert completed.returncode == 0, (
        f"no PostgreSQL server for the tests: scripts/postgres.sh start failed:\n"
        f"{completed.stderr[-2000:]}"
    )
    found = dict(re.findall(r"(PG[A-Z]+)=(\S+)", completed.stdout))
    assert set(PG_VARIABLES) <= set(found), f"unexpected postgres.sh output: {completed.stdout!r}"
    return {name: found[name] for name in PG_VARIABLES}


def pg_connect(env: dict[str, str]) -> t.Any:
    """A psycopg connection (autocommit) to the test database."""
    import psycopg  # noqa: PLC0415

    return psycopg.connect(
        host=env["PGHOST"],
        port=int(env["PGPORT"]),
        user=env["PGUSER"],
        password=env["PGPASSWORD"],
        dbname=env["PGDATABASE"],
        autocommit=True,
    )


@contextlib.contextmanager
def pg_schemas(env: dict[str, str], *names: str) -> t.Iterator[t.Any]:
    """A connection; the named schemas are dropped before and after."""
    with pg_connect(env) as connection:
        for name in names:
            connection.execute(f'drop schema if exists "{name}" cascade')
        try:
            yield connection
        finally:
            for name in names:
                connection.execute(f'drop schema if exists "{name}" cascade')


def unique_name(prefix: str) -> str:
    """A schema name no other test run uses."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


# -- comparing loaded rows with what the tap emitted ---------------------------------------


def _as_utc(value: t.Any) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert isinstance(value, datetime), f"not a timestamp: {value!r}"
    if value.tzinfo is None:  # both targets store UTC in naive timestamp columns
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _is_datetime(schema: dict[str, t.Any]) -> bool:
    return schema.get("format") == "date-time"


def same_value(
    emitted: t.Any, loaded: t.Any, schema: dict[str, t.Any], *, empty_is_null: bool = False
) -> bool:
    """Whether a loaded value is the value the tap emitted (per JSON schema type).

    `empty_is_null`: the target cannot tell "" from NULL (target-duckdb loads through CSV).
    """
    if empty_is_null and emitted == "" and loaded is None:
        return True
    if emitted is None:  # SQL NULL (PostgreSQL's JSON null comes back as None too)
        return loaded is None
    if isinstance(loaded, str) and not isinstance(emitted, str):
        with contextlib.suppress(ValueError):  # JSON columns come back as text (DuckDB)
            loaded = json.loads(loaded)
    if _is_datetime(schema) or isinstance(loaded, datetime):
        return _as_utc(emitted) == _as_utc(loaded)
    if isinstance(loaded, date):
        return bool(date.fromisoformat(str(emitted)[:10]) == loaded)
    if isinstance(emitted, bool) or isinstance(loaded, bool):
        return emitted is loaded
    if isinstance(emitted, (int, float, Decimal)) and isinstance(loaded, (int, float, Decimal)):
        return float(emitted) == float(loaded)
    return bool(emitted == loaded)


def index_rows(
    rows: t.Iterable[dict[str, t.Any]], keys: t.Sequence[str]
) -> dict[tuple[t.Any, ...], dict[str, t.Any]]:
    """Rows keyed by their primary key (column names matched case-insensitively, as DuckDB
    folds them to lower case)."""
    indexed: dict[tuple[t.Any, ...], dict[str, t.Any]] = {}
    for row in rows:
        lowered = {name.lower(): value for name, value in row.items()}
        indexed[tuple(lowered[k.lower()] for k in keys)] = lowered
    return indexed


def compare_rows(
    stream: str,
    emitted: t.Iterable[dict[str, t.Any]],
    loaded: dict[tuple[t.Any, ...], dict[str, t.Any]],
    schema: dict[str, t.Any],
    keys: t.Sequence[str],
    *,
    empty_is_null: bool = False,
) -> list[str]:
    """Differences between emitted records and the loaded rows (from index_rows)."""
    problems: list[str] = []
    properties = schema.get("properties", {})
    for record in emitted:
        key = tuple(record[k] for k in keys)
        row = loaded.get(key)
        if row is None:
            problems.append(f"{stream} {key}: not loaded")
            continue
        for name, value in record.items():
            if name not in properties:
                # carried through by the tap (additionalProperties) but undeclared: typed
                # targets create columns from the SCHEMA message only
                continue
            if name.lower() not in row:
                if value not in (None, [], {}):
                    problems.append(f"{stream} {key}: column {name} missing")
                continue
            loaded_value = row[name.lower()]
            if not same_value(
                value, loaded_value, properties.get(name, {}), empty_is_null=empty_is_null
            ):
                problems.append(
                    f"{stream} {key}.{name}: emitted {value!r}, loaded {loaded_value!r}"
                )
    return problems


def kinds_covered(records: t.Iterable[dict[str, t.Any]], schema: dict[str, t.Any]) -> set[str]:
    """Which kinds of values the compared records carried (to show the sample is varied)."""
    properties = schema.get("properties", {})
    kinds: set[str] = set()
    for record in records:
        for name, value in record.items():
            if value is None:
                kinds.add("null")
            elif _is_datetime(properties.get(name, {})):
                kinds.add("timestamp")
            elif isinstance(value, dict) and value:
                kinds.add("object")
            elif isinstance(value, list) and value:
                kinds.add("array")
            elif isinstance(value, str) and not value.isascii():
                kinds.add("non-ascii")
    return kinds


def sample(records: list[dict[str, t.Any]], count: int = 40) -> list[dict[str, t.Any]]:
    """A deterministic spread of records, plus some that carry nulls, objects and non-ASCII
    text together, so every kind of value is compared."""
    if len(records) <= count:
        return list(records)
    step = max(len(records) // count, 1)
    chosen = records[::step][:count]

    def varied(record: dict[str, t.Any]) -> bool:
        values = list(record.values())
        return (
            any(v is None for v in values)
            and any(isinstance(v, (dict, list)) and v for v in values)
            and any(isinstance(v, str) and not v.isascii() for v in values)
        )

    return chosen + [r for r in records if varied(r)][:count]


# -- loaded rows --------------------------------------------------------------------------


def pg_rows(connection: t.Any, schema: str, table: str) -> list[dict[str, t.Any]]:
    """Every row of a PostgreSQL table as dicts."""
    from psycopg.rows import dict_row  # noqa: PLC0415

    with connection.cursor(row_factory=dict_row) as cursor:
        cursor.execute(f'select * from "{schema}"."{table}"')
        return list(cursor.fetchall())


def pg_tables(connection: t.Any, schema: str) -> list[str]:
    """Tables of one PostgreSQL schema."""
    rows = connection.execute(
        "select table_name from information_schema.tables where table_schema = %s", [schema]
    ).fetchall()
    return sorted(name for (name,) in rows)


def duckdb_rows(path: Path, schema: str, table: str) -> list[dict[str, t.Any]]:
    """Every row of a DuckDB table as dicts."""
    import duckdb  # noqa: PLC0415

    with duckdb.connect(str(path), read_only=True) as connection:
        cursor = connection.execute(f'select * from "{schema}"."{table}"')
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def duckdb_tables(path: Path, schema: str) -> list[str]:
    """Tables of one DuckDB schema."""
    import duckdb  # noqa: PLC0415

    with duckdb.connect(str(path), read_only=True) as connection:
        rows = connection.execute(
            "select table_name from information_schema.tables where table_schema = ?", [schema]
        ).fetchall()
    return sorted(name for (name,) in rows)


def check_streams(
    fetch: t.Callable[[str], list[dict[str, t.Any]]],
    tables: list[str],
    expected: dict[str, int],
    emitted: dict[str, list[dict[str, t.Any]]],
    schemas: dict[str, dict[str, t.Any]],
    *,
    empty_is_null: bool = False,
) -> dict[str, int]:
    """Row counts per stream equal the sandbox's; sampled rows equal what the tap emitted
    (`emitted` and `schemas`: the RECORD and SCHEMA messages of a direct run of the tap).

    Returns the loaded row counts per stream.
    """
    counts: dict[str, int] = {}
    problems: list[str] = []
    kinds: set[str] = set()
    for stream, want in sorted(expected.items()):
        assert stream in tables, f"{stream} was not loaded (tables: {tables})"
        rows = fetch(stream)
        counts[stream] = len(rows)
        keys = tuple(tap_streams(PROVIDERS)[stream].primary_keys)
        schema = schemas[stream]
        indexed = index_rows(rows, keys)
        if len(rows) != want or len(indexed) != want:
            problems.append(f"{stream}: {len(rows)} rows ({len(indexed)} keys), sandbox {want}")
        records = sample(emitted.get(stream, []))
        assert records, f"the tap emitted no {stream} records to compare"
        kinds |= kinds_covered(records, schema)
        problems += compare_rows(
            stream, records, indexed, schema, keys, empty_is_null=empty_is_null
        )
    assert not problems, "\n".join(problems[:40])
    # the compared values included every kind the issue names
    assert {"timestamp", "object", "null", "non-ascii"} <= kinds, kinds
    return counts


# -- the unified dbt model -----------------------------------------------------------------

STATUSES = {"open", "pending", "solved", "closed", "deleted"}
PRIORITIES = {"low", "medium", "high", "urgent"}
#: the documented mapping (docs/dbt.md), stated independently of the dbt seeds
ENNEO_STATUS = {
    "open": "open",
    "pending": "pending",
    "waitingOnCustomer": "pending",
    "waitingOnThirdParty": "pending",
    "resolved": "solved",
    "closed": "closed",
}
FILUM_STATUS = {"open": "open", "pending": "pending", "closed": "closed", "deleted": "deleted"}
SOCIALBOARDS_STATUS = {"open": "open", "pending": "pending", "closed": "closed"}
PROPROFS_STATUS = {
    "new": "open",
    "open": "open",
    "pending": "pending",
    "hold": "pending",
    "resolved": "solved",
    "closed": "closed",
}
PROPROFS_PRIORITY = {"low": "low", "normal": "medium", "high": "high"}
TEAMWORK_STATUS = {
    "active": "open",
    "waiting": "pending",
    "onhold": "pending",
    "solved": "solved",
    "closed": "closed",
    "spam": "deleted",
}


def modelled_providers() -> list[str]:
    """Providers transform/dbt_project.yml builds by default."""
    project = yaml.safe_load((ROOT / "transform" / "dbt_project.yml").read_text("utf-8"))
    return list(project["vars"]["helpdesk_providers"])


def _utc(value: t.Any) -> datetime | None:
    return None if value is None else _as_utc(value)


def check_unified(
    rows: list[dict[str, t.Any]],
    sandbox: Sandbox,
    expected: dict[str, int],
    values_of: t.Collection[str] | None = None,
) -> dict[str, int]:
    """helpdesk_tickets: one row per ticket of every modelled provider, mapped values
    compared ticket by ticket with the sandbox for the providers in `values_of` (all by
    default).

    Returns rows per provider.
    """
    per_provider: dict[str, int] = {}
    for row in rows:
        per_provider[row["provider"]] = per_provider.get(row["provider"], 0) + 1
    providers = [p for p in modelled_providers() if f"{p}_tickets" in expected]
    assert providers, "no modelled provider is extracted"
    assert per_provider == {p: expected[f"{p}_tickets"] for p in providers}, per_provider
    keys = [(row["provider"], row["ticket_id"]) for row in rows]
    assert len(keys) == len(set(keys)), "duplicate (provider, ticket_id)"
    assert all(isinstance(row["ticket_id"], str) for row in rows)
    assert {row["status"] for row in rows} <= STATUSES
    assert {row["priority"] for row in rows} - {None} <= PRIORITIES
    by_key = {(row["provider"], row["ticket_id"]): row for row in rows}
    problems: list[str] = []
    if values_of is not None:
        providers = [p for p in providers if p in values_of]
    if "enneo" in providers:
        api: t.Any = sandbox.apis["enneo"]
        for ticket_id, ticket in api.tickets.items():
            row = by_key[("enneo", str(ticket_id))]
            custom = row["custom_fields"]
            custom = json.loads(custom) if isinstance(custom, str) else custom
            wanted = {
                "status": ENNEO_STATUS[ticket["status"]],
                "priority": ticket["priority"],
                "created_at": _utc(api.utc(ticket_id, "createdAt")),
                "updated_at": _utc(api.utc(ticket_id, "modifiedAt")),
                "closed_at": _utc(api.utc(ticket_id, "closedAt")),
                "customer_email": ticket["email"],
                "subject": ticket["subject"],
                "channel": ticket["channel"],
            }
            got = {
                **{k: row[k] for k in wanted if k in row},
                "created_at": _utc(row["created_at"]),
                "updated_at": _utc(row["updated_at"]),
                "closed_at": _utc(row["closed_at"]),
                "channel": custom["channel"],
            }
            if got != wanted:
                problems.append(f"enneo {ticket_id}: {got} != {wanted}")
    if "teamwork_desk" in providers:
        api = sandbox.apis["teamwork_desk"]
        entities = api.entities
        for ticket_id, ticket in api.tickets.items():
            row = by_key[("teamwork_desk", str(ticket_id))]
            status = entities["ticketstatuses"][ticket["status"]["id"]]["code"]
            wanted = {
                "status": TEAMWORK_STATUS[status],
                "priority": entities["ticketpriorities"][ticket["priority"]["id"]]["name"],
                "created_at": _utc(ticket["createdAt"]),
                "updated_at": _utc(ticket["updatedAt"]),
                "closed_at": None,
                "customer_email": entities["customers"][ticket["customer"]["id"]]["email"],
                "assignee_email": entities["users"][ticket["agent"]["id"]]["email"],
                "subject": ticket["subject"],
            }
            got = {
                **{k: row[k] for k in wanted},
                "created_at": _utc(row["created_at"]),
                "updated_at": _utc(row["updated_at"]),
            }
            if got != wanted:
                problems.append(f"teamwork_desk {ticket_id}: {got} != {wanted}")
    problems += _check_filum(by_key, sandbox, providers)
    problems += _check_socialboards(by_key, sandbox, providers)
    problems += _check_proprofs(by_key, sandbox, providers)
    assert not problems, "\n".join(problems[:20])
    return per_provider


def _json(value: t.Any) -> t.Any:
    return json.loads(value) if isinstance(value, str) else value


def _compare(
    provider: str, ticket_id: t.Any, got: dict[str, t.Any], wanted: dict[str, t.Any]
) -> list[str]:
    return [] if got == wanted else [f"{provider} {ticket_id}: {got} != {wanted}"]


def _row_view(row: dict[str, t.Any], wanted: dict[str, t.Any]) -> dict[str, t.Any]:
    view = {k: row[k] for k in wanted}
    for k in ("created_at", "updated_at", "closed_at"):
        if k in view:
            view[k] = _utc(view[k])
    return view


def _check_filum(
    by_key: dict[t.Any, dict[str, t.Any]], sandbox: Sandbox, providers: list[str]
) -> list[str]:
    if "filum" not in providers:
        return []
    api: t.Any = sandbox.apis["filum"]
    problems: list[str] = []
    for ticket_id, ticket in api.tickets.items():
        row = by_key[("filum", str(ticket_id))]
        wanted = {
            "status": FILUM_STATUS[ticket.status],
            "priority": ticket.priority,
            "subject": ticket.subject,
            "created_at": _utc(api.utc(ticket_id, "created")),
            "updated_at": _utc(api.utc(ticket_id, "updated")),
            "closed_at": None,
            "customer_email": ticket.customer[2] or None,
            "assignee_email": ticket.assignee[1] if ticket.assignee else None,
        }
        problems += _compare("filum", ticket_id, _row_view(row, wanted), wanted)
        custom = _json(row["custom_fields"])
        if not isinstance(custom, dict):
            problems.append(f"filum {ticket_id}: custom_fields {custom!r} is not an object")
    return problems


def _check_socialboards(
    by_key: dict[t.Any, dict[str, t.Any]], sandbox: Sandbox, providers: list[str]
) -> list[str]:
    if "socialboards" not in providers:
        return []
    api: t.Any = sandbox.apis["socialboards"]
    problems: list[str] = []
    for ticket_id, ticket in api.tickets.items():
        row = by_key[("socialboards", str(ticket_id))]
        flags = ticket["properties"]
        wanted = {
            "status": "deleted"
            if flags["isDeleted"] or flags["isSpam"]
            else SOCIALBOARDS_STATUS[ticket["status"]],
            "priority": None,
            "subject": ticket["title"],
            "created_at": _utc(api.utc(ticket_id, "creationTime")),
            "updated_at": _utc(api.utc(ticket_id, "lastThreadElementCreationTime")),
            "closed_at": None,
            "customer_email": ticket["author"]["email"],
            "assignee_email": (ticket["lockedBy"] or {}).get("email"),
        }
        problems += _compare("socialboards", ticket_id, _row_view(row, wanted), wanted)
    return problems


def _check_proprofs(
    by_key: dict[t.Any, dict[str, t.Any]], sandbox: Sandbox, providers: list[str]
) -> list[str]:
    if "proprofs" not in providers:
        return []
    api: t.Any = sandbox.apis["proprofs"]
    problems: list[str] = []
    for ticket_id, ticket in api.tickets.items():
        row = by_key[("proprofs", str(ticket_id))]
        wanted = {
            "status": "deleted" if ticket["deleted"] else PROPROFS_STATUS[ticket["status"]],
            "priority": PROPROFS_PRIORITY[ticket["priority"]],
            "subject": ticket["subject"],
            "created_at": _utc(api.utc(str(ticket_id), "created")),
            "updated_at": _utc(api.utc(str(ticket_id), "modified")),
            "closed_at": None,
            "customer_email": ticket["customer_email"],
            "assignee_email": (ticket["staff"] or {}).get("email"),
        }
        problems += _compare("proprofs", ticket_id, _row_view(row, wanted), wanted)
        custom = _json(row["custom_fields"])
        if ticket["custom_fields"] and custom != ticket["custom_fields"]:
            problems.append(f"proprofs {ticket_id}: custom_fields {custom!r}")
    return problems


# -- the metrics models ------------------------------------------------------------------

#: the stream each provider's helpdesk_messages rows come from
MESSAGE_STREAMS = {
    "proprofs": "proprofs_ticket_messages",
    "teamwork_desk": "teamwork_desk_messages",
    "enneo": "enneo_reporting_messages",
}
#: metric columns of helpdesk_ticket_metrics, in the order the report prints them
METRIC_COLUMNS = (
    "first_response_minutes",
    "provider_first_response_minutes",
    "closed_at",
    "resolution_minutes",
    "provider_resolution_minutes",
    "inbound_messages",
    "provider_inbound_messages",
)


def _minutes(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 60


def _close(got: t.Any, want: float, tolerance: float) -> bool:
    return got is not None and abs(float(got) - want) < tolerance


def _figure_problems(metrics: list[dict[str, t.Any]], expected: dict[str, int]) -> list[str]:
    """Computed figures against the provider's own, ticket by ticket: Teamwork Desk reports
    whole minutes (a computed figure within a minute of it agrees), Enneo seconds."""
    problems: list[str] = []
    compared: dict[str, int] = {}
    for row in metrics:
        where = f"{row['provider']} {row['ticket_id']}"
        has_messages = MESSAGE_STREAMS.get(row["provider"]) in expected
        checks = [("resolution_minutes", "provider_resolution_minutes", 1.0)]
        if has_messages:
            checks.append(("first_response_minutes", "provider_first_response_minutes", 1.0))
            for kind in ("inbound", "outbound", "internal"):
                checks.append((f"{kind}_messages", f"provider_{kind}_messages", 0.5))
        for ours, theirs, tolerance in checks:
            if row[theirs] is None:
                continue
            compared[ours] = compared.get(ours, 0) + 1
            if not _close(row[ours], float(row[theirs]), tolerance):
                problems.append(f"{where}: {ours} {row[ours]!r}, the provider's {row[theirs]!r}")
    providers = {row["provider"] for row in metrics}
    wanted = {"resolution_minutes": {"teamwork_desk", "enneo"} & providers}
    if "teamwork_desk_messages" in expected:
        wanted["first_response_minutes"] = {"teamwork_desk"}
    if "enneo_reporting_messages" in expected:
        wanted["inbound_messages"] = {"enneo"}
    for column, owners in wanted.items():
        if owners and not compared.get(column):
            problems.append(f"no {column} was compared with a provider's figure")
    return problems


def _proprofs_problems(metrics: dict[tuple[str, str], dict[str, t.Any]], api: t.Any) -> list[str]:
    """First response of ProProfs tickets (no figure of its own) from the sandbox's threads:
    the first staff reply (whole seconds, as the API sends times)."""
    problems: list[str] = []
    for ticket_id, ticket in api.tickets.items():
        row = metrics[("proprofs", str(ticket_id))]
        created = _as_utc(api.utc(str(ticket_id), "created"))
        replies = [m["created"] for m in ticket["messages"] if "reply_by" in m]
        wanted = _minutes(created, min(replies).replace(microsecond=0)) if replies else None
        got = row["first_response_minutes"]
        if (got is None) != (wanted is None) or (
            wanted is not None and not _close(got, wanted, 1 / 60 + 1e-6)
        ):
            problems.append(f"proprofs {ticket_id}: first response {got!r}, sandbox {wanted!r}")
        counts = (row["inbound_messages"], row["outbound_messages"])
        if counts != (len(ticket["messages"]) - len(replies), len(replies)):
            problems.append(f"proprofs {ticket_id}: messages {counts}")
    return problems


def _enneo_daily_problems(daily: list[dict[str, t.Any]], api: t.Any) -> list[str]:
    """Enneo's helpdesk_daily rows from the sandbox's tickets: created and closed per UTC
    day, open at the end of each day, every day from the first ticket's to today."""
    created: dict[date, int] = {}
    closed: dict[date, int] = {}
    for ticket_id in api.tickets:
        day = _as_utc(api.utc(ticket_id, "createdAt")).date()
        created[day] = created.get(day, 0) + 1
        closed_at = api.utc(ticket_id, "closedAt")
        if closed_at is not None:
            day = _as_utc(closed_at).date()
            closed[day] = closed.get(day, 0) + 1
    rows = sorted((r for r in daily if r["provider"] == "enneo"), key=lambda r: r["day"])
    first, today = min(created), datetime.now(timezone.utc).date()
    problems: list[str] = []
    days = [r["day"] for r in rows]
    if days[0] != first or days[-1] < today or len(days) != (days[-1] - first).days + 1:
        problems.append(f"enneo daily: days {days[0]}..{days[-1]} ({len(days)}), first {first}")
    open_now = 0
    for row in rows:
        day = row["day"]
        open_now += created.get(day, 0) - closed.get(day, 0)
        got = (row["tickets_created"], row["tickets_closed"], row["open_at_end_of_day"])
        if got != (created.get(day, 0), closed.get(day, 0), open_now):
            problems.append(f"enneo daily {day}: {got} != {created.get(day, 0)}, ..., {open_now}")
    return problems


def check_metrics(
    models: t.Callable[[str], list[dict[str, t.Any]]], sandbox: Sandbox, expected: dict[str, int]
) -> dict[str, dict[str, int]]:
    """helpdesk_messages, helpdesk_ticket_metrics and helpdesk_daily (`models` reads one of
    them): a message row per loaded message, a metrics row per ticket, computed figures
    equal to the provider's own where both exist, ProProfs' first responses and Enneo's
    days as the sandbox's data gives them.

    Returns, per provider, its rows ("tickets", "messages", "days") and how many tickets
    fill each metric column.
    """
    tickets = models("helpdesk_tickets")
    metrics = models("helpdesk_ticket_metrics")
    messages = models("helpdesk_messages")
    daily = models("helpdesk_daily")
    summary: dict[str, dict[str, int]] = {}
    for row in tickets:
        summary.setdefault(row["provider"], {"tickets": 0, "messages": 0, "days": 0})
        summary[row["provider"]]["tickets"] += 1
    for table, rows in (("messages", messages), ("days", daily)):
        for row in rows:
            summary[row["provider"]][table] += 1
    keys = sorted((r["provider"], r["ticket_id"]) for r in metrics)
    assert keys == sorted((r["provider"], r["ticket_id"]) for r in tickets)
    for provider, stream in MESSAGE_STREAMS.items():
        if stream in expected:
            assert summary[provider]["messages"] == expected[stream], (provider, summary)
    assert {r["direction"] for r in messages} <= {"inbound", "outbound", "internal"}
    by_key = {(r["provider"], r["ticket_id"]): r for r in metrics}
    problems = _figure_problems(metrics, expected)
    if "proprofs_ticket_messages" in expected:
        problems += _proprofs_problems(by_key, sandbox.apis["proprofs"])
    if "enneo_tickets" in expected:
        problems += _enneo_daily_problems(daily, sandbox.apis["enneo"])
    assert not problems, "\n".join(problems[:20])
    for row in metrics:
        filled = summary[row["provider"]]
        for column in METRIC_COLUMNS:
            filled[column] = filled.get(column, 0) + (row[column] is not None)
    return summary
