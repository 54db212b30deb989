"""Hostile answers to the keyset walk (Enneo, Teamwork Desk): every record, or one line.

Each server below emulates the provider's list, filtered and ordered as the tap asks,
and misbehaves in one way. Most Enneo servers here lack the `<=` filter: they are asked one
request at a time (max_concurrent_requests 1, where the walk sends none); at Enneo's default
width the walk bounds its sub-ranges with `<=`, so the same misbehaviours are also played by
a server that honours it (`upper=True`), and a server ignoring it stops the run.
"""

from __future__ import annotations

import json
import typing as t
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from tests.hostile.server import (
    HostileServer,
    Reply,
    Seen,
    assert_clear_failure,
    json_reply,
    run_bounded,
)

ENNEO_TOKEN = "enneo-hostile-token-0123456789"
TEAMWORK_KEY = "tkn.v1_hostile-teamwork-key-0123456789"
T0 = datetime(2024, 3, 1, 8, 0, 0)


def rows(count: int, *, ties: int = 1) -> list[dict[str, t.Any]]:
    """`count` tickets, `ties` of them per modification second, ascending."""
    return [
        {"id": n + 1, "modifiedAt": (T0 + timedelta(seconds=n // ties)).isoformat(" ")}
        for n in range(count)
    ]


def enneo_config(url: str, *, width: int | None = None, **top: t.Any) -> dict[str, t.Any]:
    """Settings for a hostile Enneo; `width`: max_concurrent_requests (None: the default)."""
    config = {
        "start_date": "2024-01-01T00:00:00Z",
        "max_retries": 1,
        "backoff_base_seconds": 0.01,
        "request_timeout": 5,
        "enneo": {
            "api_token": ENNEO_TOKEN,
            "api_url": url,
            "requests_per_second": 1000,
            "requests_per_minute": 60000,
        },
        **top,
    }
    if width is not None:
        config["enneo"]["max_concurrent_requests"] = width
    return config


def upper_bound(seen: Seen) -> str | None:
    """The `<=` value the tap asked with (filters[1], after the cursor's `>=`), if any."""
    for index in range(3):
        if seen.arg(f"filters[{index}][comparator]") == "<=":
            return seen.arg(f"filters[{index}][value]")
    return None


def enneo_page(
    data: list[dict[str, t.Any]], seen: Seen, *, serve: int | None = None, upper: bool = False
) -> list[dict[str, t.Any]]:
    """The export as the tap asks for it: modifiedAt >= value, offset, limit.

    `upper`: the `<=` filter is honoured too (else ignored, as a server lacking it would).
    """
    low = seen.arg("filters[0][value]") or ""
    high = upper_bound(seen) if upper else None
    offset = int(seen.arg("offset") or 0)
    limit = int(seen.arg("limit") or 100)
    matching = [
        r for r in data if r["modifiedAt"] >= low and (high is None or r["modifiedAt"] <= high)
    ]
    return matching[offset : offset + min(limit, serve or limit)]


def enneo_ids(run: t.Any) -> list[int]:
    return sorted(r["id"] for r in run.records.get("enneo_tickets", []))


def _run_enneo(server: HostileServer, *, width: int | None = None, **top: t.Any) -> t.Any:
    return run_bounded(enneo_config(server.url, width=width, **top))


#: (width, whether the server honours <=): one at a time against a server lacking it, and
#: the default width (sub-ranges) against one that honours it
WIDTHS = [pytest.param(1, False, id="one-at-a-time"), pytest.param(None, True, id="default")]


@pytest.mark.parametrize(("width", "upper"), WIDTHS)
@pytest.mark.parametrize(("count", "serve"), [(300, 7), (2500, 999)])
def test_enneo_server_serving_fewer_rows_than_asked_loses_nothing(
    count: int, serve: int, width: int | None, upper: bool
) -> None:
    data = rows(count)

    def script(seen: Seen) -> Reply:
        return json_reply(enneo_page(data, seen, serve=serve, upper=upper))

    with HostileServer(script) as server:
        run = _run_enneo(server, width=width)
    assert run.returncode == 0, run.stderr[-2000:]
    for stream in ("enneo_tickets", "enneo_reporting_tickets"):
        assert sorted(r["id"] for r in run.records[stream]) == [r["id"] for r in data]
    bookmark = run.final_state["bookmarks"]["enneo_tickets"]
    assert (
        bookmark["replication_key_value"]
        == f"{T0 + timedelta(seconds=count - 1):%Y-%m-%dT%H:%M:%S}+00:00"
    )


@pytest.mark.parametrize(("width", "upper"), WIDTHS)
def test_enneo_one_row_more_than_asked_is_read_not_taken_as_the_end(
    width: int | None, upper: bool
) -> None:
    data = rows(3100)

    def script(seen: Seen) -> Reply:
        low = seen.arg("filters[0][value]") or ""
        high = upper_bound(seen) if upper else None
        offset = int(seen.arg("offset") or 0)
        limit = int(seen.arg("limit") or 100)
        matching = [
            r for r in data if r["modifiedAt"] >= low and (high is None or r["modifiedAt"] <= high)
        ]
        return json_reply(matching[offset : offset + limit + 1])

    with HostileServer(script) as server:
        run = _run_enneo(server, width=width)
    assert run.returncode == 0, run.stderr[-2000:]
    assert enneo_ids(run) == [r["id"] for r in data]


@pytest.mark.parametrize(("width", "upper"), WIDTHS)
def test_enneo_rows_without_modified_at_are_emitted_and_do_not_end_the_walk(
    width: int | None, upper: bool
) -> None:
    data = rows(2200)
    for row in data[500:503]:
        row["modifiedAt"] = None

    def script(seen: Seen) -> Reply:
        low = seen.arg("filters[0][value]") or ""
        high = upper_bound(seen) if upper else None
        offset = int(seen.arg("offset") or 0)
        limit = int(seen.arg("limit") or 100)
        keyed = [
            r
            for r in data
            if r["modifiedAt"] is None
            or (r["modifiedAt"] >= low and (high is None or r["modifiedAt"] <= high))
        ]
        return json_reply(keyed[offset : offset + limit])

    with HostileServer(script) as server:
        run = _run_enneo(server, width=width)
    assert run.returncode == 0, run.stderr[-2000:]
    assert enneo_ids(run) == [r["id"] for r in data]
    assert "rows had no modifiedAt" in run.stderr
    value = run.final_state["bookmarks"]["enneo_tickets"]["replication_key_value"]
    assert value == "2024-03-01T08:36:39+00:00"


@pytest.mark.parametrize("ties", [1000, 600])
def test_enneo_sub_ranges_sharing_a_bound_second_are_not_taken_for_a_repeated_answer(
    ties: int,
) -> None:
    # Sub-ranges meet at a second both include (>= lower, <= upper). When a page of one
    # holds only the rows of that second (offset paging through a tie group that fills
    # pages, or the last second with rows), the next range's first page holds the same
    # rows: an honest answer, which must not stop the run (it did, in CI).
    data = rows(6 * ties, ties=ties)

    def script(seen: Seen) -> Reply:
        return json_reply(enneo_page(data, seen, upper=True))

    with HostileServer(script) as server:
        run = _run_enneo(server, lookback_days=0)
        assert any(upper_bound(seen) for seen in server.seen), "sub-ranges were asked for"
    assert run.returncode == 0, run.stderr[-2000:]
    for stream in ("enneo_tickets", "enneo_reporting_tickets"):
        assert sorted(r["id"] for r in run.records[stream]) == [r["id"] for r in data]


@pytest.mark.parametrize("reads_text", [False, True], ids=["zone-aware", "text"])
def test_enneo_sub_ranges_across_the_hour_dst_skips_lose_nothing(reads_text: bool) -> None:
    # On 2024-03-31 Berlin's clocks jump from 02:00 to 03:00: no row holds 02:xx text. A
    # server reading filter values in its zone (as the sandbox does) takes a bound of
    # 02:05:18 for 03:05:18 and sends rows up to there; one comparing text does not. The
    # walk cut its sub-ranges there at the default width and stopped the benchmark run
    # ("ignores the upper bound"); its bounds are now times that exist in the zone.
    berlin = ZoneInfo("Europe/Berlin")
    start = datetime(2024, 3, 30, 20, 0, tzinfo=timezone.utc)  # 21:00 local the day before
    moments = [start + timedelta(seconds=7 * n) for n in range(6000)]  # to 09:40 local
    data = [
        {"id": n + 1, "modifiedAt": m.astimezone(berlin).strftime("%Y-%m-%d %H:%M:%S")}
        for n, m in enumerate(moments)
    ]

    def moment(text: str) -> datetime:
        return datetime.fromisoformat(text).replace(tzinfo=berlin).astimezone(timezone.utc)

    def script(seen: Seen) -> Reply:
        low, high = seen.arg("filters[0][value]") or "", upper_bound(seen)
        offset, limit = int(seen.arg("offset") or 0), int(seen.arg("limit") or 100)
        if reads_text:
            matching = [
                r
                for r in data
                if r["modifiedAt"] >= low and (high is None or r["modifiedAt"] <= high)
            ]
        else:
            matching = [
                r
                for r, at in zip(data, moments, strict=True)
                if (not low or at >= moment(low)) and (high is None or at <= moment(high))
            ]
        return json_reply(matching[offset : offset + limit])

    with HostileServer(script) as server:
        run = _run_enneo(
            server,
            lookback_days=0,
            enneo={**enneo_config(server.url)["enneo"], "timezone": "Europe/Berlin"},
        )
        bounds = [upper_bound(seen) or "" for seen in server.seen]
    assert run.returncode == 0, run.stderr[-2000:]
    assert any(b.startswith("2024-03-31 0") for b in bounds), "sub-ranges were cut near the gap"
    assert not any(b.startswith("2024-03-31 02:") for b in bounds), bounds
    for stream in ("enneo_tickets", "enneo_reporting_tickets"):
        assert sorted(r["id"] for r in run.records[stream]) == [r["id"] for r in data]


def test_enneo_server_ignoring_the_upper_bound_stops_the_run_and_loses_nothing() -> None:
    # At the default width the walk cuts sub-ranges bounded by <=; a server lacking the
    # filter answers a sub-range with rows past its bound: one line, never exit 0 with a gap
    data = rows(5000)
    with HostileServer(lambda seen: json_reply(enneo_page(data, seen))) as server:
        run = _run_enneo(server, lookback_days=0)
        line = assert_clear_failure(run, "Enneo", "upper bound", secrets=[ENNEO_TOKEN])
        assert "max_concurrent_requests to 1" in line
        assert any(upper_bound(seen) for seen in server.seen), "sub-ranges were asked for"
        # the STATE left is a point a rerun loses nothing from: every row up to its
        # bookmark was emitted, and a rerun one at a time brings the rest
        stream = "enneo_reporting_tickets"  # the first ticket stream in the run's order
        bookmark = datetime.fromisoformat(
            run.final_state["bookmarks"][stream]["replication_key_value"]
        ).replace(tzinfo=None)
        emitted = set(run.ids(stream))
        assert emitted
        assert all(
            r["id"] in emitted for r in data if datetime.fromisoformat(r["modifiedAt"]) <= bookmark
        )
        config = enneo_config(server.url, width=1, lookback_days=0)
        rerun = run_bounded(config, state=run.final_state)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert emitted | set(rerun.ids(stream)) == {r["id"] for r in data}


def test_enneo_server_ignoring_the_filter_is_an_error_not_a_loop() -> None:
    data = rows(1000)  # always the same full page, whatever the cursor
    with HostileServer(lambda seen: json_reply(data)) as server:
        run = _run_enneo(server)
    assert_clear_failure(run, "Enneo", secrets=[ENNEO_TOKEN])
    assert len(server.seen) <= 6


def test_enneo_server_ignoring_the_offset_in_a_tie_group_is_an_error() -> None:
    data = rows(2500, ties=2500)  # one timestamp for every ticket: offset paging

    def script(seen: Seen) -> Reply:
        return json_reply(data[:1000])  # offset ignored

    with HostileServer(script) as server:
        run = _run_enneo(server)
    line = assert_clear_failure(run, "Enneo", secrets=[ENNEO_TOKEN])
    assert "same rows" in line or "second time" in line or "only rows already read" in line


def test_enneo_answer_out_of_order_is_an_error() -> None:
    data = rows(1500)
    data[10], data[600] = data[600], data[10]
    with HostileServer(lambda seen: json_reply(enneo_page(data, seen))) as server:
        run = _run_enneo(server)
    assert_clear_failure(run, "Enneo", "order", secrets=[ENNEO_TOKEN])


def test_a_body_trickling_past_request_timeout_ends_in_one_line() -> None:
    def script(seen: Seen) -> Reply:
        return Reply(200, json.dumps(rows(50)), {"Content-Type": "application/json"}, trickle=0.2)

    with HostileServer(script) as server:
        run = _run_enneo(server, request_timeout=1)
    assert_clear_failure(run, "Enneo", secrets=[ENNEO_TOKEN])
    assert len(server.seen) == 2  # the first attempt and max_retries=1


def test_a_redirect_to_another_host_is_not_followed_with_the_token() -> None:
    with HostileServer(lambda seen: json_reply([])) as elsewhere:

        def script(seen: Seen) -> Reply:
            return Reply(307, b"", {"Location": f"{elsewhere.url}/api/mind/export/ticket"})

        with HostileServer(script) as server:
            run = _run_enneo(server)
        assert elsewhere.seen == []
    assert_clear_failure(run, "Enneo", "307", secrets=[ENNEO_TOKEN])


# -- Teamwork Desk ---------------------------------------------------------------------


def teamwork_config(url: str) -> dict[str, t.Any]:
    return {
        "start_date": "2024-01-01T00:00:00Z",
        "max_retries": 1,
        "backoff_base_seconds": 0.01,
        "request_timeout": 5,
        "teamwork_desk": {"api_key": TEAMWORK_KEY, "api_url": url, "requests_per_minute": 60000},
    }


def teamwork_rows(count: int) -> list[dict[str, t.Any]]:
    return [
        {"id": n + 1, "updatedAt": (T0 + timedelta(seconds=n)).isoformat() + "Z"}
        for n in range(count)
    ]


def teamwork_page(
    data: list[dict[str, t.Any]], seen: Seen, *, serve: int | None = None, extra: int = 0
) -> Reply:
    bounds = json.loads(seen.arg("filter") or "{}").get("updatedAt", {})
    low = bounds.get("$gte", "")
    size = min(int(seen.arg("pageSize") or 50), 100)
    page = int(seen.arg("page") or 1)
    matching = [r for r in data if r["updatedAt"] >= low]
    served = serve or size
    chunk = matching[(page - 1) * served : page * served + extra]
    more = page * served < len(matching)
    return json_reply({"tickets": chunk, "meta": {"page": {"hasMore": more}}})


@pytest.mark.parametrize(("serve", "extra"), [(30, 0), (None, 1)])
def test_teamwork_pages_shorter_or_longer_than_asked_lose_nothing(
    serve: int | None, extra: int
) -> None:
    data = teamwork_rows(450)
    with HostileServer(lambda seen: teamwork_page(data, seen, serve=serve, extra=extra)) as server:
        run = run_bounded(teamwork_config(server.url))
    assert run.returncode == 0, run.stderr[-2000:]
    assert sorted(run.ids("teamwork_desk_tickets")) == [r["id"] for r in data]


def test_teamwork_has_more_with_an_empty_page_is_an_error() -> None:
    def script(seen: Seen) -> Reply:
        return json_reply({"tickets": [], "meta": {"page": {"hasMore": True}}})

    with HostileServer(script) as server:
        run = run_bounded(teamwork_config(server.url))
    assert_clear_failure(run, "Teamwork Desk", "more", secrets=[TEAMWORK_KEY])


def test_teamwork_same_page_for_every_cursor_is_an_error() -> None:
    data = teamwork_rows(100)

    def script(seen: Seen) -> Reply:
        return json_reply({"tickets": data, "meta": {"page": {"hasMore": True}}})

    with HostileServer(script) as server:
        run = run_bounded(teamwork_config(server.url))
    assert_clear_failure(run, "Teamwork Desk", secrets=[TEAMWORK_KEY])
    assert len(server.seen) <= 6


def test_enneo_lone_surrogates_are_counted_once_however_often_their_page_is_parsed() -> None:
    # At the default width a later sub-range's page is peeked at (keys only) before its
    # turn; msgspec refuses a lone surrogate, so such a page is read whole then, and again
    # when its rows go out. The warning counts what the answers held: each answer once.
    data = rows(6000)
    for row in data[::250]:
        row["subject"] = f"cut inside an emoji \ud83d ({row['id']})"
    served = {"halves": 0}

    def script(seen: Seen) -> Reply:
        page = enneo_page(data, seen, upper=True)
        served["halves"] += sum("\ud83d" in row.get("subject", "") for row in page)
        return json_reply(page)

    with HostileServer(script) as server:
        run = _run_enneo(server)
    assert run.returncode == 0, run.stderr[-2000:]
    for stream in ("enneo_tickets", "enneo_reporting_tickets"):
        assert sorted(r["id"] for r in run.records[stream]) == [r["id"] for r in data]
    subjects = [r["subject"] for r in run.records["enneo_tickets"] if r.get("subject")]
    assert len(subjects) == 24
    assert all("\ufffd" in s and "\ud83d" not in s for s in subjects)
    (warning,) = [line for line in run.stderr.splitlines() if "U+FFFD" in line]
    assert f"{served['halves']} lone UTF-16 surrogates" in warning, (served, warning)
    assert f"Enneo ({served['halves']})" in warning
