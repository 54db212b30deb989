"""Enneo exports against the sandbox: completeness, paging, incremental, faults, bad input."""

from __future__ import annotations

import json

import pytest
import requests

from tap_helpdesk.errors import ProviderError
from tap_helpdesk.tap import TapHelpdesk
from tests.conftest import assert_no_secret, tap_config
from tests.tap_runner import run_tap, run_tap_until

STREAMS = ("enneo_tickets", "enneo_reporting_tickets")
PATHS = ("/api/mind/export/ticket", "/api/mind/export/reporting_tickets")


def one_at_a_time(config: dict) -> dict:
    """The settings with Enneo's requests sent one at a time (its default is 3)."""
    config["enneo"]["max_concurrent_requests"] = 1
    return config


def test_full_sync_emits_every_ticket_with_utc_times(make_sandbox):
    sandbox = make_sandbox("enneo", sizes={"enneo": 2345})
    run = run_tap(one_at_a_time(tap_config(sandbox, "enneo")))
    assert run.returncode == 0, run.stderr
    truth = sandbox.truth()
    api = sandbox.apis["enneo"]
    for stream in STREAMS:
        assert sorted(run.ids(stream)) == truth[stream]["ids"]
        assert len(run.records[stream]) == truth[stream]["count"] == 2345
    for record in run.records["enneo_reporting_tickets"][:300]:
        assert record["modifiedAt"] == api.utc(record["id"], "modifiedAt")
        assert record["createdAt"] == api.utc(record["id"], "createdAt")
        assert record["modifiedAt"].endswith("+00:00")
        assert record["rawData"] is None or isinstance(record["rawData"], dict)
    raw = [r["rawData"] for r in run.records["enneo_reporting_tickets"] if r["rawData"]]
    assert any("_raw" in value for value in raw), "the docs' '{...}' sample stays visible"
    assert any("subject" in value for value in raw), "JSON rawData is parsed into an object"
    # 3 pages of at most 1000 per stream, and one request from the cursor confirming that
    # the short third page was the last (the API has no end marker); never a limit above
    # the documented maximum (the messages and worklog streams: tests/test_enneo_reporting.py)
    paths = sandbox.stats()["paths"]
    assert paths["/api/mind/export/ticket"] + paths["/api/mind/export/reporting_tickets"] == 8
    assert_no_secret(run.stdout, run.stderr)


def test_full_sync_at_the_default_width_emits_every_ticket_in_order(make_sandbox):
    # 3 in flight: the range after the first page is read in sub-ranges side by side
    sandbox = make_sandbox("enneo", sizes={"enneo": 2345})
    run = run_tap(tap_config(sandbox, "enneo"))
    assert run.returncode == 0, run.stderr
    truth = sandbox.truth()
    api = sandbox.apis["enneo"]
    paths = sandbox.stats()["paths"]
    for stream, path in zip(STREAMS, PATHS, strict=True):
        records = run.records[stream]
        assert sorted(run.ids(stream)) == truth[stream]["ids"]
        assert len(records) == truth[stream]["count"] == 2345, "every ticket once"
        values = [r["modifiedAt"] for r in records]
        assert values == sorted(values), "records leave in key order, sub-range after sub-range"
        assert all(r["modifiedAt"] == api.utc(r["id"], "modifiedAt") for r in records)
        bookmarks = [
            s["bookmarks"][stream]["replication_key_value"]
            for s in run.states
            if s["bookmarks"].get(stream, {}).get("replication_key_value")
        ]
        assert bookmarks == sorted(bookmarks), "a bookmark moved backwards"
        assert bookmarks[-1] == max(values)
        # 3 pages at least; at most the 4 one at a time takes and one request per sub-range cut
        # ahead of the data's end (one more than in flight: the sandbox's data end in 2025,
        # the walk's ceiling is now) and the open-ended rest
        assert 3 <= paths[path] <= 4 + 3 + 2, paths
    assert_no_secret(run.stdout, run.stderr)


def test_incremental_run_resumes_from_state_and_never_moves_back(make_sandbox):
    sandbox = make_sandbox("enneo", sizes={"enneo": 1500})
    config = tap_config(sandbox, "enneo", lookback_days=1)
    first = run_tap(config)
    assert first.returncode == 0, first.stderr
    bookmark = first.final_state["bookmarks"]["enneo_tickets"]["replication_key_value"]
    assert bookmark == max(r["modifiedAt"] for r in first.records["enneo_tickets"])

    sandbox.configure(mutate_every=1)
    sandbox.handle  # noqa: B018 - mutations happen on the next requests
    second = run_tap(config, state=first.final_state)
    assert second.returncode == 0, second.stderr
    records = second.records["enneo_tickets"]
    # only the lookback window and what changed since are re-read
    assert 0 < len(records) < 200
    new_bookmark = second.final_state["bookmarks"]["enneo_tickets"]["replication_key_value"]
    assert new_bookmark >= bookmark
    for state in second.states:
        value = state["bookmarks"].get("enneo_tickets", {}).get("replication_key_value")
        assert value is None or value >= bookmark, "a bookmark moved backwards"


def test_killed_run_resumes_from_last_state_without_gaps(make_sandbox):
    sandbox = make_sandbox("enneo", sizes={"enneo": 4200})
    config = tap_config(sandbox, "enneo")
    config["enneo"]["requests_per_second"] = 1000
    # streams run in name order: killed within reporting_tickets, after the messages
    killed = run_tap_until(config, stop_after_records=("enneo_reporting_tickets", 1000))
    assert killed.returncode != 0
    seen = killed.ids("enneo_tickets") | killed.ids("enneo_reporting_tickets")
    assert 0 < len(killed.ids("enneo_reporting_tickets")) < 4200
    resumed = run_tap(config, state=killed.final_state)
    assert resumed.returncode == 0, resumed.stderr
    for stream in STREAMS:
        got = killed.ids(stream) | resumed.ids(stream)
        assert sorted(got) == sandbox.truth()[stream]["ids"]
    assert seen


