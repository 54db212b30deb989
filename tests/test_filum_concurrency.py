"""Filum CX with several exports in flight: windows planned ahead, answers peeked at.

Against the sandbox with latency (export_latency, jitter: answers come back out of order)
the records are those of one at a time, a capped window is split while later windows are
in flight, a killed run resumes without a gap, tickets changed mid-sync are not lost,
faults cost retries, not tickets, and the budget holds. Without a server: what `peek`
takes in and what it leaves for the answer's turn.
"""

from __future__ import annotations

import csv
import io
import itertools
import typing as t
from datetime import date, datetime, timedelta

import pytest
import requests

from sandbox.filum import ZONE
from tap_helpdesk.providers.filum import COLUMNS, FilumWalk
from tap_helpdesk.providers.filum.decoding import ExportDecoder
from tap_helpdesk.windows import Window
from tests.conftest import tap_config
from tests.tap_runner import run_tap, run_tap_until

if t.TYPE_CHECKING:
    from sandbox.filum import FilumAPI
    from sandbox.server import Sandbox

STREAM = "filum_tickets"
#: the last second of 2024 in UTC+7
END_OF_2024 = "2024-12-31T16:59:59Z"
#: answers that take time, and come back out of order
LATENCY = {"latency": 0.02, "latency_jitter": 0.05, "export_latency": 0.15}


def filum(sandbox: Sandbox) -> FilumAPI:
    return t.cast("FilumAPI", sandbox.apis["filum"])


def config_at(sandbox: Sandbox, width: int, **top: t.Any) -> dict[str, t.Any]:
    config = tap_config(sandbox, "filum", **{"end_date": END_OF_2024, **top})
    config["filum"]["max_concurrent_requests"] = width
    return config


def ids(run: t.Any) -> list[int]:
    return [record["ticket_id"] for record in run.records.get(STREAM, [])]


def bookmarks(run: t.Any) -> list[str]:
    marks = [s.get("bookmarks", {}).get(STREAM, {}) for s in run.states]
    return [m["replication_key_value"] for m in marks if m.get("replication_key_value")]


def final_bookmark(run: t.Any) -> str:
    return str(run.final_state["bookmarks"][STREAM]["replication_key_value"])


def versions(run: t.Any) -> dict[tuple[int, str], dict[str, t.Any]]:
    return {(r["ticket_id"], r["updated_at"]): r for r in run.records[STREAM]}


# -- against the sandbox -----------------------------------------------------------------


def test_width_4_gives_the_records_of_one_at_a_time_and_splits_in_flight(make_sandbox):
    """20,000 tickets (6,200 on 2024-11-11, a capped window) and a second busy day in June:
    the same records and bookmarks at 1 and 4 in flight; at 4, parts of a capped window
    are asked for after later windows were sent."""
    sandbox = make_sandbox("filum", sizes={"filum": 20_000}, **LATENCY)
    api = filum(sandbox)
    api.add_burst(date(2024, 6, 20), 5200)
    runs, orders = {}, {}
    for width in (1, 4):
        sandbox.reset_stats()
        api.exports.clear()
        run = run_tap(config_at(sandbox, width))
        assert run.returncode == 0, run.stderr[-2000:]
        stats = sandbox.stats()
        assert not any(k.endswith(":429") for k in stats["statuses"]), stats["statuses"]
        assert stats["peak_in_flight"] == 1 if width == 1 else stats["peak_in_flight"] >= 3
        marks = bookmarks(run)
        assert marks == sorted(marks), "a bookmark moved back"
        runs[width], orders[width] = run, [(e.start, e.end, e.statuses) for e in api.exports]
    assert sorted(ids(runs[4])) == sorted(ids(runs[1])) == sorted(api.tickets)
    assert versions(runs[4]) == versions(runs[1])
    assert final_bookmark(runs[4]) == final_bookmark(runs[1])
    # one at a time, a capped window's parts come right after it, in time order
    starts = [start for start, _end, _statuses in orders[1]]
    assert starts == sorted(starts)
    # at 4, some part of a split window went out after a window later than it
    late_parts = [
        later
        for number, (start, _end, _s) in enumerate(orders[4])
        for later in orders[4][number + 1 :]
        if later[0] < start
    ]
    assert late_parts, f"no window was split while later ones were in flight: {orders[4]}"
    assert len(orders[4]) <= len(orders[1]) + 6, "planning ahead costs a few splits at most"


