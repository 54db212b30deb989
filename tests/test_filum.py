"""Filum CX ticket export against the sandbox: caps, parsing, zones, incremental, faults, bad input.

Every run here stays under the documented 50 requests a minute, so none waits for the
budget; tests/test_filum_budget.py is the one that does.
"""

from __future__ import annotations

import json
import typing as t
from datetime import date, datetime, timedelta, timezone

import pytest

from sandbox.filum import PRIORITIES, STATUSES, ZONE
from tests.conftest import assert_no_secret, tap_config
from tests.tap_runner import peak_memory_mb, run_tap, run_tap_until

if t.TYPE_CHECKING:
    from sandbox.filum import FilumAPI
    from sandbox.server import Sandbox

STREAM = "filum_tickets"
#: the last second of 2024 in UTC+7: runs that end here export 2024's days only
END_OF_2024 = "2024-12-31T16:59:59Z"
BUSY_DAY = date(2024, 6, 15)


def filum(sandbox: Sandbox) -> FilumAPI:
    """The sandbox's Filum emulator."""
    return t.cast("FilumAPI", sandbox.apis["filum"])


def config_for(sandbox: Sandbox, **filum_settings: t.Any) -> dict[str, t.Any]:
    """Tap settings for 2024 against the sandbox, with Filum settings overridden."""
    config = tap_config(sandbox, "filum", end_date=END_OF_2024)
    config["filum"].update(filum_settings)
    return config


def ticket_ids(run: t.Any) -> list[int]:
    """Every ticket_id emitted, in order, duplicates kept."""
    return [record["ticket_id"] for record in run.records.get(STREAM, [])]


def bookmarks(run: t.Any) -> list[str]:
    """The bookmark of every STATE message, in order."""
    values = [
        state.get("bookmarks", {}).get(STREAM, {}).get("replication_key_value")
        for state in run.states
    ]
    return [value for value in values if value]


def final_bookmark(run: t.Any) -> dict[str, t.Any]:
    """The stream's bookmark in the run's last STATE."""
    return t.cast("dict[str, t.Any]", run.final_state["bookmarks"][STREAM])


def day_of(value: str) -> date:
    """The UTC+7 day of a bookmark (a full UTC timestamp)."""
    return datetime.fromisoformat(value).astimezone(ZONE).date()


def latest(run: t.Any, field: str) -> str:
    """The latest value of a timestamp field among the records emitted."""
    return max(r[field] for r in run.records[STREAM] if r[field])


# -- the 5000-row cap ---------------------------------------------------------------------


def test_a_day_of_6000_tickets_comes_out_complete(make_sandbox):
    sandbox = make_sandbox("filum", sizes={"filum": 400})
    api = filum(sandbox)
    api.add_burst(BUSY_DAY, 6300)
    run = run_tap(config_for(sandbox))
    assert run.returncode == 0, run.stderr
    ids = ticket_ids(run)
    assert len(ids) == len(set(ids)) == 6700, "every ticket once"
    assert sorted(ids) == sandbox.truth()[STREAM]["ids"]

    busy = [e for e in api.exports if e.start == e.end == BUSY_DAY]
    assert busy[0].rows == 5000, "the day alone hits the cap"
    # the whole day is asked for by every documented status (deleted ones included), its
    # parts by some of them
    assert busy[0].statuses == STATUSES
    slices = [e for e in busy if e.statuses and e.statuses != STATUSES]
    assert all(e.rows < 5000 for e in slices)
    assert sorted(s for e in slices for s in e.statuses) == sorted(STATUSES)
    on_the_day = sum(1 for ticket in api.tickets.values() if api.day_of(ticket) == BUSY_DAY)
    assert sum(e.rows for e in slices) == on_the_day > 6300
    # no window longer than 90 days, so the API never shortened one
    assert all(e.used_start == e.start for e in api.exports)
    assert all((e.end - e.start).days < 90 for e in api.exports)
    # beyond what an oracle that knows the data would ask: the answers that hit the cap,
    # and the days after the busy one, asked for apart from the next window
    capped = sum(1 for e in api.exports if e.rows >= 5000)
    fewest = api.fewest_requests(date(2024, 1, 1), date(2024, 12, 31))
    assert len(api.exports) <= fewest + capped + 1
    assert_no_secret(run.stdout, run.stderr)