def test_ten_percent_faults_still_give_every_ticket(make_sandbox):
    sandbox = make_sandbox("enneo", sizes={"enneo": 15000}, fault_rate=0.10, seed=11)
    run = run_tap(tap_config(sandbox, "enneo"))
    assert run.returncode == 0, run.stderr
    for stream in STREAMS:
        assert sorted(run.ids(stream)) == sandbox.truth()[stream]["ids"]
    statuses = sandbox.stats()["statuses"]
    assert sum(v for k, v in statuses.items() if "fault" in k) > 0, "faults were injected"


def test_tickets_modified_mid_sync_are_not_skipped(make_sandbox):
    sandbox = make_sandbox("enneo", sizes={"enneo": 5000}, mutate_every=1)
    before = {s: set(sandbox.truth()[s]["ids"]) for s in STREAMS}
    run = run_tap(tap_config(sandbox, "enneo"))
    assert run.returncode == 0, run.stderr
    for stream in STREAMS:
        missing = before[stream] - run.ids(stream)
        assert not missing, f"{len(missing)} tickets skipped in {stream}"
    # enneo_tickets is synced last: every ticket modified while it was walked was met
    # again, in its modified form. Only a change made after its final page was read (by
    # the request confirming that the short page was the last) can be missing: such a
    # change is later than every row the walk read, so at or after the final bookmark,
    # where the next run starts reading.
    api = sandbox.apis["enneo"]
    latest = {r["id"]: r["modifiedAt"] for r in run.records["enneo_tickets"]}
    assert len(run.records["enneo_tickets"]) > len(latest), "modified tickets are re-read"
    bookmark = run.final_state["bookmarks"]["enneo_tickets"]["replication_key_value"]
    assert bookmark == max(latest.values())
    for ticket_id in before["enneo_tickets"]:
        now = api.utc(ticket_id, "modifiedAt")
        assert latest[ticket_id] == now or now >= bookmark, f"ticket {ticket_id} is stale"


def test_wrong_token_gives_one_clear_line(make_sandbox):
    sandbox = make_sandbox("enneo", sizes={"enneo": 10})
    config = tap_config(sandbox, "enneo")
    config["enneo"]["api_token"] = "wrong-token-value-123"
    run = run_tap(config)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    errors = run.error_lines()
    assert errors == [
        "tap-helpdesk: error: Enneo: authentication failed (HTTP 401): check enneo.api_token"
    ]
    assert_no_secret(run.stdout, run.stderr, secrets=["wrong-token-value-123"])


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("502-html", "Enneo: HTTP 502 from /api/mind/export/"),
        ("invalid-json", "Enneo: expected JSON from /api/mind/export/"),
    ],
)
def test_bad_responses_give_one_clear_line(make_sandbox, kind, expected):
    sandbox = make_sandbox("enneo", sizes={"enneo": 10}, fault_rate=1.0, fault_kinds=(kind,))
    config = tap_config(sandbox, "enneo", max_retries=2)
    run = run_tap(config)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    errors = run.error_lines()
    assert len(errors) == 1, errors
    assert expected in errors[0]
    assert "502 Bad Gateway" in errors[0] or kind != "502-html"
    assert_no_secret(run.stdout, run.stderr)


@pytest.mark.parametrize(
    ("stream", "ident", "key"),
    [("enneo_tickets", "id", "modifiedAt"), ("enneo_reporting_worklog", "userWorklogId", "date")],
)
def test_a_page_peeked_at_is_read_by_its_ids_and_keys_alone(stream, ident, key):
    # What the walk takes a page in by when it arrives ahead of its turn: the same ids and
    # keys as the page parsed whole, in the same order; an answer that is no array of
    # objects is parsed whole, for its one error line.
    enneo = {"api_token": "t", "api_url": "http://127.0.0.1:9"}
    tap = TapHelpdesk(config={"start_date": "2024-01-01T00:00:00Z", "enneo": enneo})
    export = tap.streams[stream]
    rows = [{ident: 7, key: "2024-03-01 10:00:00", "x": [1, {"y": "z"}]}, {ident: "8", key: None}]
    rows.append({"rawData": "{}"})  # neither field: both None, as a row without them reads
    whole, _ = export.page_rows(_answer(json.dumps(rows).encode()))
    keys, more = export.page_keys(_answer(json.dumps(rows).encode()))
    assert more is None
    assert keys == [{ident: r.get(ident), key: r.get(key)} for r in whole]
    with pytest.raises(ProviderError, match="expected a JSON array"):
        export.page_keys(_answer(b'{"error": "nope"}'))
    for body in (b"[1, 2]", b"[null]"):  # rows that are no objects: page_rows' one line
        with pytest.raises(ProviderError, match="expected a JSON array of objects"):
            export.page_rows(_answer(body))
        with pytest.raises(ProviderError, match="expected a JSON array of objects"):
            export.page_keys(_answer(body))


def _answer(body: bytes) -> requests.Response:
    response = requests.Response()
    response._content = body
    response.status_code = 200
    response.url = "http://127.0.0.1:9/api/mind/export/ticket"
    response.headers["Content-Type"] = "application/json"
    return response