def test_a_run_killed_at_width_4_resumes_without_a_gap(make_sandbox):
    sandbox = make_sandbox("filum", sizes={"filum": 20_000}, **LATENCY)
    config = config_at(sandbox, 4)
    killed = run_tap_until(config, stop_after_states=4)
    assert killed.returncode != 0
    seen = set(ids(killed))
    assert 0 < len(seen) < 20_000
    marks = bookmarks(killed)
    assert marks, "a STATE was written before the kill"
    assert marks == sorted(marks)
    resumed = run_tap(config, state=killed.final_state)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert len(ids(resumed)) < 20_000, "the resumed run does not start over"
    assert seen | set(ids(resumed)) == set(sandbox.truth()[STREAM]["ids"])
    assert min(bookmarks(resumed)) >= marks[-1], "never back"


@pytest.mark.parametrize("filter_field", ["created", "updated"])
def test_tickets_changed_mid_sync_at_width_4_are_not_lost(make_sandbox, filter_field):
    """A ticket created, changed or deleted with every request: none is lost; changed ones
    arrive in their new form, or the next run (from the final STATE) meets them."""
    sandbox = make_sandbox("filum", sizes={"filum": 3000}, mutate_every=1, **LATENCY)
    api = filum(sandbox)
    api.filter_field = filter_field
    before = set(api.tickets)
    config = tap_config(sandbox, "filum", start_date="2024-01-01T00:00:00Z")
    config["filum"]["max_concurrent_requests"] = 4
    run = run_tap(config)
    assert run.returncode == 0, run.stderr[-2000:]
    assert sandbox.stats()["peak_in_flight"] >= 2
    assert f"the export range applies to {filter_field}_at" in run.stderr
    assert not before - set(ids(run)), "a ticket was skipped"
    emitted = [(r["ticket_id"], r["updated_at"]) for r in run.records[STREAM]]
    assert len(emitted) == len(set(emitted)), "no ticket version is emitted twice"
    marks = bookmarks(run)
    assert marks == sorted(marks), "a bookmark moved back"
    if filter_field == "updated":
        latest = {r["ticket_id"]: r["updated_at"] for r in run.records[STREAM]}
        final = final_bookmark(run)
        now = {i: api.utc(i, "updated") for i in before}
        stale = [i for i in before if latest[i] != now[i] and now[i] < final]
        assert not stale, "a change before the final bookmark was not read in its new form"
        sandbox.configure(mutate_every=0)
        rerun = run_tap(config, state=run.final_state)
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        latest.update({r["ticket_id"]: r["updated_at"] for r in rerun.records[STREAM]})
        assert all(latest[i] == api.utc(i, "updated") for i in api.tickets)


def test_faults_with_several_in_flight_still_give_every_ticket(make_sandbox):
    """429s, 5xx, HTML 502s and dropped connections, with exports out of order."""
    sandbox = make_sandbox("filum", sizes={"filum": 20_000}, fault_rate=0.25, seed=11, **LATENCY)
    run = run_tap(config_at(sandbox, 4, max_retries=8))
    assert run.returncode == 0, run.stderr[-2000:]
    assert sorted(set(ids(run))) == sandbox.truth()[STREAM]["ids"]
    assert len(ids(run)) == len(set(ids(run))), "each ticket once"
    faults = {k: v for k, v in sandbox.stats()["statuses"].items() if "fault" in k}
    assert sum(faults.values()) >= 4, f"faults were injected: {faults}"
    assert len(faults) >= 2, f"of several kinds: {faults}"
    assert any("drop" in kind for kind in faults), f"connections dropped: {faults}"
    assert sandbox.stats()["peak_in_flight"] >= 2
    marks = bookmarks(run)
    assert marks == sorted(marks)