def test_one_status_over_the_cap_is_split_by_priority(make_sandbox):
    sandbox = make_sandbox("filum", sizes={"filum": 300})
    api = filum(sandbox)
    api.add_burst(BUSY_DAY, 5600, status="open")
    api.add_burst(BUSY_DAY, 700, status="closed")
    run = run_tap(config_for(sandbox))
    assert run.returncode == 0, run.stderr
    assert sorted(ticket_ids(run)) == sandbox.truth()[STREAM]["ids"]
    by_priority = [e for e in api.exports if e.priorities]
    assert by_priority, "the open slice was split by priority"
    assert all(e.statuses == ("open",) and e.rows < 5000 for e in by_priority)
    assert sorted(p for e in by_priority for p in e.priorities) == sorted(PRIORITIES)


def unsplittable(sandbox: Sandbox, **fields: t.Any) -> None:
    """5100 open tickets of one priority (or none) on BUSY_DAY: no filter splits them."""
    filum(sandbox).add_burst(BUSY_DAY, 5100, status="open", **fields)


def test_a_day_still_at_the_cap_is_one_error_naming_the_day_and_filters(make_sandbox):
    sandbox = make_sandbox("filum", sizes={"filum": 300})
    unsplittable(sandbox, priority="high")
    run = run_tap(config_for(sandbox))
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert run.error_lines() == [
        "tap-helpdesk: error: Filum CX: day 2024-06-15 (statuses=open, priorities=high) still "
        "returns 5000 rows, the export cap, after splitting by day, status and priority: rows "
        "beyond the cap cannot be read. Set filum.on_unsplittable_cap=warn to accept these 5000."
    ]
    # what came before the day was emitted and bookmarked; the day itself was not
    assert bookmarks(run), "days before the capped one are bookmarked"
    assert day_of(max(bookmarks(run))) < BUSY_DAY


def test_tickets_without_priority_are_named_when_they_keep_a_day_capped(make_sandbox):
    sandbox = make_sandbox("filum", sizes={"filum": 300})
    unsplittable(sandbox, priority=None)
    run = run_tap(config_for(sandbox))
    assert run.returncode == 1
    [line] = run.error_lines()
    assert "Filum CX: day 2024-06-15 (statuses=open) still returns 5000 rows" in line
    assert "have no priority, which no filter selects" in line


def test_an_unsplittable_day_can_be_accepted_with_a_warning(make_sandbox):
    sandbox = make_sandbox("filum", sizes={"filum": 300})
    unsplittable(sandbox, priority="high")
    run = run_tap(config_for(sandbox, on_unsplittable_cap="warn"))
    assert run.returncode == 0, run.stderr
    warnings = [line for line in run.stderr.splitlines() if "WARNING" in line and "cap" in line]
    assert len(warnings) == 1
    assert "day 2024-06-15 (statuses=open, priorities=high) still returns 5000" in warnings[0]
    truth = sandbox.truth()[STREAM]
    assert len(set(ticket_ids(run))) == truth["count"] - 100, "all but what is beyond the cap"
    # the bookmark is the latest creation time exported (the date the sandbox filters on)
    assert final_bookmark(run) == {
        "replication_key": "created_at",
        "replication_key_value": latest(run, "created_at"),
    }
    assert max(bookmarks(run)) == latest(run, "created_at")


# -- parsing ------------------------------------------------------------------------------

