"""Stream maps and schema flattening, applied inside the tap (Singer SDK), checked on what
the tap emits and on what `meltano run tap-helpdesk target-duckdb` loads: customer e-mails
are dropped (a hash kept as a pseudonymous join key) before any record leaves the tap."""

from __future__ import annotations

import hashlib
import json
import typing as t
from pathlib import Path

import pytest

from tests.conftest import tap_config
from tests.e2e_meltano import MeltanoProject, duckdb_rows, duckdb_tables
from tests.tap_runner import run_tap

pytestmark = pytest.mark.e2e

PROVIDERS = ("teamwork_desk", "enneo")
SIZES = {"teamwork_desk": 150, "enneo": 300}
#: customer e-mails removed, an md5 of each kept to join on; Enneo's rawData (the original
#: message payload) and replyRecipients (who a reply goes to) carry the sender's address
#: too, so they go as well
STREAM_MAPS: dict[str, t.Any] = {
    "teamwork_desk_customers": {"email": None, "email_md5": "md5(email) if email else None"},
    "enneo_tickets": {
        "from": None,
        "rawData": None,
        "replyRecipients": None,
        "from_md5": "md5(record['from']) if record['from'] else None",
    },
    "enneo_reporting_tickets": {"email": None, "rawData": None},
}
FLATTENING = {"flattening_enabled": True, "flattening_max_depth": 1}


def customer_emails(sandbox: t.Any) -> set[str]:
    """Every customer e-mail the sandbox holds (agents' addresses are not customers')."""
    customers = sandbox.apis["teamwork_desk"].entities["customers"].values()
    return {c["email"] for c in customers} | {
        ticket["email"] for ticket in sandbox.apis["enneo"].tickets.values()
    }


def md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()  # a pseudonym, not a secret


def test_stream_maps_drop_customer_emails_and_flatten(
    make_sandbox: t.Callable[..., t.Any], tmp_path: Path
) -> None:
    sandbox = make_sandbox(*PROVIDERS, sizes=SIZES)
    emails = customer_emails(sandbox)
    assert emails
    customers = sandbox.apis["teamwork_desk"].entities["customers"]
    tickets = sandbox.apis["teamwork_desk"].tickets

    # 1. what the tap emits: no e-mail anywhere in the output, hashes instead
    run = run_tap(tap_config(sandbox, *PROVIDERS, stream_maps=STREAM_MAPS, **FLATTENING))
    assert run.returncode == 0, run.stderr[-2000:]
    leaked = [email for email in emails if email in run.stdout]
    assert not leaked, f"{len(leaked)} customer e-mails left the tap, e.g. {leaked[:3]}"
    assert "email" not in run.schemas["teamwork_desk_customers"]["properties"]
    assert "from" not in run.schemas["enneo_tickets"]["properties"]
    emitted = run.records["teamwork_desk_customers"]
    assert len(emitted) == sandbox.truth()["teamwork_desk_customers"]["count"]
    for record in emitted:
        assert "email" not in record
        assert record["email_md5"] == md5(customers[record["id"]]["email"])
    for record in run.records["enneo_tickets"]:
        assert record["from_md5"] == md5(sandbox.apis["enneo"].tickets[record["id"]]["email"])
    # flattening: nested objects became columns (customer -> customer__id)
    ticket = run.records["teamwork_desk_tickets"][0]
    assert "customer" not in ticket
    assert ticket["customer__id"] == tickets[ticket["id"]]["customer"]["id"]

    # 2. the same settings through Meltano into DuckDB
    warehouse = tmp_path / "maps.duckdb"
    project = MeltanoProject(
        tmp_path / "meltano",
        sandbox,
        env={
            "TARGET_DUCKDB_FILEPATH": str(warehouse),
            "TAP_HELPDESK_STREAM_MAPS": json.dumps(STREAM_MAPS),
            "TAP_HELPDESK_FLATTENING_ENABLED": "true",
            "TAP_HELPDESK_FLATTENING_MAX_DEPTH": "1",
            # the sandbox serves only these providers: select their streams (Meltano extra)
            "TAP_HELPDESK__SELECT": json.dumps([f"{key}_*.*" for key in PROVIDERS]),
        },
    )
    meltano = project.run("run", "tap-helpdesk", "target-duckdb")
    tables = duckdb_tables(warehouse, "helpdesk")
    assert "teamwork_desk_customers" in tables, meltano.tail()
    loaded = duckdb_rows(warehouse, "helpdesk", "teamwork_desk_customers")
    assert len(loaded) == len(customers)
    for row in loaded:
        assert "email" not in row
        assert row["email_md5"] == md5(customers[row["id"]]["email"])
    enneo = duckdb_rows(warehouse, "helpdesk", "enneo_tickets")
    assert len(enneo) == len(sandbox.apis["enneo"].tickets)
    assert all("from" not in row for row in enneo)
    flat = duckdb_rows(warehouse, "helpdesk", "teamwork_desk_tickets")
    assert len(flat) == len(tickets)
    assert all(row["customer__id"] == tickets[row["id"]]["customer"]["id"] for row in flat)
    everything = json.dumps(
        [duckdb_rows(warehouse, "helpdesk", table) for table in tables], default=str
    )
    assert not [email for email in emails if email in everything], "an e-mail reached DuckDB"
