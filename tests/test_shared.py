"""Unit tests of the shared machinery: budget, retries, timestamps, windows, redaction."""

from __future__ import annotations

import functools
import io
import json
import logging
import random
import sys
import threading
import time
import typing as t
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import msgspec
import pytest
import requests
from singer_sdk.authenticators import BearerTokenAuthenticator
from singer_sdk.singerlib import StateMessage

from tap_helpdesk import surrogates, timestamps
from tap_helpdesk.answers import seconds_until_reset
from tap_helpdesk.authenticators import BearerToken, NoCredentials
from tap_helpdesk.deadline import Deadline, _Watchdog
from tap_helpdesk.errors import SettingsError, Stopped, UnreadableValue
from tap_helpdesk.limits import RequestBudget
from tap_helpdesk.redaction import MASK, redact, redacted_traceback, register_secret
from tap_helpdesk.schemas import load_schema
from tap_helpdesk.tap import StoppableWriter
from tap_helpdesk.timestamps import NaiveToUtc, parse_zone, to_utc, zero_dates
from tap_helpdesk.values import (
    RecordCaster,
    apply,
    compile_checks,
    plan,
    range_problems,
    record_error,
    state_problem,
    unknown_settings,
)
from tap_helpdesk.windows import Window, WindowWalk, halves
from tests.conftest import walk_leaves
from tests.tap_runner import _validator