EDGE_TEXTS = [
    "Tab\tinside",
    "Two\nlines",
    "Windows\r\nline end",
    "Lone\rcarriage return",
    'Quote " inside',
    '"Starts with a quote',
    'Ends with a quote"',
    '""',
    "Emoji 😡🙏🏽 👨‍👩‍👧 family",
    "Tiếng Việt: Hóa đơn tháng 12 bị sai, Đặng Quỳnh",
    "  padded  ",
    "Trailing tab\t",
    "Unicode line\u2028separator",
    "Back\\slash; semi, comma",
]


def test_csv_edge_cases_come_through_verbatim(make_sandbox):
    sandbox = make_sandbox("filum", sizes={"filum": 0})
    api = filum(sandbox)
    moment = datetime(2024, 5, 1, 3, 0, tzinfo=timezone.utc)
    made = {
        api.create(moment + timedelta(minutes=i), subject=text, description=text[::-1]).id: text
        for i, text in enumerate(EDGE_TEXTS)
    }
    run = run_tap(config_for(sandbox))
    assert run.returncode == 0, run.stderr
    records = {r["ticket_id"]: r for r in run.records[STREAM]}
    assert set(records) == set(made)
    for ticket_id, text in made.items():
        assert records[ticket_id]["subject"] == text
        assert records[ticket_id]["description"] == text[::-1]
        ticket = api.tickets[ticket_id]
        assert records[ticket_id]["customer_name"] == ticket.customer[0]
        assert records[ticket_id]["custom_fields"] == {
            "Kênh liên hệ": ticket.custom[0],
            "Mã đơn hàng": ticket.custom[1],
            "Ghi chú nội bộ": ticket.custom[2],
        }
        # empty values become null
        assert records[ticket_id]["due_date"] is None or ticket.due is not None
        assert records[ticket_id]["customer_phone"] == ticket.customer[1]
    assert {e.accept for e in api.exports} == {"text/csv"}


def test_csv_and_every_json_variant_give_identical_records(make_sandbox):
    sandbox = make_sandbox("filum", sizes={"filum": 900})
    api = filum(sandbox)
    for i, text in enumerate(EDGE_TEXTS):
        api.create(datetime(2024, 7, 1, tzinfo=timezone.utc) + timedelta(hours=i), subject=text)
    csv_run = run_tap(config_for(sandbox))
    assert csv_run.returncode == 0, csv_run.stderr
    expected = sorted(csv_run.records[STREAM], key=lambda r: r["ticket_id"])
    assert len(expected) == sandbox.truth()[STREAM]["count"]
    variants = [
        ("array", "utf-16le", False),
        ("ndjson", "utf-16le", True),
        ("array", "utf-8", True),
        ("ndjson", "utf-8", False),
    ]
    for style, charset, bom in variants:
        api.json_style, api.json_charset, api.json_bom = style, charset, bom
        api.exports.clear()
        run = run_tap(config_for(sandbox, export_format="json"))
        assert run.returncode == 0, (style, charset, run.stderr)
        got = sorted(run.records[STREAM], key=lambda r: r["ticket_id"])
        assert got == expected, f"JSON {style} in {charset} differs from the CSV"
        assert {e.accept for e in api.exports} == {"application/json"}


