"""Unit tests of the shared machinery: budget, retries, timestamps, windows, redaction."""

from __future__ import annotations

import logging
import random
import typing as t
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tap_helpdesk.client import seconds_until_reset
from tap_helpdesk.errors import SettingsError
from tap_helpdesk.limits import RequestBudget
from tap_helpdesk.redaction import MASK, redact, register_secret
from tap_helpdesk.timestamps import NaiveToUtc, parse_zone, to_utc
from tap_helpdesk.windows import Window, WindowWalk, halves
from tests.conftest import walk_leaves


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