class FakeClock:
    """A clock that only moves when the budget sleeps (or a request takes time)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _send(budget: RequestBudget, clock: FakeClock, count: int, latency: float) -> list[float]:
    """Send `count` requests; return the moments the server would count them."""
    arrivals = []
    for _ in range(count):
        entry = budget.acquire()
        clock.now += latency / 2
        arrivals.append(clock.now)
        clock.now += latency / 2
        budget.done(entry)
    return arrivals


def _most_in_any_window(moments: list[float], seconds: float) -> int:
    best, left = 0, 0
    for right, moment in enumerate(moments):
        while moments[left] <= moment - seconds:
            left += 1
        best = max(best, right - left + 1)
    return best


@pytest.mark.parametrize("latency", [0.0, 0.03, 0.4])
def test_budget_keeps_filum_limits_and_spends_them(latency):
    clock = FakeClock()
    budget = RequestBudget(5, 50, clock=clock, sleep=clock.sleep)
    arrivals = _send(budget, clock, 230, latency)
    assert _most_in_any_window(arrivals, 1.0) <= 5
    assert _most_in_any_window(arrivals, 60.0) <= 50
    # with enough work the whole minute budget is used: 230 requests need about 4 minutes
    elapsed = arrivals[-1] - arrivals[0]
    assert elapsed < 4 * 60 + 10 + 230 * latency
    assert _most_in_any_window(arrivals, 60.0) >= 45  # at least 90% of 50/min


def test_budget_pause_holds_every_request():
    clock = FakeClock()
    budget = RequestBudget(None, 120, clock=clock, sleep=clock.sleep)
    budget.pause(7.5)
    start = clock.now
    budget.acquire()
    assert clock.now - start == pytest.approx(7.5)


def test_budget_without_limits_never_waits():
    clock = FakeClock()
    budget = RequestBudget(None, None, clock=clock, sleep=clock.sleep)
    _send(budget, clock, 1000, 0.0)
    assert budget.waited_seconds == 0
    assert budget.requests == 1000


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30", 30.0),  # Retry-After in seconds, or Teamwork's "remaining window"
        ("1700000060", 60.0),  # an epoch timestamp
        ("Tue, 14 Nov 2023 22:14:20 GMT", 0.0 + 60.0),  # an HTTP date
        ("soon", None),
        (None, None),
    ],
)
def test_seconds_until_reset_reads_every_form(value, expected):
    now = 1_700_000_000.0
    got = seconds_until_reset(value, now=now)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected, abs=1.0)


@pytest.mark.parametrize(
    ("value", "zone", "expected"),
    [
        ("2024-05-12 09:00:00", "Europe/Berlin", "2024-05-12T07:00:00+00:00"),
        ("2024-01-12 09:00:00", "Europe/Berlin", "2024-01-12T08:00:00+00:00"),
        ("2024-08-23 04:07:24", "America/Chicago", "2024-08-23T09:07:24+00:00"),
        ("2024-01-01 03:00:00", "UTC+7", "2023-12-31T20:00:00+00:00"),
        ("2024-01-01 06:59:59", "UTC+7", "2023-12-31T23:59:59+00:00"),
        ("2024-01-01 07:00:00", "UTC+07:00", "2024-01-01T00:00:00+00:00"),
        ("2019-12-18T18:00:03.6368531+01:00", "UTC", "2019-12-18T17:00:03.636853+00:00"),
        ("2024-04-24T16:17:38.594Z", "UTC", "2024-04-24T16:17:38.594000+00:00"),
        ("2024-03-31 02:30:00", "Europe/Berlin", "2024-03-31T01:30:00+00:00"),
        ("", "UTC", None),
    ],
)
def test_timestamps_become_utc(value, zone, expected):
    assert to_utc(value, parse_zone(zone)) == expected


def test_unknown_zone_is_a_settings_error_naming_the_setting():
    with pytest.raises(SettingsError, match=r"enneo\.timezone: unknown time zone 'Nowhere/X'"):
        parse_zone("Nowhere/X", "enneo.timezone")


def test_window_walk_splits_capped_windows_down_to_days_then_by_filter():
    cap = 3
    rows_per_day = {date(2024, 1, d): d for d in range(1, 9)}  # day 5+ has >= cap rows

    def fetch(window):
        days = [d for d in rows_per_day if window.start <= d <= window.end]
        rows = [(d, i) for d in days for i in range(rows_per_day[d])]
        if window.filters:
            rows = [r for r in rows if r[1] % 2 == int(window.filters[-1][1][0])]
        return rows[:cap]  # the API truncates silently

    def refine(window, _rows):
        parts = halves(window)
        if parts:
            return parts
        if "parity" not in window.filter_names:
            return [window.with_filter("parity", ["0"]), window.with_filter("parity", ["1"])]
        return None

    walk = WindowWalk(
        [Window(date(2024, 1, 1), date(2024, 1, 8))],
        is_truncated=lambda rows: len(rows) >= cap,
        refine=refine,
    )
    results = list(walk_leaves(walk, fetch))
    complete = [w for w, _rows, ok in results if ok]
    incomplete = [w for w, _rows, ok in results if not ok]
    # leaves still at the cap after every refinement are reported, never silently dropped
    assert {(w.start.day, w.filters[-1][1][0]) for w in incomplete} == {
        (5, "0"),
        (6, "0"),
        (6, "1"),
        (7, "0"),
        (7, "1"),
        (8, "0"),
        (8, "1"),
    }
    got = {row for w, rows, ok in results if ok for row in rows}
    expected = {(d, i) for d in rows_per_day if d.day <= 4 for i in range(d.day)}
    assert got == expected | {(date(2024, 1, 5), 1), (date(2024, 1, 5), 3)}
    assert [w.start for w in complete] == sorted(w.start for w in complete), "time order"


def test_redaction_masks_secrets_in_every_log_line(caplog):
    register_secret("s3cr3t-token-value")
    logger = logging.getLogger("tap-helpdesk.test")
    with caplog.at_level(logging.INFO):
        logger.info("calling with %s", "Bearer s3cr3t-token-value")
        logger.warning("token=s3cr3t-token-value in message")
    assert "s3cr3t-token-value" not in caplog.text
    assert caplog.text.count(MASK) == 2
    assert redact("x s3cr3t-token-value y") == f"x {MASK} y"


@pytest.mark.parametrize("zone_name", ["Europe/Berlin", "Asia/Ho_Chi_Minh", "Asia/Kolkata"])
def test_cached_hour_conversion_matches_the_general_path(zone_name):
    zone = ZoneInfo(zone_name)
    convert = NaiveToUtc(zone)
    fields = ("a", "b", "c")
    rng = random.Random(3)
    moment = datetime(2024, 3, 30, 22, 0, 0)  # through both DST changes of Berlin's year
    values: list[t.Any] = [None, "", "2024-03-31T02:30:00", "2024-10-27 02:30:00", "garbage?"]
    values += ["2024-05-01T10:00:00.123Z", "2024-05-01 10:00:00+07:00", 1714557600]
    for _ in range(3000):
        moment += timedelta(minutes=rng.randrange(1, 600))
        values.append(moment.strftime("%Y-%m-%d %H:%M:%S"))
    for start in range(0, len(values), 3):
        chunk = values[start : start + 3]
        record = dict(zip(fields, chunk, strict=False))
        # epoch numbers (1714557600) are converted too, as the general path does
        expected = {
            name: to_utc(value, zone) if value is not None and value != "garbage?" else value
            for name, value in record.items()
        }
        if "garbage?" in chunk:
            with pytest.raises(ValueError, match="garbage"):
                convert.convert_fields(record, fields)
            continue
        convert.convert_fields(record, fields)
        assert record == expected


@pytest.mark.parametrize(
    "tail", [":99:7x", ":60:00", ":00:60", ":5:000", ":0a:00", ": 1:00", ":\u0661\u0662:00"]
)
def test_odd_minutes_in_a_cached_hour_are_read_as_the_general_path_reads_them(tail):
    # the cached hour copies the minutes and seconds: only a valid `:MM:SS` may be copied
    zone = parse_zone("UTC+7")
    convert = NaiveToUtc(zone)
    assert convert("2024-05-12 10:00:00") == "2024-05-12T03:00:00+00:00"  # the hour is cached
    value = f"2024-05-12 10{tail}"
    try:
        expected: t.Any = to_utc(value, zone, "t")
    except UnreadableValue as exc:
        expected = str(exc)
    outcomes = []
    for read in (lambda: convert(value, "t"), lambda: _converted(convert, value)):
        try:
            outcomes.append(read())
        except UnreadableValue as exc:
            outcomes.append(str(exc))
    assert outcomes == [expected, expected]


def _converted(convert: NaiveToUtc, value: str) -> t.Any:
    record = {"t": value}
    convert.convert_fields(record, ("t",))
    return record["t"]


def _aware_samples(count: int) -> list[str]:
    """Offset-aware ISO texts of every kind: offsets, fractions, edges of the calendar."""
    rng = random.Random(11)
    values = [
        "2024-12-23T15:13:37.1295980+03:00",  # Socialboards (.NET: 7 digits)
        "2024-12-31T23:59:59.0000000+00:00",
        "2024-04-24T16:17:38Z",  # Teamwork Desk
        "2024-04-24T16:17:38.594Z",
        "2024-01-01T00:30:00-05:00",
        "2024-01-01T10:11:12.123+05:30",  # half-hour zones: the general path
        "2024-02-29T10:11:12.5+01:00",
        "2024-01-01T10:11:12.+03:00",
        "2024-01-01T10:11:12+0300",
        "2024-01-01T10:11:12-00:00",
        "2024-W01-1T10:11:12+01:00",  # an ISO week date: looks alike, is not
        "2024-01-01T10:11:12.1234567890Z",
    ]
    offsets = ["Z", "+00:00", "-00:00", "+03:00", "-05:00", "+05:30", "+0100", "+14:00", "-12:00"]
    fractions = ["", ".0", ".1234567", ".0000000", ".000001", ".123", ".9999999", ",5"]
    for _ in range(count):
        moment = datetime(1, 1, 2) + timedelta(seconds=rng.randrange(0, 315_537_000_000))
        text = moment.strftime("%Y-%m-%dT%H:%M:%S")
        values.append(f"{text:0>19}{rng.choice(fractions)}{rng.choice(offsets)}")
    return values


def test_aware_timestamp_fast_path_matches_the_general_path(monkeypatch):
    values = _aware_samples(20_000)
    fast = [to_utc(value) for value in values]
    assert timestamps._aware_to_utc("2024-12-23T15:13:37.1295980+03:00") is not None
    assert timestamps._aware_to_utc("2024-04-24T16:17:38Z") is not None
    monkeypatch.setattr(timestamps, "_aware_to_utc", lambda _value: None)
    general = [to_utc(value) for value in values]
    assert fast == general


def test_records_with_aware_timestamps_convert_as_the_general_path(monkeypatch):
    # convert_fields reads offset-aware text on the fast path directly (not through to_utc)
    values = _aware_samples(5_000)
    convert = NaiveToUtc(ZoneInfo("Europe/Berlin"))
    fast = []
    for value in values:
        record = {"t": value}
        try:
            convert.convert_fields(record, ("t",))
        except UnreadableValue:
            record["t"] = "unreadable"
        fast.append(record["t"])
    monkeypatch.setattr(timestamps, "_aware_to_utc", lambda _value: None)
    general = []
    for value in values:
        try:
            general.append(to_utc(value, ZoneInfo("Europe/Berlin")))
        except UnreadableValue:
            general.append("unreadable")
    assert fast == general


def test_the_cached_utc_hours_stay_bounded(monkeypatch):
    hours = timestamps._UtcHours()
    hours.limit = 50
    monkeypatch.setattr(timestamps, "_utc_hours", hours)
    values = [v for v in _aware_samples(2_000) if v.endswith(("+03:00", "-05:00"))]
    assert len(values) > 200
    for value in values:
        to_utc(value)
        assert len(hours) <= 50
    assert hours, "the fast path used the cache"


def test_the_cached_local_hours_stay_bounded():
    zone = parse_zone("America/Chicago")
    convert = NaiveToUtc(zone)
    convert.limit = 50
    moment = datetime(2024, 1, 1)
    for _ in range(2_000):
        moment += timedelta(minutes=97)
        value = moment.strftime("%Y-%m-%d %H:%M:%S")
        record = {"t": value}
        convert.convert_fields(record, ("t",))
        assert record["t"] == to_utc(value, zone)
        assert len(convert._hours) <= 50
    assert convert._hours, "the fast path used the cache"


@pytest.mark.parametrize(
    ("value", "zone"),
    [
        ("0001-01-01T01:00:00+03:00", "UTC"),  # UTC falls before the year 1
        ("9999-12-31T23:00:00-03:00", "UTC"),  # and after 9999
        ("0001-01-01 00:00:00", "UTC+7"),
        ("9999-12-31 23:00:00", "America/Chicago"),
        ("2024-01-01T10:11:12+24:00", "UTC"),  # an offset of a whole day
    ],
)
def test_a_timestamp_beyond_utc_range_is_one_clear_error(value, zone):
    convert = NaiveToUtc(parse_zone(zone))
    with pytest.raises(UnreadableValue) as caught:
        convert.convert_fields({"closedAt": value}, ("closedAt",))
    assert caught.value.field == "closedAt"
    assert value in str(caught.value)
    with pytest.raises(UnreadableValue):
        to_utc(value, parse_zone(zone), "closedAt")


# -- values: timestamps ------------------------------------------------------------------


def test_zero_dates_become_none_and_are_counted_by_field():
    zero_dates.clear()
    convert = NaiveToUtc(parse_zone("Europe/Berlin"))
    record = {"a": "0000-00-00 00:00:00", "b": "0000-00-00", "c": "2024-05-12 09:00:00"}
    convert.convert_fields(record, ("a", "b", "c"))
    assert record == {"a": None, "b": None, "c": "2024-05-12T07:00:00+00:00"}
    assert to_utc("0000-00-00T00:00:00") is None
    assert dict(zero_dates) == {"a": 1, "b": 1, "": 1}
    zero_dates.clear()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1709280000, "2024-03-01T08:00:00+00:00"),
        (1709280000.5, "2024-03-01T08:00:00.500000+00:00"),
        ("1709280000", "2024-03-01T08:00:00+00:00"),
        (1709280000123, "2024-03-01T08:00:00.123000+00:00"),
        ("1709280000123", "2024-03-01T08:00:00.123000+00:00"),
        ("20240301", "2024-03-01T00:00:00+00:00"),  # eight digits: an ISO basic date
    ],
)
def test_epoch_seconds_and_milliseconds_become_utc(value, expected):
    assert to_utc(value) == expected
    record = {"t": value}
    NaiveToUtc(parse_zone("UTC+7")).convert_fields(record, ("t",))
    expected_local = expected if value != "20240301" else "2024-02-29T17:00:00+00:00"
    assert record == {"t": expected_local}


@pytest.mark.parametrize(
    "value",
    [
        "yesterday",
        "2024-13-45 10:00:00",
        True,
        [1],
        10**20,
        # not ISO 8601: read by no guess (01/03 is 1 March in Berlin, 3 January in Chicago)
        "01/03/2024",
        "March 1 2024",
        "2024-03-01 08:00:00 PM",
    ],
)
def test_an_unreadable_timestamp_names_its_field_and_value(value):
    convert = NaiveToUtc(parse_zone("UTC"))
    with pytest.raises(UnreadableValue) as caught:
        convert.convert_fields({"closedAt": value}, ("closedAt",))
    assert caught.value.field == "closedAt"
    assert caught.value.value == value
    assert repr(value)[:40] in str(caught.value)


# -- values: schema types ----------------------------------------------------------------

SCHEMA = {
    "properties": {
        "id": {"type": "integer"},
        "count": {"type": ["integer", "null"]},
        "score": {"type": ["number", "null"]},
        "open": {"type": ["boolean", "null"]},
        "name": {"type": ["string", "null"]},
        "anything": {},
        "owner": {"type": ["object", "null"], "properties": {"id": {"type": "integer"}}},
        "tags": {"type": ["array", "null"], "items": {"type": "integer"}},
        "rows": {
            "type": "array",
            "items": {"type": "object", "properties": {"n": {"type": "integer"}}},
        },
    }
}


def test_lossless_casts_fit_the_schema_and_other_values_are_untouched():
    cast = RecordCaster(SCHEMA)
    record = {
        "id": "4484636",
        "count": 3.0,
        "score": "1.5",
        "open": "true",
        "name": 7,
        "anything": "x",
        "owner": {"id": " 42 "},
        "tags": ["1", 2],
        "rows": [{"n": "5"}],
        "extra": "kept",
    }
    assert cast(record) == {
        "id": 4484636,
        "count": 3,
        "score": 1.5,
        "open": True,
        "name": "7",
        "anything": "x",
        "owner": {"id": 42},
        "tags": [1, 2],
        "rows": [{"n": 5}],
        "extra": "kept",
    }
    typed = {"id": 1, "count": None, "score": 2, "open": False, "name": "n", "tags": None}
    assert cast(dict(typed)) == typed
    assert cast({}) == {}  # absent fields are not made up
    validator, fast = _validator(json.dumps(SCHEMA, sort_keys=True))
    assert validator.is_valid(record)
    assert fast is not None
    assert fast(record)


@pytest.mark.parametrize(
    ("record", "field", "value"),
    [
        ({"id": "12a"}, "id", "12a"),
        ({"id": 1.5}, "id", 1.5),
        ({"id": True}, "id", True),
        ({"id": None}, "id", None),
        ({"count": "NaN"}, "count", "NaN"),
        ({"score": "inf"}, "score", "inf"),
        ({"open": "maybe"}, "open", "maybe"),
        ({"name": 1.5}, "name", 1.5),
        ({"owner": {"id": "x"}}, "owner.id", "x"),
        ({"owner": "someone"}, "owner", "someone"),
        ({"rows": [{"n": "five"}]}, "rows.n", "five"),
    ],
)
def test_a_cast_that_would_lose_something_names_the_field(record, field, value):
    with pytest.raises(UnreadableValue) as caught:
        RecordCaster(SCHEMA)(record)
    assert caught.value.field == field
    assert caught.value.value == value
    line = str(record_error("Enneo", "enneo_tickets", {"id": 9}, ("id",), caught.value))
    assert line.startswith(f"Enneo: enneo_tickets record id=9: field {field!r} holds ")


def test_the_fast_record_check_agrees_with_jsonschema_on_every_stream_schema():
    rng = random.Random(11)
    odd: list[t.Any] = [
        None,
        "",
        "x",
        "2024-05-12T02:00:00+00:00",
        "2024-05-12 09:00:00",
        0,
        -3,
        1.5,
        2.0,
    ]
    odd += [True, {}, {"a": 1}, [], [1, "a"], "12"]
    names = ["enneo_tickets", "teamwork_desk_tickets", "proprofs_tickets", "filum_tickets"]
    names += ["socialboards_tickets", "proprofs_ticket_messages", "teamwork_desk_users"]
    disagreements = []
    for name in names:
        schema = load_schema(name)
        validator, fast = _validator(json.dumps(schema, sort_keys=True))
        assert fast is not None, f"{name}: the fast check does not cover this schema"
        fields = list(schema["properties"])
        for _ in range(400):
            record = {f: rng.choice(odd) for f in rng.sample(fields, k=min(6, len(fields)))}
            if fast(record) != validator.is_valid(record):
                disagreements.append((name, record))
    assert not disagreements, disagreements[:3]


def _outcome(check: t.Callable[[dict[str, t.Any]], object], record: dict[str, t.Any]) -> t.Any:
    """What a check makes of a record: the record after it, or the field and value it names."""
    try:
        check(record)
    except UnreadableValue as problem:
        return ("error", problem.field, repr(problem.value), str(problem))
    return ("cast", json.dumps(record, sort_keys=True, default=repr))


def test_the_compiled_record_check_does_what_the_plain_loop_does_on_every_schema():
    # RecordCaster runs compile_checks (one function written out per schema); `apply` is the
    # loop it unrolls. Same casts, same errors (field and value), on odd values at random.
    rng = random.Random(5)
    odd: list[t.Any] = [None, "", "x", "12", " 7 ", "1.5", "true", "0", 0, 1, -3, 1.5, 2.0]
    odd += [True, False, {}, {"a": "1"}, [], [1, "a"], ["2"], [{"n": "3"}], 10**20]
    names = ["enneo_tickets", "enneo_reporting_tickets", "teamwork_desk_tickets"]
    names += ["proprofs_tickets", "filum_tickets", "socialboards_tickets"]
    names += ["proprofs_ticket_messages", "teamwork_desk_users", "teamwork_desk_messages"]
    schemas = [load_schema(name) for name in names] + [SCHEMA]
    compared = errors = 0
    for schema in schemas:
        entries = plan(schema["properties"])
        check = compile_checks(entries)
        reference = functools.partial(apply, entries)
        fields = [*schema["properties"], "extra"]
        for _ in range(300):
            size = min(rng.choice([1, 2, 8]), len(fields))
            record = {f: rng.choice(odd) for f in rng.sample(fields, k=size)}
            plain = _outcome(reference, json.loads(json.dumps(record)))
            compiled = _outcome(check, json.loads(json.dumps(record)))
            assert compiled == plain, (schema.get("description"), record)
            compared += 1
            errors += plain[0] == "error"
    assert errors > compared // 10, "the odd values reach the error paths"
    assert errors < compared - compared // 10, "and the cast paths"


_TYPED_VALUES: dict[str, list[t.Any]] = {
    "string": ["x", "2024-05-12T02:00:00+00:00"],
    "integer": [0, 7],
    "number": [1.5, 3],
    "boolean": [True, False],
    "null": [None],
}
_ODD_VALUES: list[t.Any] = ["12", " 7 ", "x", "true", 1, 1.5, True, None, {}, [], ["2"], 10**20]


def _value_for(schema: dict[str, t.Any], rng: random.Random, depth: int = 0) -> t.Any:
    """A value for a schema: of its type, nested objects and arrays filled in the same way,
    and now and then (one in eight) an odd value instead, at any depth."""
    if rng.random() < 0.125:
        return rng.choice(_ODD_VALUES)
    declared = schema.get("type", [])
    kinds = [declared] if isinstance(declared, str) else list(declared)
    kind = rng.choice(kinds or ["string"])
    if kind == "object" and depth < 4:
        properties = schema.get("properties") or {}
        return {name: _value_for(sub, rng, depth + 1) for name, sub in properties.items()}
    if kind == "array" and depth < 4 and isinstance(schema.get("items"), dict):
        return [_value_for(schema["items"], rng, depth + 1) for _ in range(rng.choice([0, 1, 3]))]
    return rng.choice(_TYPED_VALUES.get(kind, [None]))


def test_the_compiled_check_tests_nested_values_inline_as_the_plain_loop_casts_them():
    # Nested objects and arrays are tested inline by the compiled check, which calls out to
    # the plain loop only for a container holding a value to cast. Records built from each
    # schema (well-typed at every depth, with an odd value here and there): same casts, same
    # errors; and a record typed all the way down is left as it is.
    rng = random.Random(17)
    names = ["enneo_tickets", "enneo_reporting_tickets", "teamwork_desk_tickets"]
    names += ["proprofs_tickets", "socialboards_tickets", "teamwork_desk_messages"]
    schemas = [load_schema(name) for name in names] + [SCHEMA]
    outcomes = {"unchanged": 0, "cast": 0, "error": 0}
    nested_cast = 0
    for schema in schemas:
        entries = plan(schema["properties"])
        check = compile_checks(entries)
        reference = functools.partial(apply, entries)
        containers = [
            name
            for name, sub in schema["properties"].items()
            if "properties" in sub or isinstance(sub.get("items"), dict)
        ]
        assert containers or schema is not SCHEMA
        for _ in range(400):
            record = {name: _value_for(sub, rng) for name, sub in schema["properties"].items()}
            before = json.dumps(record, sort_keys=True, default=repr)
            plain = _outcome(reference, json.loads(before))
            compiled = _outcome(check, json.loads(before))
            assert compiled == plain, (schema.get("description"), record)
            kind = "error" if plain[0] == "error" else "cast" if plain[1] != before else "unchanged"
            outcomes[kind] += 1
            if kind == "cast":
                after = json.loads(plain[1])
                nested_cast += any(
                    json.dumps(after[n]) != json.dumps(record[n]) for n in containers
                )
    assert min(outcomes.values()) > 100, outcomes  # every path is reached
    assert nested_cast > 20, "values cast inside nested objects and arrays"


# -- settings and state ------------------------------------------------------------------


def test_numeric_settings_out_of_range_are_named_once_each():
    settings = {"request_timeout": 0, "max_retries": 101, "lookback_days": 1, "x": -1}
    assert range_problems(settings) == [
        "request_timeout: must be more than 0 and at most 3600, got 0",
        "max_retries: must be at least 0 and at most 100, got 101",
    ]
    assert range_problems({"requests_per_minute": None, "requests_per_second": 0.5}) == []
    assert range_problems({"lookback_days": float("nan")}) == [
        "lookback_days: must be at least 0 and at most 3650, got nan"
    ]


def test_unknown_setting_names_get_the_closest_known_one():
    blocks = {"enneo": ["api_token", "api_url", "timezone"], "filum": ["api_token"]}
    config = {
        "start_dat": "x",
        "start_date": "x",
        "enneo": {"time_zone": "UTC", "api_token": "t"},
        "enneo.api_tokn": "t",
        "qqq": 1,
    }
    assert unknown_settings(config, ["start_date", "enneo", "filum"], blocks) == [
        "unknown setting 'start_dat' is ignored; did you mean 'start_date'?",
        "unknown setting 'enneo.api_tokn' is ignored; did you mean 'enneo.api_token'?",
        "unknown setting 'qqq' is ignored; see tap-helpdesk --about",
        "unknown setting 'enneo.time_zone' is ignored; did you mean 'enneo.timezone'?",
    ]


def test_a_good_state_passes_and_each_bad_one_is_named():
    keys: dict[str, tuple[str | None, ...]] = {"enneo_tickets": ("modifiedAt",)}
    good = {"replication_key": "modifiedAt", "replication_key_value": "2024-01-01 10:00:00"}
    assert state_problem({}, keys) is None
    assert state_problem({"bookmarks": {"enneo_tickets": good, "other": 5}}, keys) is None
    assert state_problem({"bookmarks": {"enneo_tickets": {"partitions": [good]}}}, keys) is None
    epoch = {**good, "replication_key_value": 1709280000}
    assert state_problem({"bookmarks": {"enneo_tickets": epoch}}, keys) is None
    zero = {**good, "replication_key_value": "0000-00-00 00:00:00"}
    assert state_problem({"bookmarks": {"enneo_tickets": zero}}, keys) == (
        "enneo_tickets: the bookmark '0000-00-00 00:00:00' is not a timestamp"
    )
    assert state_problem("x", keys) == "the state is a string, not a JSON object"
    other = {"bookmarks": {"f": {**good, "replication_key": "updated_at"}}}
    assert state_problem(other, {"f": ("created_at", "updated_at")}) is None
    assert state_problem(other, {"f": ("created_at",)}) == (
        "f: the bookmark is on 'updated_at', but the stream's replication key is 'created_at'"
    )
    bad_parts: dict[str, t.Any] = {"bookmarks": {"enneo_tickets": {"partitions": {}}}}
    assert state_problem(bad_parts, keys) == (
        "enneo_tickets: its 'partitions' is not a list of objects"
    )


# -- redaction and stopping ----------------------------------------------------------------


def test_tracebacks_in_log_records_and_on_their_own_are_redacted(caplog):
    register_secret("tb-s3cr3t-value-123")
    logger = logging.getLogger("tap-helpdesk.test")
    try:
        raise RuntimeError("failed with tb-s3cr3t-value-123")
    except RuntimeError as exc:
        with caplog.at_level(logging.INFO):
            logger.error("boom", exc_info=True)
        text = redacted_traceback(exc)
    assert "Traceback (most recent call last)" in text
    assert "tb-s3cr3t-value-123" not in text
    assert MASK in text
    formatted = logging.Formatter().format(caplog.records[-1])
    assert "RuntimeError: failed with ****" in formatted
    assert "tb-s3cr3t-value-123" not in formatted


def test_a_stop_during_a_write_waits_for_the_write_and_the_last_state_is_written_again(
    monkeypatch,
):
    out = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(out))
    writer = StoppableWriter()
    writer.write_record("s", {"id": 1}, None)
    state = {"bookmarks": {"s": {"replication_key_value": "a"}}}
    writer.held = 15  # a signal that landed while the writer was writing
    with pytest.raises(Stopped):
        writer.write_message(StateMessage(value=state))  # raised once the bytes are out
    assert out.getvalue().decode().count("\n") == 2
    state["bookmarks"]["s"]["replication_key_value"] = "b"  # the live state moves on
    writer.write_record("s", {"id": 2}, None)
    writer._pending = writer._pending[:-1]  # a signal between a record and its newline
    writer.close_stopped()
    lines = out.getvalue().decode().splitlines()
    assert [json.loads(line)["type"] for line in lines] == ["RECORD", "STATE", "RECORD", "STATE"]
    assert json.loads(lines[-1])["value"]["bookmarks"]["s"]["replication_key_value"] == "a"


def test_a_request_in_flight_longer_than_the_window_keeps_counting():
    """5 a second: five requests sent and answered 2.5 s later (a slow export) fill the
    second after their answers too; the sixth waits until then, not one second from the sends."""
    clock = FakeClock()
    answered_at = clock.now + 2.5
    slow: list[t.Any] = []

    def sleep(seconds: float) -> None:  # the answers arrive while the sixth waits
        clock.sleep(seconds)
        if clock.now >= answered_at and not slow[0].answered:
            for entry in slow:
                budget.done(entry)

    budget = RequestBudget(5, None, clock=clock, sleep=sleep)
    slow += [budget.acquire() for _ in range(5)]
    budget.acquire()
    assert clock.now >= answered_at + 1.0
    assert clock.now < answered_at + 1.0 + 0.1


def test_answers_behind_a_request_still_in_flight_leave_the_window_on_time():
    """The log is trimmed from its oldest send; answered requests sent after one still in
    flight leave the window when it passes after their answers all the same."""
    clock = FakeClock()
    budget = RequestBudget(3, None, clock=clock, sleep=clock.sleep)
    slow = budget.acquire()  # in flight throughout
    quick = [budget.acquire(), budget.acquire()]
    clock.now += 0.1
    for entry in quick:
        budget.done(entry)
    clock.now += 1.05  # the quick answers are out of the second, the slow request is not
    start = clock.now
    since = [budget.acquire(), budget.acquire()]
    assert clock.now == start, "two of three left the window: two more need not wait"
    for entry in since:
        budget.done(entry)
    budget.acquire()
    assert clock.now == pytest.approx(start + 1.0), "the slow request and the two since fill it"
    assert not slow.answered


def test_a_request_waiting_for_room_lets_answers_in_flight_be_logged():
    """The waiting request sleeps outside the lock: an answer arriving meanwhile is logged
    at once (holding the lock, it waited out the sleep and its connection's deadline)."""
    released = threading.Event()
    budget = RequestBudget(1, None, sleep=lambda _seconds: released.wait(10))
    first = budget.acquire()
    waiter = threading.Thread(target=budget.acquire)
    waiter.start()
    try:
        time.sleep(0.1)  # the waiter is asleep, the window full
        answer = threading.Thread(target=budget.done, args=(first,))
        answer.start()
        answer.join(timeout=2)
        assert not answer.is_alive(), "done() waited for the sleeping request"
        assert first.answered
    finally:
        released.set()
        waiter.join(timeout=10)


def _wait_for(condition: t.Callable[[], bool], seconds: float = 5.0) -> bool:
    end = time.monotonic() + seconds
    while not condition() and time.monotonic() < end:
        time.sleep(0.005)
    return condition()


def test_a_deadline_earlier_than_the_watchdogs_wake_up_expires_on_time():
    watchdog = _Watchdog()
    late, early = Deadline(60), Deadline(0.1)
    watchdog.add(time.monotonic() + 60, late)
    assert _wait_for(lambda: watchdog._waking_at < float("inf"))  # it waits for `late`
    started = time.monotonic()
    watchdog.add(started + 0.1, early)
    assert _wait_for(lambda: early.expired), "a deadline before the watchdog's wake-up was missed"
    assert time.monotonic() - started < 2.0
    assert not late.expired


def test_one_request_after_another_does_not_wake_the_deadline_watchdog_each_time(monkeypatch):
    # Waking a thread for every request cost more CPU than the rest of a deadline's work
    # (docs/performance.md); deadlines added in time order need no wake-up.
    watchdog = _Watchdog()
    wakes: list[int] = []
    notify = watchdog._wake.notify
    monkeypatch.setattr(watchdog._wake, "notify", lambda n=1: (wakes.append(n), notify(n)))
    first = Deadline(120)
    watchdog.add(time.monotonic() + 120, first)
    assert _wait_for(lambda: watchdog._waking_at < float("inf"))
    first.cancel()
    for _ in range(200):
        deadline = Deadline(120)
        watchdog.add(time.monotonic() + 120, deadline)
        deadline.cancel()
    assert wakes == []
    early = Deadline(0.05)
    watchdog.add(time.monotonic() + 0.05, early)  # earlier than its wake-up: woken
    assert _wait_for(lambda: early.expired)
    assert len(wakes) == 1


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/api/tickets",
        "http://127.0.0.1:9/api/tickets?page=2&per_page=100",
        "http://127.0.0.1:9/api/tickets?view=&page=2&sort=a&sort=b",
        "http://127.0.0.1:9/api/tickets?q=a%20b%2Fc",
    ],
)
def test_authenticators_add_their_headers_and_send_the_url_as_built(url: str) -> None:
    def prepared() -> requests.PreparedRequest:
        return requests.Request("GET", url, headers={"Accept": "application/json"}).prepare()

    ours, sdks = BearerToken(token="t-1"), BearerTokenAuthenticator(token="t-1")
    got, expected = ours(prepared()), sdks(prepared())
    assert dict(got.headers) == dict(expected.headers)
    assert got.headers["Authorization"] == "Bearer t-1"
    assert got.url == prepared().url  # the SDK's re-encodes it: blank values dropped
    assert NoCredentials()(prepared()).url == prepared().url
    assert dict(NoCredentials()(prepared()).headers) == dict(prepared().headers)
    # a parameter to add: the SDK's own code adds it
    ours.auth_params["key"], sdks.auth_params["key"] = "k", "k"
    assert ours(prepared()).url == sdks(prepared()).url
    assert "key=k" in str(ours(prepared()).url)