def test_times_are_utc_and_days_are_utc_plus_7_days(make_sandbox):
    sandbox = make_sandbox("filum", sizes={"filum": 0})
    api = filum(sandbox)

    def local(*parts: int) -> datetime:
        year, month, day, hour, minute, second = parts
        moment = datetime(year, month, day, hour, minute, second, tzinfo=ZONE)
        return moment.astimezone(timezone.utc)

    inside = [
        api.create(local(2024, 3, 5, 0, 0, 0), updated=local(2024, 3, 5, 0, 0, 0)),
        api.create(local(2024, 3, 5, 23, 59, 59), updated=local(2024, 3, 5, 23, 59, 59)),
    ]
    api.create(local(2024, 3, 4, 23, 59, 59))  # the day before, in UTC+7
    api.create(local(2024, 3, 6, 0, 0, 0))  # the day after
    # 2024-03-05 in UTC+7 is 2024-03-04T17:00:00Z .. 2024-03-05T16:59:59Z
    config = tap_config(
        sandbox, "filum", start_date="2024-03-04T17:00:00Z", end_date="2024-03-05T16:59:59Z"
    )
    run = run_tap(config)
    assert run.returncode == 0, run.stderr
    assert [(e.start, e.end) for e in api.exports] == [(date(2024, 3, 5), date(2024, 3, 5))]
    records = {r["ticket_id"]: r for r in run.records[STREAM]}
    assert set(records) == {ticket.id for ticket in inside}
    first, last = (records[ticket.id] for ticket in inside)
    assert first["created_at"] == first["updated_at"] == "2024-03-04T17:00:00+00:00"
    assert last["created_at"] == last["updated_at"] == "2024-03-05T16:59:59+00:00"
    for ticket in inside:
        assert records[ticket.id]["due_date"] == api.utc(ticket.id, "due")

    # read in another zone, the same text is another moment
    config["filum"]["timezone"] = "UTC"
    run = run_tap(config)
    assert run.returncode == 0, run.stderr
    assert {r["created_at"] for r in run.records[STREAM]} >= {"2024-03-05T00:00:00+00:00"}


# -- incremental, interrupted, faults, data changing ---------------------------------------


def test_incremental_run_rereads_only_the_lookback_and_never_moves_back(make_sandbox):
    sandbox = make_sandbox("filum", sizes={"filum": 400})
    api = filum(sandbox)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    recent = api.create(now, updated=now)
    config = tap_config(sandbox, "filum", lookback_days=1)
    first = run_tap(config)
    assert first.returncode == 0, first.stderr
    assert sorted(ticket_ids(first)) == sandbox.truth()[STREAM]["ids"]
    marks = bookmarks(first)
    assert marks == sorted(marks), "bookmarks only move forward"
    today = datetime.now(ZONE).date()
    # the latest creation time exported (the sandbox filters on it), in full, in UTC
    assert final_bookmark(first) == {
        "replication_key": "created_at",
        "replication_key_value": api.utc(recent.id, "created"),
    }
    bookmark = day_of(marks[-1])

    sandbox.configure(mutate_every=1)
    before = set(api.tickets)
    api.exports.clear()
    second = run_tap(config, state=first.final_state)
    assert second.returncode == 0, second.stderr
    # one export, from the bookmark's day minus lookback_days to today
    assert [(e.start, e.end) for e in api.exports] == [(bookmark - timedelta(days=1), today)]
    new = set(api.tickets) - before
    assert new
    # what changed since, and the ticket of the bookmark's day, inside the lookback
    assert set(ticket_ids(second)) == new | {recent.id}, "only the lookback and what changed"
    assert all(mark >= marks[-1] for mark in bookmarks(second)), "never back"


def test_killed_run_resumes_from_its_last_state_without_gaps(make_sandbox):
    sandbox = make_sandbox("filum", sizes={"filum": 4000})
    api = filum(sandbox)
    config = tap_config(sandbox, "filum", end_date=END_OF_2024)
    killed = run_tap_until(config, stop_after_states=3)
    assert killed.returncode != 0
    seen = set(ticket_ids(killed))
    assert 0 < len(seen) < 4000
    bookmark = day_of(bookmarks(killed)[-1])
    api.exports.clear()
    resumed = run_tap(config, state=killed.final_state)
    assert resumed.returncode == 0, resumed.stderr
    assert api.exports[0].start == bookmark - timedelta(days=1), "it resumes, not restarts"
    assert seen | set(ticket_ids(resumed)) == set(sandbox.truth()[STREAM]["ids"])
    assert len(ticket_ids(resumed)) < 4000


