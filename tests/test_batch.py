"""BATCH messages: with `batch_config` (jsonl, gzip, local storage) the tap writes every
stream, the Teamwork Desk sideload streams included, to batch files and emits BATCH
messages instead of RECORDs; target-postgres (MeltanoLabs, SDK based) loads those files
through `meltano run` to the same rows as the sandbox holds."""

from __future__ import annotations

import gzip
import json
import time
import typing as t
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.conftest import tap_config
from tests.e2e_meltano import (
    MeltanoProject,
    check_streams,
    expected_streams,
    pg_rows,
    pg_schemas,
    pg_tables,
    postgres_env,
    sandbox_environment_providers,
    tap_streams,
    unique_name,
)
from tests.tap_runner import run_tap

pytestmark = pytest.mark.e2e

#: several pages of every stream, small enough to stay quick
SIZES = {"filum": 800, "socialboards": 120, "teamwork_desk": 260, "proprofs": 60, "enneo": 1100}


def batch_config(root: Path) -> dict[str, t.Any]:
    """The SDK's batch_config: gzip'd JSON lines under a local storage root."""
    return {
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "storage": {"root": root.as_uri(), "prefix": "helpdesk-"},
    }


def read_batches(stdout: str) -> tuple[dict[str, list[dict[str, t.Any]]], dict[str, t.Any]]:
    """Records per stream from the files the BATCH messages name, and the SCHEMA messages."""
    records: dict[str, list[dict[str, t.Any]]] = defaultdict(list)
    schemas: dict[str, t.Any] = {}
    kinds: set[str] = set()
    for line in stdout.splitlines():
        message = json.loads(line)
        kinds.add(message["type"])
        if message["type"] == "SCHEMA":
            schemas[message["stream"]] = message["schema"]
        if message["type"] != "BATCH":
            continue
        assert message["encoding"] == {"format": "jsonl", "compression": "gzip"}
        for url in message["manifest"]:
            path = Path(urlparse(url).path)
            with gzip.open(path, "rt", encoding="utf-8") as handle:
                records[message["stream"]] += [json.loads(row) for row in handle]
    assert "RECORD" not in kinds, "the tap sent RECORD messages in batch mode"
    return dict(records), schemas


def test_tap_emits_batch_messages_and_target_postgres_loads_them(
    make_sandbox: t.Callable[..., t.Any], tmp_path: Path
) -> None:
    started = time.monotonic()
    sandbox = make_sandbox(sizes=SIZES)
    expected = expected_streams(sandbox)
    providers = sandbox_environment_providers()

    # 1. the tap itself: BATCH messages for every stream, files holding every row
    direct_root = tmp_path / "direct"
    direct = run_tap(tap_config(sandbox, *providers, batch_config=batch_config(direct_root)))
    assert direct.returncode == 0, direct.stderr[-2000:]
    records, schemas = read_batches(direct.stdout)
    assert set(records) == set(expected), set(records) ^ set(expected)
    streams = tap_streams(providers)
    for stream, want in expected.items():
        keys = [tuple(r[k] for k in streams[stream].primary_keys) for r in records[stream]]
        assert len(set(keys)) == want, f"{stream}: {len(set(keys))} ids in batch files, {want}"
    files = sorted(direct_root.glob("helpdesk-*.json.gz"))
    assert files, "no batch files under the storage root"
    assert {f.name.split("--")[-1].rsplit("-", 6)[0] for f in files} == set(expected)

    # 2. meltano run tap-helpdesk target-postgres with batch_config set through Meltano
    pg = postgres_env()
    schema = unique_name("e2e_batch")
    meltano_root = tmp_path / "meltano-batches"
    project = MeltanoProject(
        tmp_path / "meltano",
        sandbox,
        env={
            **pg,
            "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": schema,
            # the Meltano settings batch_config.encoding.format, ... as environment variables
            "TAP_HELPDESK_BATCH_CONFIG_ENCODING_FORMAT": "jsonl",
            "TAP_HELPDESK_BATCH_CONFIG_ENCODING_COMPRESSION": "gzip",
            "TAP_HELPDESK_BATCH_CONFIG_STORAGE_ROOT": meltano_root.as_uri(),
            "TAP_HELPDESK_BATCH_CONFIG_STORAGE_PREFIX": "helpdesk-",
        },
    )
    with pg_schemas(pg, schema) as connection:
        run = project.run("run", "tap-helpdesk", "target-postgres")
        assert list(meltano_root.glob("helpdesk-*.json.gz")), "meltano's run wrote no batch files"
        counts = check_streams(
            lambda table: pg_rows(connection, schema, table),
            pg_tables(connection, schema),
            expected,
            records,
            schemas,
        )
    print(
        f"\nBATCH into PostgreSQL, rows per stream: {counts}; "
        f"{len(files)} batch files; meltano run {run.seconds:.1f}s, "
        f"test {time.monotonic() - started:.1f}s"
    )