def test_the_budget_holds_with_several_in_flight(make_sandbox):
    """Default rate settings (5/s, 50/min) at 4 in flight, answers quick enough for 5 a
    second to bind: no 429, never more than 5 in a second."""
    sandbox = make_sandbox("filum", sizes={"filum": 20_000}, latency=0.01, export_latency=0.05)
    api = filum(sandbox)
    for month in range(1, 13):  # busy days: many windows and parts
        api.add_burst(date(2024, month, 10), 3000)
    run = run_tap(config_at(sandbox, 4))
    assert run.returncode == 0, run.stderr[-2000:]
    stats = sandbox.stats()
    assert stats["requests"]["filum"] >= 15, "enough requests for 5 a second to bind"
    assert not any(k.endswith(":429") for k in stats["statuses"]), stats["statuses"]
    assert stats["peak_per_second"]["filum"] <= 5
    assert stats["peak_in_flight"] >= 2
    assert sorted(ids(run)) == sorted(api.tickets)


# -- peek, without a server -----------------------------------------------------------------


def tsv_answer(rows: list[tuple[int, datetime, datetime]]) -> requests.Response:
    """An export of (ticket_id, created, updated) rows, as a streamed response."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\r\n")
    writer.writerow(list(COLUMNS))
    for ticket_id, created, updated in rows:
        row = dict.fromkeys(COLUMNS, "")
        row.update(
            {
                "Ticket ID": str(ticket_id),
                "Created at": created.isoformat(" "),
                "Updated at": updated.isoformat(" "),
                "Status": "open",
                "Priority": "high",
            }
        )
        writer.writerow(list(row.values()))
    answer = requests.Response()
    answer.status_code = 200
    answer.headers["Content-Type"] = "text/csv; charset=utf-16le"
    answer.raw = io.BytesIO(b"\xff\xfe" + buffer.getvalue().encode("utf-16-le"))
    answer.url = "https://api.filum.ai/external/tickets/export"
    return answer


def tickets_of(window: Window[date], per_day: int, first_id: int) -> list[t.Any]:
    rows = []
    day = window.start
    while day <= window.end:
        for n in range(per_day):
            created = datetime.combine(day, datetime.min.time()) + timedelta(minutes=5 * n)
            rows.append((first_id + len(rows), created, created + timedelta(days=3)))
        day += timedelta(days=1)
    return rows


def new_walk(filter_field: str | None = "created_at") -> FilumWalk:
    decoder = ExportDecoder(ZONE, lambda headers: {})
    walk = FilumWalk(
        date(2024, 1, 1), date(2024, 12, 31), ZONE, decoder.records, filter_field=filter_field
    )
    walk.plan_for(4)
    return walk


def read(walk: FilumWalk, window: Window[date], answer: requests.Response) -> list[t.Any]:
    rows = walk.read(window, answer)
    out = []
    try:
        while True:
            out.append(next(rows))
    except StopIteration:
        return out


def test_windows_are_planned_ahead_only_once_there_is_an_estimate():
    walk = new_walk()
    first = walk.ready()
    assert len(first) == 1, "nothing is planned ahead of the first window"
    assert len(read(walk, first[0], tsv_answer(tickets_of(first[0], 5, 1)))) > 0
    ahead = walk.ready()
    assert len(ahead) == 4, "up to the width, from 5 rows a day: the rest of the year"
    assert ahead[0].start == first[0].end + timedelta(days=1)
    assert all(b.start == a.end + timedelta(days=1) for a, b in itertools.pairwise(ahead))
    assert ahead[-1].end == date(2024, 12, 31)


def test_a_capped_later_window_peeked_at_is_split_in_place_and_read_in_its_turn():
    walk = new_walk()
    head = walk.ready()[0]
    read(walk, head, tsv_answer(tickets_of(head, 5, 1)))
    second, third, *_rest = walk.ready()
    capped = tsv_answer(tickets_of(Window(third.start, third.start), 5000, 100_000))
    assert walk.peek(third, capped), "a capped answer is taken in"
    listed = walk.ready()
    place = listed.index(third)
    assert listed[place - 1] == second, "the capped window stays in its place"
    parts = listed[place + 1 : listed.index(_rest[0])] if _rest else listed[place + 1 :]
    assert parts, "its parts follow it at once"
    assert parts[0].start == third.start
    assert parts[-1].end == third.end
    assert walk.bookmark() is not None
    assert walk.plan.done_through == head.end
    read(walk, second, tsv_answer(tickets_of(second, 5, 50_000)))
    rows = read(walk, third, capped)  # its body was read whole at peek: held for its turn
    assert len(rows) == 5000, "the held answer's rows are emitted in its turn"
    assert walk.ready()[0] == parts[0]
    assert walk.plan.done_through == third.start - timedelta(days=1)


def test_before_the_filter_date_is_learned_an_early_answer_is_held_not_planned_from():
    walk = new_walk(filter_field=None)
    head = walk.ready()[0]
    # created and updated both inside the window: the answer does not tell which applies
    same_day = [(n, c, c + timedelta(minutes=1)) for n, c, _u in tickets_of(head, 5, 1)]
    read(walk, head, tsv_answer(same_day))
    assert walk.filter_field is None
    second = walk.ready()[1]
    answer = tsv_answer(tickets_of(second, 5, 10_000))
    listed = walk.ready()
    assert not walk.peek(second, answer), "not learned: nothing is planned from it"
    assert walk.ready() == listed
    assert answer.raw.read() == b"", "its body is read at once (its deadline runs), held"
    read(walk, walk.ready()[0], tsv_answer([]))
    assert len(read(walk, second, answer)) == len(tickets_of(second, 5, 10_000))


def test_a_body_cut_while_peeked_at_is_asked_for_again_in_its_turn():
    walk = new_walk()
    head = walk.ready()[0]
    read(walk, head, tsv_answer(tickets_of(head, 5, 1)))
    second = walk.ready()[1]
    cut = tsv_answer(tickets_of(second, 5, 10_000))
    body = cut.raw.read()
    cut.raw = io.BytesIO(body[: len(body) // 2 + 1])
    assert not walk.peek(second, cut)
    read(walk, walk.ready()[0], tsv_answer([]))
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        read(walk, second, cut)
    again = read(walk, second, tsv_answer(tickets_of(second, 5, 10_000)))
    assert len(again) == len(tickets_of(second, 5, 10_000)), "the answer asked again is read"


def test_when_the_range_ends_today_its_last_window_waits_for_every_other():
    """Tickets changed during the run land on today: as one at a time, today's window is
    asked for once every window before it is read."""
    decoder = ExportDecoder(ZONE, lambda headers: {})
    walk = FilumWalk(date(2024, 1, 1), date(2024, 12, 31), ZONE, decoder.records, ends_today=True)
    walk.plan_for(4)
    walk.filter_field = "created_at"
    head = walk.ready()[0]
    read(walk, head, tsv_answer(tickets_of(head, 5, 1)))
    ahead = walk.ready()
    assert len(ahead) == 3, "planned ahead, but not the last window"
    assert ahead[-1].end < date(2024, 12, 31)
    for number, window in enumerate(ahead):
        read(walk, window, tsv_answer(tickets_of(window, 5, 10_000 * (number + 2))))
    assert [w.end for w in walk.ready()] == [date(2024, 12, 31)]