def test_state_of_the_previous_version_is_read_and_migrated(make_sandbox):
    """A bare date under the nominal updated_at (the last fully exported day) is where a
    run starts, lookback_days before; the first value from the data replaces it."""
    sandbox = make_sandbox("filum", sizes={"filum": 400})
    api = filum(sandbox)
    old = {
        "bookmarks": {
            STREAM: {"replication_key": "updated_at", "replication_key_value": "2024-06-14"}
        }
    }
    run = run_tap(
        config_for(
            sandbox,
        ),
        state=old,
    )
    assert run.returncode == 0, run.stderr
    assert api.exports[0].start == date(2024, 6, 13), "the old day minus lookback_days"
    expected = {i for i, ticket in api.tickets.items() if api.day_of(ticket) >= date(2024, 6, 13)}
    assert set(ticket_ids(run)) == expected
    assert final_bookmark(run) == {
        "replication_key": "created_at",
        "replication_key_value": latest(run, "created_at"),
    }
    assert day_of(final_bookmark(run)["replication_key_value"]) > date(2024, 6, 14)


def test_a_run_that_sees_no_row_moves_no_bookmark(make_sandbox):
    sandbox = make_sandbox("filum", sizes={"filum": 0})
    run = run_tap(config_for(sandbox))
    assert run.returncode == 0, run.stderr
    assert not run.records.get(STREAM)
    assert not bookmarks(run), "no row, no bookmark"
    held = {"replication_key": "created_at", "replication_key_value": "2024-12-30T05:00:00+00:00"}
    again = run_tap(config_for(sandbox), state={"bookmarks": {STREAM: dict(held)}})
    assert again.returncode == 0, again.stderr
    assert filum(sandbox).exports[-1].start == date(2024, 12, 29)
    assert final_bookmark(again) == held, "the bookmark stays where it was"


def provider_clock(direction: str) -> timedelta:
    """The sandbox's clock against the machine's.

    behind: two days back, at 22:00 UTC+7 of that day, so its changes fall on a day before
    the machine's yesterday (a bookmark from the machine's clock would pass them);
    ahead: up to 90 minutes forward, staying within the machine's UTC+7 day.
    """
    now = datetime.now(ZONE)
    midnight = datetime.combine(now.date(), datetime.min.time(), tzinfo=ZONE)
    if direction == "behind":
        shift = (midnight - timedelta(hours=26)) - now
    else:
        left = midnight + timedelta(days=1) - now - timedelta(minutes=2)
        shift = max(min(timedelta(minutes=90), left), timedelta(seconds=1))
    return timedelta(seconds=round(shift.total_seconds()))  # the API keeps whole seconds


@pytest.mark.parametrize("direction", ["behind", "ahead"])
def test_changed_tickets_arrive_on_the_rerun_whatever_the_provider_clock(make_sandbox, direction):
    """Run, change tickets, rerun from the final STATE: every change arrives. The sandbox
    filters by update day here; its clock is shifted (FilumAPI.clock) behind or ahead of
    the machine's, and lookback_days is 0, so nothing but the bookmark covers a change."""
    sandbox = make_sandbox("filum", sizes={"filum": 300})
    api = filum(sandbox)
    api.filter_field = "updated"
    api.clock = provider_clock(direction)
    config = tap_config(sandbox, "filum", lookback_days=0)
    latest_ticket = api.create(api.now(), updated=api.now())
    first = run_tap(config)
    assert first.returncode == 0, first.stderr
    assert sorted(ticket_ids(first)) == sandbox.truth()[STREAM]["ids"]
    assert final_bookmark(first) == {
        "replication_key": "updated_at",
        "replication_key_value": api.utc(latest_ticket.id, "updated"),
    }

    changed = [api.tickets[i] for i in sorted(api.tickets)[::15]]
    for ticket in changed:
        api.change(ticket)
    created = [api.create(api.now(), updated=api.now()) for _ in range(5)]
    second = run_tap(config, state=first.final_state)
    assert second.returncode == 0, second.stderr
    got = {r["ticket_id"]: r for r in second.records[STREAM]}
    for ticket in [*changed, *created]:
        assert ticket.id in got, f"ticket {ticket.id} changed and did not arrive"
        assert got[ticket.id]["updated_at"] == api.utc(ticket.id, "updated")
        assert got[ticket.id]["status"] == ticket.status
    assert final_bookmark(second)["replication_key_value"] == max(
        api.utc(ticket.id, "updated") or "" for ticket in [*changed, *created]
    )
    assert min(bookmarks(second)) >= final_bookmark(first)["replication_key_value"]


