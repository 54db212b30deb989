"""The command line as users meet it: --about, --discover, and one clear line for bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tap_helpdesk import fastpath
from tap_helpdesk.providers import PROVIDERS
from tests.conftest import START_DATE, assert_no_secret, tap_config
from tests.tap_runner import TAP, run_tap, write_json

DESIGN_STREAMS = {
    "filum_tickets": ["ticket_id"],
    "socialboards_tickets": ["id"],
    "teamwork_desk_tickets": ["id"],
    "proprofs_tickets": ["ticket_id"],
    "enneo_tickets": ["id"],
    "enneo_reporting_tickets": ["id"],
    "enneo_reporting_messages": ["conversationId"],
    "enneo_reporting_worklog": ["userWorklogId"],
}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tap_helpdesk", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_about_json_lists_every_setting_with_secrets_marked():
    result = _cli("--about", "--format=json")
    assert result.returncode == 0, result.stderr
    about = json.loads(result.stdout)
    properties = about["settings"]["properties"]
    assert {"start_date", "end_date", "lookback_days", "max_retries"} <= set(properties)
    assert set(PROVIDERS) <= set(properties)
    secrets = {
        f"{key}.{name}"
        for key in PROVIDERS
        for name, prop in properties[key]["properties"].items()
        if prop.get("secret")
    }
    assert secrets == {
        "filum.api_token",
        "socialboards.refresh_token",
        "teamwork_desk.api_key",
        "proprofs.token",
        "enneo.api_token",
    }
    assert {"batch", "stream-maps", "state", "discover"} <= set(about["capabilities"])


def test_about_markdown_is_a_settings_table():
    result = _cli("--about", "--format=markdown")
    assert result.returncode == 0, result.stderr
    assert "| Setting" in result.stdout
    for setting in ("start_date", "lookback_days", "enneo", "teamwork_desk", "filum"):
        assert f"| {setting}" in result.stdout


def test_discover_without_config_lists_every_stream_with_its_keys():
    result = _cli("--discover")
    assert result.returncode == 0, result.stderr
    catalog = json.loads(result.stdout)
    streams = {s["tap_stream_id"]: s for s in catalog["streams"]}
    implemented = {s.name for p in PROVIDERS.values() for s in p.stream_types}
    for name, keys in DESIGN_STREAMS.items():
        if name in implemented:
            assert streams[name]["key_properties"] == keys, name
    assert implemented == set(streams)
    for entry in streams.values():
        for key in entry["key_properties"]:
            assert key in entry["schema"]["properties"], (entry["tap_stream_id"], key)


def test_sync_with_no_provider_configured_fails_with_one_line():
    run = run_tap({"start_date": START_DATE})
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert len(run.error_lines()) == 1
    assert "no provider is configured" in run.error_lines()[0]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"enneo": {"api_token": "t0ken-value-xyz", "api_url": "ftp://x"}},
            "enneo.api_url: must be an http(s) URL, got 'ftp://x'",
        ),
        (
            {
                "enneo": {
                    "api_token": "t0ken-value-xyz",
                    "api_url": "https://a.enneo.ai",
                    "timezone": "Mars/Olympus",
                }
            },
            "enneo.timezone: unknown time zone 'Mars/Olympus'",
        ),
        (
            {
                "enneo": {"api_url": "https://a.enneo.ai", "api_token": ""},
                "teamwork_desk": {"api_key": "t0ken-value-xyz"},
            },
            "teamwork_desk.api_url: required to use Teamwork Desk",
        ),
        (
            {
                "start_date": "last tuesday",
                "enneo": {"api_token": "t0ken-value-xyz", "api_url": "https://a.enneo.ai"},
            },
            "start_date: 'last tuesday' is not",
        ),
        (
            {
                "lookback_days": "two",
                "enneo": {"api_token": "t0ken-value-xyz", "api_url": "https://a.enneo.ai"},
            },
            "lookback_days: 'two' is not of type 'number'",
        ),
    ],
)
def test_bad_settings_give_one_line_naming_the_setting(change, expected):
    config = {"start_date": START_DATE, **change}
    run = run_tap(config)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    errors = run.error_lines()
    assert len(errors) == 1, errors
    assert errors[0].startswith("tap-helpdesk: error: ")
    assert expected in errors[0]
    assert_no_secret(run.stdout, run.stderr, secrets=["t0ken-value-xyz"])


def test_unreachable_api_gives_one_line_and_no_secret():
    config = {
        "start_date": START_DATE,
        "max_retries": 1,
        "backoff_base_seconds": 0.01,
        "enneo": {"api_token": "t0ken-value-xyz", "api_url": "http://127.0.0.1:9"},
    }
    run = run_tap(config)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert run.error_lines() == [
        "tap-helpdesk: error: Enneo: cannot reach http://127.0.0.1:9 (ConnectionError, "
        "2 attempts): check enneo.api_url and the network"
    ]
    assert_no_secret(run.stdout, run.stderr, secrets=["t0ken-value-xyz"])


def test_debug_logging_prints_no_secret(make_sandbox):
    sandbox = make_sandbox("enneo", "teamwork_desk", sizes={"enneo": 20, "teamwork_desk": 20})
    run = run_tap(
        tap_config(sandbox, "enneo", "teamwork_desk"), env={"TAP_HELPDESK_LOGLEVEL": "DEBUG"}
    )
    assert run.returncode == 0, run.stderr
    assert "DEBUG" in run.stderr, "the run really logged at debug level"
    assert len(run.records["enneo_tickets"]) == 20
    assert_no_secret(run.stdout, run.stderr, json.dumps(run.states))


def test_a_target_that_stops_reading_ends_the_run_with_one_line(make_sandbox) -> None:
    # The target died (its stdin closed): click alone would exit 1 without a word, and
    # Python would print "Exception ignored" when it flushes stdout at exit.
    sandbox = make_sandbox("enneo", sizes={"enneo": 3000})
    config_path = write_json(tap_config(sandbox, "enneo"))
    with subprocess.Popen(
        [*TAP, "--config", str(config_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        for _ in range(5):
            assert process.stdout.readline()
        process.stdout.close()  # the target is gone
        stderr = process.stderr.read()
        returncode = process.wait(timeout=120)
    assert returncode == 1
    problems = [line for line in stderr.splitlines() if "| INFO" not in line]
    assert problems == [f"tap-helpdesk: error: {fastpath.TARGET_GONE}"]
    assert_no_secret(stderr)
