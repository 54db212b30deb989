"""Input the user controls, through the real CLI: credentials with whitespace, the state
file, numeric settings, unknown setting names, stop signals, and provider values.

Each bad input ends with one line naming what to fix, no traceback, no secret, and (where
the input is read before the sync) no request at all.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import typing as t

import pytest

from sandbox import SECRETS, tap_settings
from tests.conftest import START_DATE, tap_config
from tests.hostile.server import (
    HostileServer,
    Seen,
    assert_clear_failure,
    assert_no_secret,
    json_reply,
    run_bounded,
)
from tests.tap_runner import TAP, TapRun, parse_messages, write_json

PROVIDERS = ("filum", "socialboards", "teamwork_desk", "proprofs", "enneo")
SIZES = {"filum": 40, "socialboards": 40, "teamwork_desk": 40, "proprofs": 40, "enneo": 40}
TICKETS = {
    "filum": ("filum_tickets", "ticket_id"),
    "socialboards": ("socialboards_tickets", "id"),
    "teamwork_desk": ("teamwork_desk_tickets", "id"),
    "proprofs": ("proprofs_tickets", "ticket_id"),
    "enneo": ("enneo_tickets", "id"),
}
RESET = "meltano state clear"


def _padded(block: dict[str, t.Any]) -> dict[str, t.Any]:
    """Every text setting as pasted carelessly: a leading space and a trailing newline."""
    return {k: f" {v}\n" if isinstance(v, str) else v for k, v in block.items()}


# -- credentials -------------------------------------------------------------------------


def test_every_credential_with_whitespace_works_and_no_form_is_printed(make_sandbox):
    sandbox = make_sandbox(*PROVIDERS, sizes=SIZES)
    config = tap_config(sandbox, *PROVIDERS)
    for provider in PROVIDERS:
        config[provider] = _padded(tap_settings(provider, sandbox.url))
    run = run_bounded(config, env={"TAP_HELPDESK_LOGLEVEL": "DEBUG"})
    assert run.returncode == 0, run.stderr[-3000:]
    truth = sandbox.truth()
    for stream, key in TICKETS.values():
        assert run.ids(stream, key) == set(truth[stream]["ids"]), stream
    padded = [f" {secret}\n" for secret in SECRETS]
    assert_no_secret(run, [*SECRETS, *padded])
    assert sandbox.stats()["statuses"].get("enneo:401") is None


def test_a_blank_credential_is_one_line_naming_it(make_sandbox):
    sandbox = make_sandbox("enneo", sizes={"enneo": 5})
    config = tap_config(sandbox, "enneo")
    config["enneo"]["api_token"] = " \n"
    config["enneo"]["api_url"] = f" {sandbox.url}\n"
    run = run_bounded(config)
    line = assert_clear_failure(run, "enneo.api_token: required to use Enneo")
    assert "api_url" not in line
    assert sandbox.stats()["requests"] == {}


def test_teamwork_desk_half_configured_names_each_missing_setting_once():
    config = {"start_date": START_DATE, "teamwork_desk": {"api_key": "tkn.v1_half-configured"}}
    run = run_bounded(config)
    line = assert_clear_failure(run, "teamwork_desk.api_url", secrets=["tkn.v1_half-configured"])
    assert line.count("teamwork_desk.api_url") == 1, line
    assert line == "tap-helpdesk: error: teamwork_desk.api_url: required to use Teamwork Desk"


# -- the state file ----------------------------------------------------------------------


def _run_with_state_text(config: dict[str, t.Any], text: str) -> TapRun:
    path = write_json(None)
    path.write_text(text, encoding="utf-8")
    command = [*TAP, "--config", str(write_json(config)), "--state", str(path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)
    return TapRun(done.returncode, done.stdout, done.stderr)


BOOKMARK = {"replication_key": "modifiedAt", "replication_key_value": "2024-02-01T00:00:00+00:00"}


def _enneo_state(**bookmark: t.Any) -> str:
    return json.dumps({"bookmarks": {"enneo_tickets": bookmark}})


@pytest.mark.parametrize(
    ("state", "words"),
    [
        ("{not json", ["state: the file is not JSON"]),
        ("", ["state: the file is not JSON"]),
        ("[1, 2]", ["state: the state is a list, not a JSON object"]),
        ('{"bookmarks": []}', ["'bookmarks' is a list"]),
        ('{"bookmarks": {"enneo_tickets": "2024-01-01"}}', ["enneo_tickets: its state is"]),
        (
            json.dumps(
                {"bookmarks": {"enneo_tickets": {**BOOKMARK, "replication_key_value": "x"}}}
            ),
            ["enneo_tickets: the bookmark 'x' is not a timestamp"],
        ),
        (
            json.dumps({"bookmarks": {"enneo_tickets": {"replication_key": "modifiedAt"}}}),
            ["enneo_tickets: the bookmark has no value"],
        ),
        (
            json.dumps({"bookmarks": {"enneo_tickets": {**BOOKMARK, "replication_key": "id"}}}),
            ["enneo_tickets: the bookmark is on 'id'", "replication key is 'modifiedAt'"],
        ),
        (
            _enneo_state(partitions=[{**BOOKMARK, "replication_key_value": "soon"}]),
            ["enneo_tickets: the bookmark 'soon'"],
        ),
        (
            json.dumps({"singer_state": {"bookmarks": {"enneo_tickets": BOOKMARK}}}),
            ["wrapped in 'singer_state'"],
        ),
    ],
)
def test_a_bad_state_file_is_one_line_before_any_request(make_sandbox, state, words):
    sandbox = make_sandbox("enneo", sizes={"enneo": 5})
    run = _run_with_state_text(tap_config(sandbox, "enneo"), state)
    assert run.returncode == 1
    line = assert_clear_failure(run, *words, RESET, "--state", secrets=SECRETS)
    assert line.startswith("tap-helpdesk: error: state: "), line
    assert sandbox.stats()["requests"] == {}, "the state is checked before any request"
    assert '"type":"RECORD"' not in run.stdout


def test_a_good_state_of_another_stream_and_of_this_one_is_used(make_sandbox):
    sandbox = make_sandbox("enneo", sizes={"enneo": 30})
    state = {"bookmarks": {"enneo_tickets": BOOKMARK, "filum_tickets": {"anything": 1}}}
    run = run_bounded(tap_config(sandbox, "enneo"), state=state)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (
        run.states[0]["bookmarks"]["enneo_tickets"]["replication_key_value"]
        >= (BOOKMARK["replication_key_value"])
    )


# -- numeric settings --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "line"),
    [
        ({"request_timeout": 0}, "request_timeout: must be more than 0 and at most 3600, got 0"),
        ({"max_retries": -1}, "max_retries: must be at least 0 and at most 100, got -1"),
        ({"max_retries": 1000}, "max_retries: must be at least 0 and at most 100, got 1000"),
        ({"lookback_days": -1}, "lookback_days: must be at least 0 and at most 3650, got -1"),
        ({"lookback_days": 5000}, "lookback_days: must be at least 0 and at most 3650, got 5000"),
        (
            {"backoff_base_seconds": 0},
            "backoff_base_seconds: must be more than 0 and at most 600, got 0",
        ),
        (
            {"enneo": {"requests_per_second": 0}},
            "enneo.requests_per_second: must be more than 0, got 0",
        ),
        (
            {"enneo": {"requests_per_minute": -5}},
            "enneo.requests_per_minute: must be more than 0, got -5",
        ),
    ],
)
def test_numeric_settings_out_of_range_are_one_line_before_any_request(make_sandbox, change, line):
    sandbox = make_sandbox("enneo", sizes={"enneo": 5})
    config = tap_config(sandbox, "enneo")
    for name, value in change.items():
        if isinstance(value, dict):
            config[name].update(value)
        else:
            config[name] = value
    run = run_bounded(config)
    assert run.returncode == 1
    assert assert_clear_failure(run, secrets=SECRETS) == f"tap-helpdesk: error: {line}"
    assert sandbox.stats()["requests"] == {}


# -- unknown setting names ---------------------------------------------------------------


def test_unknown_setting_names_are_warnings_naming_the_closest_setting(make_sandbox):
    sandbox = make_sandbox("enneo", sizes={"enneo": 12})
    config = tap_config(sandbox, "enneo", start_dat="2024-02-01T00:00:00Z", zzz_unrelated=1)
    config["enneo"]["time_zone"] = "Europe/Berlin"
    run = run_bounded(config)
    assert run.returncode == 0, run.stderr[-2000:]
    assert len(run.records["enneo_tickets"]) == 12
    warnings = [line for line in run.stderr.splitlines() if "unknown setting" in line]
    assert len(warnings) == 3, warnings
    assert any("'start_dat' is ignored; did you mean 'start_date'?" in w for w in warnings)
    assert any(
        "'enneo.time_zone' is ignored; did you mean 'enneo.timezone'?" in w for w in warnings
    )
    assert any("'zzz_unrelated' is ignored; see tap-helpdesk --about" in w for w in warnings)


# -- unexpected failures -----------------------------------------------------------------


def test_an_unexpected_failure_is_one_redacted_line_and_a_traceback_only_at_debug(make_sandbox):
    sandbox = make_sandbox("enneo", sizes={"enneo": 5})
    token = tap_settings("enneo", sandbox.url)["api_token"]
    # a stream map that fails while it runs, quoting the token in its expression
    maps = {"enneo_tickets": {"leak": f"'{token}' + id"}}
    config = tap_config(sandbox, "enneo", stream_maps=maps)
    quiet = run_bounded(config)
    line = assert_clear_failure(quiet, secrets=SECRETS)
    assert "Traceback" not in quiet.stderr
    assert "****" in line or token not in line
    loud = run_bounded(config, env={"TAP_HELPDESK_LOGLEVEL": "DEBUG"})
    assert loud.returncode == 1
    assert "Traceback (most recent call last)" in loud.stderr
    assert_no_secret(loud, SECRETS)


# -- stop signals ------------------------------------------------------------------------


def _run_until_signal(config: dict[str, t.Any], signum: int) -> TapRun:
    """Run the tap, send `signum` right after its first STATE, and read it to its end."""
    command = [*TAP, "--config", str(write_json(config))]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.startswith('{"type":"STATE"'):
                process.send_signal(signum)
                break
        try:
            out, err = process.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    run = TapRun(process.returncode, "".join(lines) + out, err)
    parse_messages(run.stdout, run)
    return run


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_stopped_run_exits_non_zero_with_a_state_a_rerun_loses_nothing_from(
    make_sandbox, signum, code
):
    sandbox = make_sandbox(
        "enneo",
        sizes={"enneo": 3500},
        fault_rate=0.5,
        fault_kinds=("slow",),
        slow_seconds=0.3,
    )
    config = tap_config(sandbox, "enneo")
    stopped = _run_until_signal(config, signum)
    assert stopped.returncode == code, stopped.stderr[-3000:]
    name = signal.Signals(signum).name
    assert assert_clear_failure(stopped, f"stopped by {name}", secrets=SECRETS)
    assert stopped.stdout.rstrip("\n").rsplit("\n", 1)[-1].startswith('{"type":"STATE"')
    truth = sandbox.truth()["enneo_tickets"]["ids"]
    assert len(stopped.ids("enneo_tickets")) < len(truth), "the run was stopped mid-way"
    sandbox.configure(fault_rate=0.0)
    rerun = run_bounded(config, state=stopped.final_state)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert stopped.ids("enneo_tickets") | rerun.ids("enneo_tickets") == set(truth)


# -- provider values ---------------------------------------------------------------------

ENNEO_TOKEN = "enneo-input-token-0123456789"


def _enneo_server(data: list[dict[str, t.Any]]) -> HostileServer:
    def script(seen: Seen) -> t.Any:
        if "ticket" not in seen.path:
            return json_reply([])  # the messages and worklog exports: tickets only here
        low = seen.arg("filters[0][value]") or ""
        offset = int(seen.arg("offset") or 0)
        limit = int(seen.arg("limit") or 100)
        matching = [r for r in data if r["modifiedAt"] >= low]
        return json_reply(matching[offset : offset + limit])

    return HostileServer(script)


def _enneo_config(url: str) -> dict[str, t.Any]:
    return {
        "start_date": START_DATE,
        "max_retries": 1,
        "backoff_base_seconds": 0.01,
        "request_timeout": 5,
        "enneo": {"api_token": ENNEO_TOKEN, "api_url": url},
    }


def test_zero_dates_become_null_with_a_counted_warning_and_epochs_are_read():
    data = [
        {"id": 1, "modifiedAt": "2024-03-01 08:00:00", "closedAt": "0000-00-00 00:00:00"},
        {"id": 2, "modifiedAt": "2024-03-01 08:00:01", "closedAt": "0000-00-00"},
        {"id": 3, "modifiedAt": "2024-03-01 08:00:02", "closedAt": 1709280000},
        {"id": 4, "modifiedAt": "2024-03-01 08:00:03", "closedAt": "1709280000123"},
    ]
    with _enneo_server(data) as server:
        run = run_bounded(_enneo_config(server.url))
    assert run.returncode == 0, run.stderr[-3000:]
    closed = {r["id"]: r["closedAt"] for r in run.records["enneo_tickets"]}
    assert closed == {
        1: None,
        2: None,
        3: "2024-03-01T08:00:00+00:00",
        4: "2024-03-01T08:00:00.123000+00:00",
    }
    warnings = [line for line in run.stderr.splitlines() if "zero dates" in line]
    # both Enneo streams read the same answers: 2 zero dates each
    assert len(warnings) == 1, warnings
    assert "4 zero dates (0000-00-00) were emitted as null: closedAt (4)" in warnings[0]


def test_ids_as_text_are_cast_and_an_unreadable_value_is_one_line_naming_the_record():
    data: list[dict[str, t.Any]] = [
        {"id": "4484636", "modifiedAt": "2024-03-01 08:00:00", "isEscalated": "true"},
        {"id": 7, "modifiedAt": "2024-03-01 08:00:01"},
    ]
    with _enneo_server(data) as server:
        run = run_bounded(_enneo_config(server.url))
    assert run.returncode == 0, run.stderr[-3000:]
    assert sorted(r["id"] for r in run.records["enneo_tickets"]) == [7, 4484636]
    assert run.records["enneo_tickets"][0]["isEscalated"] is True
    bad = [{"id": 9, "modifiedAt": "2024-03-01 08:00:00", "createdAt": "last tuesday"}]
    with _enneo_server(bad) as server:
        failed = run_bounded(_enneo_config(server.url))
    line = assert_clear_failure(
        failed, "Enneo", "record id=9", "field 'createdAt'", "'last tuesday'", secrets=[ENNEO_TOKEN]
    )
    assert re.search(r"error: Enneo: enneo_(reporting_)?tickets record id=9: ", line), line


def test_a_time_with_odd_minutes_in_an_hour_already_read_is_one_line_not_a_copied_value():
    # the first ticket caches the hour 08 (UTC+1 in March, Enneo's Europe/Berlin default)
    data = [
        {"id": 1, "modifiedAt": "2024-03-01 08:00:00", "closedAt": "2024-03-01 08:10:00"},
        {"id": 2, "modifiedAt": "2024-03-01 08:00:01", "closedAt": "2024-03-01 08:61:00"},
    ]
    with _enneo_server(data) as server:
        run = run_bounded(_enneo_config(server.url))
    line = assert_clear_failure(
        run,
        "Enneo",
        "record id=2",
        "field 'closedAt'",
        "'2024-03-01 08:61:00'",
        secrets=[ENNEO_TOKEN],
    )
    assert "08:61" not in json.dumps(run.records), line