def test_ten_percent_faults_still_give_every_ticket(make_sandbox):
    sandbox = make_sandbox("filum", sizes={"filum": 600}, fault_rate=0.1, seed=5)
    run = run_tap(tap_config(sandbox, "filum", start_date="2021-01-01T00:00:00Z"))
    assert run.returncode == 0, run.stderr
    assert sorted(set(ticket_ids(run))) == sandbox.truth()[STREAM]["ids"]
    faults = {k: v for k, v in sandbox.stats()["statuses"].items() if "fault" in k}
    assert len(faults) >= 4, f"several kinds of fault were injected: {faults}"
    assert "retry" in run.stderr


@pytest.mark.parametrize("filter_field", ["created", "updated"])
def test_tickets_changing_mid_sync_are_not_lost(make_sandbox, filter_field):
    """Whichever date the API filters on (the docs do not say), no ticket is lost."""
    sandbox = make_sandbox("filum", sizes={"filum": 800}, mutate_every=1)
    api = filum(sandbox)
    api.filter_field = filter_field
    before = set(api.tickets)
    run = run_tap(tap_config(sandbox, "filum"))
    assert run.returncode == 0, run.stderr
    # the tap learns which date that is, and forgets exported tickets by it
    assert f"the export range applies to {filter_field}_at" in run.stderr
    assert not before - set(ticket_ids(run))
    # today's window is exported last: tickets created during the run are in it too
    assert set(ticket_ids(run)) == set(api.tickets)
    versions = [(r["ticket_id"], r["updated_at"]) for r in run.records[STREAM]]
    assert len(versions) == len(set(versions)), "no ticket version is emitted twice"
    if filter_field == "updated":
        # a ticket updated mid-run moves to today, which is read last: in its new form
        latest = {r["ticket_id"]: r["updated_at"] for r in run.records[STREAM]}
        assert all(latest[i] == api.utc(i, "updated") for i in api.tickets)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("width", "most_more_mb"),
    [
        # one at a time, rows are streamed, never a whole answer held: 20 times the tickets
        # (answers of 5000 rows instead of 500), 2.7 MB more when written; holding answers
        # cost about 10 MB
        (1, 6),
        # the default 4 in flight: up to 4 answers read ahead of their turn are held
        # (compressed), bounded by the width, not by the tickets (6.4 MB more measured)
        (None, 9),
    ],
)
def test_memory_stays_flat_as_tickets_grow(make_sandbox, width, most_more_mb):
    peaks = {}
    for size in (2000, 40000):
        sandbox = make_sandbox("filum", sizes={"filum": size})
        config = tap_config(sandbox, "filum", end_date=END_OF_2024)
        if width is not None:
            config["filum"]["max_concurrent_requests"] = width
        peaks[size] = peak_memory_mb(config, size)
    assert peaks[40000] - peaks[2000] < most_more_mb, peaks
    assert peaks[40000] < 150, peaks


# -- custom fields, requests -------------------------------------------------------------


def test_custom_fields_become_columns_discovered_from_a_sample(make_sandbox):
    sandbox = make_sandbox("filum", sizes={"filum": 400})
    api = filum(sandbox)
    config = config_for(sandbox, custom_fields_as_columns=True)
    discovered = run_tap(config, args=["--discover"])
    assert discovered.returncode == 0, discovered.stderr
    today = datetime.now(ZONE).date()
    assert [(e.start, e.end, e.accept) for e in api.exports] == [(today, today, "text/csv")]
    catalog = json.loads(discovered.stdout)
    [entry] = catalog["streams"]
    properties = entry["schema"]["properties"]
    columns = {"kenh_lien_he": "Kênh liên hệ", "ma_don_hang": "Mã đơn hàng"}
    columns["ghi_chu_noi_bo"] = "Ghi chú nội bộ"
    assert set(columns) <= set(properties)

    api.exports.clear()
    run = run_tap(config, catalog=catalog)
    assert run.returncode == 0, run.stderr
    assert all(e.start != today for e in api.exports), "no sample when a catalog is given"
    assert len(run.records[STREAM]) == 400
    for record in run.records[STREAM]:
        for column, header in columns.items():
            assert record[column] == record["custom_fields"][header]
    assert any(record["kenh_lien_he"] for record in run.records[STREAM])