# -- values: lone surrogates -------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected", "count"),
    [
        (b'[{"s": "a\\ud800b"}]', [{"s": "a\ufffdb"}], 1),  # a lone high half
        (
            b'{"s": "\\uDC00", "\\ud83d": ["\\ud83d\\ude00"]}',
            {"s": "\ufffd", "\ufffd": ["\U0001f600"]},
            2,
        ),
        (
            b'["\\ud83d\\ude00 \\ude00\\ud83d"]',
            ["\U0001f600 \ufffd\ufffd"],
            2,
        ),  # halves out of order
    ],
)
def test_json_with_lone_surrogates_is_read_with_replacement_characters(body, expected, count):
    surrogates.replaced.clear()
    with pytest.raises(msgspec.DecodeError):
        msgspec.json.decode(body)  # what the tap's decoder says of it
    assert surrogates.decode_replacing(body, "Enneo") == (True, expected)
    assert surrogates.replaced == {"Enneo": count}
    assert "were read as U+FFFD: Enneo" in (surrogates.replaced_warning() or "")
    surrogates.replaced.clear()
    assert surrogates.replaced_warning() is None


@pytest.mark.parametrize(
    "body",
    [
        b'["no escape at all", ',  # malformed, without a surrogate: not this reading's
        b'["\\ud800", NaN]',  # NaN and Infinity are not JSON
        b'["\\ud800", 1e400]',  # out of range, as msgspec says
        b'["\\ud800", ' + b"[" * 5000 + b"]" * 5000 + b"]",
        b'["\\ud800"',  # cut off
        b'["\\ud800", "\xff"]',  # not UTF-8
    ],
)
def test_json_that_is_wrong_in_another_way_is_left_to_the_callers_error_line(body):
    surrogates.replaced.clear()
    assert surrogates.decode_replacing(body, "Enneo") == (False, None)
    assert not surrogates.replaced