# -- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "value", "expected"),
    [
        (
            "api_token",
            "wrong-filum-token-123",
            "Filum CX: authentication failed (HTTP 401: Could not validate credentials): "
            "check filum.api_token",
        ),
        (
            "organization_id",
            "00000000-0000-4000-8000-000000000000",
            "Filum CX: access denied (HTTP 403: You do not have access to this organization): "
            "check filum.organization_id, and that filum.api_token belongs to that organization",
        ),
        (
            "organization_id",
            "acme-corp",
            "Filum CX: HTTP 422 from /external/tickets/export: header.organization-id: Input "
            "should be a valid UUID, invalid character: expected an optional prefix of "
            "`urn:uuid:` followed by [0-9a-fA-F-] (check filum.organization_id)",
        ),
    ],
)
def test_wrong_credentials_give_one_clear_line(make_sandbox, setting, value, expected):
    sandbox = make_sandbox("filum", sizes={"filum": 5})
    run = run_tap(config_for(sandbox, **{setting: value}))
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert run.error_lines() == [f"tap-helpdesk: error: {expected}"]
    assert_no_secret(run.stdout, run.stderr, secrets=["wrong-filum-token-123"])
    assert_no_secret(run.stdout, run.stderr)


def test_a_csv_without_bom_gives_one_clear_line(make_sandbox):
    sandbox = make_sandbox("filum", sizes={"filum": 5})
    filum(sandbox).bom = False
    run = run_tap(config_for(sandbox))
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert run.error_lines() == [
        "tap-helpdesk: error: Filum CX: the CSV export from /external/tickets/export does not "
        "start with the UTF-16LE byte order mark the API documents (it starts with b'T\\x00'); "
        "check filum.api_url, or set filum.export_format=json"
    ]
    assert not run.records.get(STREAM)


@pytest.mark.parametrize(
    ("kind", "export_format", "expected"),
    [
        ("invalid-json", "json", "Filum CX: expected a JSON array or NDJSON export in utf-8"),
        ("502-html", "csv", "Filum CX: HTTP 502 from /external/tickets/export: 502 Bad Gateway"),
    ],
)
def test_bad_responses_give_one_clear_line(make_sandbox, kind, export_format, expected):
    sandbox = make_sandbox("filum", sizes={"filum": 5}, fault_rate=1.0, fault_kinds=(kind,))
    config = config_for(sandbox, export_format=export_format)
    config["max_retries"] = 1
    run = run_tap(config)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    [line] = run.error_lines()
    assert expected in line
    assert_no_secret(run.stdout, run.stderr)


@pytest.mark.parametrize(
    ("setting", "value", "expected"),
    [
        ("export_format", "xml", "filum.export_format: must be one of csv, json"),
        ("timezone", "Mars/Olympus", "filum.timezone: unknown time zone 'Mars/Olympus'"),
        ("on_unsplittable_cap", "ignore", "filum.on_unsplittable_cap: must be one of error"),
    ],
)
def test_malformed_filum_settings_give_one_clear_line(make_sandbox, setting, value, expected):
    sandbox = make_sandbox("filum", sizes={"filum": 5})
    run = run_tap(config_for(sandbox, **{setting: value}))
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    [line] = run.error_lines()
    assert line.startswith(f"tap-helpdesk: error: {expected}")
    assert not filum(sandbox).exports, "nothing is requested with a malformed setting"
