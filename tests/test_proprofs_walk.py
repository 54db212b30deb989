"""ProProfs: the window walk and record values, without a server."""

from __future__ import annotations

import itertools
import random
import sys
import typing as t
from datetime import datetime, timedelta

import pytest

from tap_helpdesk.errors import ProviderError
from tap_helpdesk.providers.proprofs import (
    EVERYTHING,
    Page,
    PageToken,
    Slice,
    TicketWalk,
    as_bool,
    as_list,
    as_object,
    link_query,
    message_rows,
    split_ids,
    split_time,
    three_month_windows,
)
from tap_helpdesk.providers.proprofs import ahead as ahead_module
from tap_helpdesk.providers.proprofs import walk as walk_module
from tap_helpdesk.providers.proprofs.emitted import MERGE_EVERY, SeenIds
from tap_helpdesk.providers.proprofs.stream import EMPTY_RESULT
from tap_helpdesk.walk import Step
from tap_helpdesk.windows import add_months

T0 = datetime(2024, 1, 1)


def tickets(*ids: int, modified: str = "2024-01-02 00:00:00") -> list[dict]:
    return [{"ticket_id": str(i), "modified_date_time": modified} for i in ids]


def walk(*windows: Slice, tail_from: datetime | None = None, now: datetime = T0) -> TicketWalk:
    return TicketWalk(
        "ProProfs Help Desk",
        [(w, 0) for w in reversed(windows)],
        tail_from,
        clock=lambda: now.replace(microsecond=0),
    )


def next_of(w: TicketWalk) -> t.Any:  # a PageToken, or None at the end
    """The request the engine sends next (the first that is ready), or None at the end."""
    ready = w.ready()
    return ready[0] if ready else None


def read(w: TicketWalk, token: PageToken | None, total, link: str, rows: list[dict]):
    """Let the walk read one answer as the engine does: (tickets emitted, Step)."""
    assert token is not None, "the walk had nothing ready"
    reader = w.read(token, Page(total, link, rows))
    emitted = []
    try:
        while True:
            emitted.append(next(reader))
    except StopIteration as stop:
        step = stop.value
    assert isinstance(step, Step)
    return emitted, step


def take_page(w: TicketWalk, token: PageToken | None, total, link, rows: list[dict]) -> list[dict]:
    return read(w, token, total, link, rows)[0]


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (datetime(2023, 12, 31, 18), datetime(2026, 11, 22, 13, 7, 1)),
        (datetime(2024, 11, 30, 0, 0, 1), datetime(2025, 6, 1)),  # Nov 30 + 3 months: Feb 28
        (datetime(2024, 1, 31), datetime(2024, 3, 1)),  # shorter than one window
        (datetime(2024, 3, 10, 1, 59, 59), datetime(2024, 11, 3, 1, 30)),  # DST edges
    ],
)
def test_windows_stay_within_three_months_and_share_their_edges(start, end):
    windows = three_month_windows(start, end)
    assert windows[0].start == start
    assert windows[-1].end == end
    for window in windows:
        assert window.end is not None
        assert window.start < window.end
        assert window.end < add_months(window.start, 3), "within a 3-month range"
    for before, after in itertools.pairwise(windows):
        assert after.start == before.end, "an edge second is in both windows"
    assert three_month_windows(end, end) == []


def test_split_halves_by_time_then_by_ticket_id():
    window = Slice(T0, T0 + timedelta(seconds=11))
    halves = split_time(window)
    assert halves == [
        Slice(T0, T0 + timedelta(seconds=5)),
        Slice(T0 + timedelta(seconds=5), window.end),
    ]
    second = Slice(T0, T0 + timedelta(seconds=1))
    assert split_time(second) is None
    parts = split_ids(second, [7, 3, 9, 5])
    assert parts is not None
    low, high = parts
    assert (low.low_id, low.high_id, high.low_id, high.high_id) == (None, 7, 7, None)
    assert split_ids(Slice(T0, T0, 3, 5), [3, 4, 5]) == [Slice(T0, T0, 3, 4), Slice(T0, T0, 4, 5)]
    assert split_ids(Slice(T0, T0, 3, 4), [3, 4]) is None, "start ID must stay below end ID"
    assert split_ids(second, []) is None


def test_a_quiet_window_completes_and_moves_the_bookmark():
    window = Slice(T0, T0 + timedelta(days=30))
    w = walk(window)
    first = next_of(w)
    assert first == PageToken(window)
    assert (
        len(
            take_page(w, first, 30, "https://x/app/api/v1/list/ticket/?page=2", tickets(*range(25)))
        )
        == 25
    )
    assert w.completed is None
    second = next_of(w)
    assert second == PageToken(window, "page=2")
    assert len(take_page(w, second, 30, "", tickets(*range(25, 30)))) == 5
    assert w.completed == window.end
    assert next_of(w) is None


def test_a_window_that_lost_a_ticket_mid_walk_is_read_again_in_halves():
    window = Slice(T0, T0 + timedelta(days=30))
    w = walk(window)
    token = next_of(w)
    take_page(w, token, 30, "?page=2", tickets(*range(25)))
    token = next_of(w)
    # one ticket left the window: the rest moved up a place, one of them was never seen
    take_page(w, token, 29, "", tickets(*range(26, 30)))
    assert w.completed is None, "the bookmark must not pass a window read with a gap"
    first_half = next_of(w)
    assert first_half.part == Slice(T0, T0 + timedelta(days=15))
    fresh = take_page(w, first_half, 12, "", tickets(*range(12)) + tickets(25))
    assert [t["ticket_id"] for t in fresh] == ["25"], "tickets already emitted are not repeated"
    assert w.completed == first_half.part.end
    second_half = next_of(w)
    assert second_half.part == Slice(T0 + timedelta(days=15), window.end)
    take_page(w, second_half, 17, "", tickets(*range(12, 25), *range(26, 30)))
    assert w.completed == window.end
    assert next_of(w) is None


def test_a_busy_second_is_split_by_ticket_id_and_completes_on_the_last_range():
    second = Slice(T0, T0 + timedelta(seconds=1))
    w = walk(second)
    token = next_of(w)
    take_page(w, token, 60, "?page=2", tickets(*range(100, 125)))
    token = next_of(w)
    take_page(w, token, 59, "?page=3", tickets(*range(126, 151)))
    token = next_of(w)
    take_page(w, token, 59, "", tickets(*range(151, 160)))
    low = next_of(w)
    assert low.part == Slice(T0, second.end, None, 130), "split at the median ID met"
    take_page(w, low, 25, "", tickets(*range(100, 125)))
    assert w.completed is None, "the lower ID range does not complete the second"
    high = next_of(w)
    assert high.part == Slice(T0, second.end, 130, None)
    take_page(w, high, 34, "?page=2", tickets(*range(126, 151)))
    assert w.completed is None
    take_page(w, next_of(w), 34, "", tickets(*range(151, 160)))
    assert w.completed == second.end


def test_a_second_that_keeps_changing_ends_in_one_clear_error(monkeypatch):
    monkeypatch.setattr(walk_module, "MAX_ATTEMPTS", 2)
    second = Slice(T0, T0 + timedelta(seconds=1))
    w = walk(second)
    take_page(w, next_of(w), 2, "", [])  # 2 tickets said, none met: no IDs to split by
    token = next_of(w)
    assert token == PageToken(second, "", 1)
    # the walk decides when it reads the answer: the error comes with the second read
    with pytest.raises(ProviderError, match="kept changing while they were paged through"):
        take_page(w, token, 2, "", [])


def test_tails_read_until_one_fits_on_a_page():
    now = datetime(2026, 11, 22, 13, 0, 0)
    start = now - timedelta(seconds=60)
    w = walk(tail_from=start, now=now)
    open_tail = next_of(w)
    assert open_tail == PageToken(Slice(start, None))
    take_page(w, open_tail, 40, "?page=2", tickets(*range(25)))
    assert w.completed is None, "a tail over several pages is no snapshot"
    bounded = next_of(w)
    assert bounded.part.start == start
    assert bounded.part.end is not None
    assert bounded.part.end >= now
    assert bounded.link == "", "the tail is re-read as a window, not followed"
    take_page(w, bounded, 40, "?page=2", tickets(*range(25)))
    take_page(w, next_of(w), 40, "", tickets(*range(25, 40)))
    assert w.completed == bounded.part.end
    last = next_of(w)
    assert last == PageToken(Slice(bounded.part.end, None))
    take_page(w, last, 3, "", tickets(40, 41, 42))
    assert w.completed is EVERYTHING
    assert next_of(w) is None


def test_page_links_that_do_not_advance_are_an_error():
    window = Slice(T0, T0 + timedelta(days=1))
    w = walk(window)
    take_page(w, next_of(w), 50, "?page=2", tickets(*range(25)))
    token = next_of(w)
    with pytest.raises(ProviderError, match="repeats the page"):
        take_page(
            w,
            token,
            50,
            "https://www.proprofsdesk.com/app/api/v1/list/ticket/?page=2",
            tickets(*range(25, 50)),
        )


def test_only_the_query_of_a_page_link_is_used():
    assert link_query("https://evil.example.com/steal/?page=3") == "page=3"
    assert link_query(" https://www.proprofsdesk.com/app/api/v1/list/ticket/?page=2 ") == "page=2"
    assert link_query("https://www.proprofsdesk.com/app/api/v1/list/ticket/") == ""


def test_record_values():
    assert [as_bool(v) for v in ("0", "1", 0, 1, True, "", None, "maybe")] == [
        False,
        True,
        False,
        True,
        True,
        None,
        None,
        None,
    ]
    assert as_list("") == []
    assert as_list(None) == []
    assert as_list({"id": "LB1", "name": "x"}) == [{"id": "LB1", "name": "x"}]
    assert as_list([{"id": "CF1"}]) == [{"id": "CF1"}]
    assert as_object("") is None
    assert as_object({"id": "SF1"}) == {"id": "SF1"}
    rows = message_rows([{"ticket_id": "231000", "messages": [{"from": "a"}, {"from": "b"}]}])
    assert [(r["ticket_id"], r["position"], r["from"]) for r in rows] == [
        ("231000", 1, "a"),
        ("231000", 2, "b"),
    ]


@pytest.mark.parametrize(
    ("description", "empty"),
    [
        ("No tickets found", True),
        ("No ticket found for the given filters", True),
        ("Unable to authenticate request using account email and token", False),
        ("The start and end dates should fall within a 3-month range", False),
    ],
)
def test_an_envelope_saying_nothing_was_found_is_an_empty_page(description, empty):
    assert bool(EMPTY_RESULT.search(description)) is empty


def test_only_tickets_a_later_read_can_meet_are_remembered():
    window = Slice(T0, T0 + timedelta(days=30))
    assert window.end is not None
    after = Slice(window.end, T0 + timedelta(days=60))
    w = walk(window, after)
    edge_text = window.end.strftime("%Y-%m-%d %H:%M:%S")
    page = tickets(*range(1, 25)) + tickets(99, modified=edge_text)
    assert len(take_page(w, next_of(w), 25, "", page)) == 25
    assert w.completed == window.end
    assert len(w.emitted) == 1, "only the ticket modified at the shared edge second is kept"
    token = next_of(w)
    assert token.part == after
    later = tickets(99, modified=edge_text) + tickets(100, modified="2024-02-10 00:00:00")
    fresh = take_page(w, token, 2, "", later)
    assert [t["ticket_id"] for t in fresh] == ["100"], "the edge ticket is not emitted twice"
    assert len(w.emitted) == 0, "the walk is past everything"


def test_a_changed_slice_keeps_its_ids_until_its_parts_are_read():
    window = Slice(T0, T0 + timedelta(days=30))
    w = walk(window)
    take_page(w, next_of(w), 30, "?page=2", tickets(*range(25)))
    take_page(w, next_of(w), 29, "", tickets(*range(26, 30)))
    assert len(w.emitted) == 29, "the IDs of the first read, for its re-read"
    first_half = next_of(w)
    take_page(w, first_half, 12, "", tickets(*range(12)))
    assert len(w.emitted) == 29, "still needed by the second half"
    take_page(w, next_of(w), 17, "", tickets(*range(12, 25), *range(26, 30)))
    assert w.completed == window.end
    assert len(w.emitted) == 0


# -- the walk on the engine: bookmarks, waits, bounds, plans ---------------------------


def test_the_bookmark_moves_only_with_a_completed_window_and_never_past_its_end():
    window = Slice(T0, T0 + timedelta(days=1))
    assert window.end is not None
    w = walk(window, Slice(window.end, T0 + timedelta(days=2)))
    _, step = read(w, next_of(w), 30, "?page=2", tickets(*range(25)))
    assert step.bookmark is None, "half a window read says nothing"
    beyond = tickets(99, modified="2024-01-05 00:00:00")  # an API ignoring the end bound
    _, step = read(w, next_of(w), 30, "", tickets(*range(25, 29)) + beyond)
    assert step.bookmark == "2024-01-02 00:00:00", "the window's end, not the ticket past it"


def test_a_tail_window_waits_for_its_end_to_be_in_the_past_through_the_engine():
    now = datetime(2026, 11, 22, 13, 0, 0)
    end = now - timedelta(seconds=60)
    window = Slice(now - timedelta(days=1), end)
    w = walk(window, tail_from=end, now=now)
    assert w.wait_before(next_of(w)) == 0.0, "a planned window ends in the past"
    read(w, next_of(w), 0, "", [])
    _, step = read(w, next_of(w), 30, "?page=2", tickets(*range(25)))
    assert step.bookmark is None
    bounded = next_of(w)
    assert bounded.part == Slice(end, now)
    assert w.wait_before(bounded) == 2.0, "TAIL_MARGIN, waited by the engine"


def test_a_tail_reaching_past_the_clock_ends_the_walk_with_a_note_not_a_sleep():
    now = datetime(2026, 11, 22, 13, 0, 0)
    w = walk(tail_from=now + timedelta(minutes=10), now=now)
    ahead = tickets(*range(25), modified="2026-11-22 14:00:00")
    fresh, step = read(w, next_of(w), 40, "?page=2", ahead)
    assert len(fresh) == 25
    assert next_of(w) is None, "no window that could only be read after a sleep"
    assert step.bookmark is None, "the bookmark stays before them"
    assert len(step.notes) == 1
    assert "left to the next run" in step.notes[0]


def test_planned_windows_are_handed_out_together_after_the_page_under_way():
    windows = three_month_windows(T0, T0 + timedelta(days=200))
    w = walk(*windows, tail_from=windows[-1].end)
    assert w.ready() == [PageToken(part) for part in windows], "independent, earliest first"
    read(w, next_of(w), 30, "?page=2", tickets(*range(25)))
    assert w.ready() == [PageToken(windows[0], "page=2")] + [PageToken(p) for p in windows[1:]]
    # ceil(30 / 25) pages and one past the last, one per slice planned, one for the tail
    assert w.request_limit() == 3 + len(windows) - 1 + 1


def test_a_page_link_past_the_total_is_an_error():
    window = Slice(T0, T0 + timedelta(days=1))
    w = walk(window)
    read(w, next_of(w), 30, "?page=2", tickets(*range(25)))
    read(w, next_of(w), 30, "?page=3", tickets(*range(25, 30)))
    page_3 = next_of(w)
    assert page_3 == PageToken(window, "page=3"), "one page past the last may come (empty)"
    with pytest.raises(ProviderError, match="goes on past 3 pages for 30 tickets"):
        read(w, page_3, 30, "?page=4", tickets(*range(30, 35)))


def test_pages_that_overlap_with_a_steady_total_are_read_again_in_halves():
    window = Slice(T0, T0 + timedelta(days=30))
    w = walk(window)
    read(w, next_of(w), 30, "?page=2", tickets(*range(25)))
    fresh, step = read(w, next_of(w), 30, "", tickets(*range(20, 25)))
    assert (step.rows, step.new, fresh) == (5, 0, []), "tickets met twice are taken once"
    assert w.completed is None
    assert [t.part for t in w.ready()] == split_time(window)
    assert "changed while they were paged through" in step.notes[0]


def test_pages_short_of_a_steady_total_are_read_again_whole_then_an_error(monkeypatch):
    monkeypatch.setattr(walk_module, "MAX_ATTEMPTS", 2)
    window = Slice(T0, T0 + timedelta(days=30))
    w = walk(window)
    _, step = read(w, next_of(w), 40, "", tickets(*range(25)))
    assert next_of(w) == PageToken(window, "", 1), "whole, not split: nothing changed"
    assert "do not add up to total_tickets" in step.notes[0]
    with pytest.raises(ProviderError, match="do not add up to total_tickets"):
        read(w, next_of(w), 40, "", tickets(*range(25)))


def test_the_same_rows_in_another_slice_are_no_repeat_but_in_the_same_read_are():
    first, second = Slice(T0, T0 + timedelta(days=1)), Slice(T0, T0 + timedelta(days=2))
    w = walk(first, second)
    _, a = read(w, next_of(w), 25, "", tickets(*range(25)))
    _, b = read(w, next_of(w), 25, "", tickets(*range(25)))
    assert a.fingerprint != b.fingerprint
    w = walk(first)
    _, a = read(w, next_of(w), 50, "?page=2", tickets(*range(25)))
    _, b = read(w, next_of(w), 50, "", tickets(*range(25)))
    assert a.fingerprint == b.fingerprint, "the engine stops a page that repeats"


# -- several requests in flight: later windows paged ahead (peek) --------------------------


def peek(w: TicketWalk, token: PageToken, total, link: str, rows: list[dict]) -> bool:
    """Show the walk an answer ahead of its turn, as the engine does."""
    return w.peek(token, Page(total, link, rows))  # type: ignore[arg-type]


def two_windows() -> tuple[Slice, Slice]:
    first, second = three_month_windows(T0, T0 + timedelta(days=120))
    return first, second


def test_at_one_request_in_flight_nothing_is_peeked():
    first, second = two_windows()
    w = walk(first, second)
    assert not peek(w, PageToken(second), 30, "?page=2", tickets(*range(25)))
    assert w.ready() == [PageToken(first), PageToken(second)]
    assert not w.ahead


def test_a_later_window_answered_early_is_paged_ahead_and_read_in_its_turn():
    first, second = two_windows()
    w = walk(first, second)
    w.plan_for(4)
    head, later = w.ready()
    assert later == PageToken(second)
    late = tickets(*range(100, 160), modified="2024-04-02 00:00:00")
    assert peek(w, later, 60, "https://x.example/?page=2", late[:25])
    page_2, page_3 = PageToken(second, "page=2"), PageToken(second, "page=3")
    assert w.ready() == [head, later, page_2], "held in its place, then the page it links to"
    assert not peek(w, later, 60, "?page=2", late[:25]), "an answer is taken in once"
    # the first window's one request, the second's ceil(60 / 25) pages and one past the last
    assert w.request_limit() == 1 + 4
    assert peek(w, page_2, 60, "?page=3", late[25:50])
    assert w.ready() == [head, later, page_2, page_3]
    fresh, step = read(w, head, 5, "", tickets(*range(5)))
    assert len(fresh) == 5
    assert step.bookmark == "2024-01-02 00:00:00", "the first window completed"
    assert w.ready() == [later, page_2, page_3]
    fresh, step = read(w, later, 60, "https://x.example/?page=2", late[:25])
    assert fresh == late[:25]
    assert step.bookmark is None, "no bookmark inside a window"
    assert w.ready() == [page_2, page_3]
    assert read(w, page_2, 60, "?page=3", late[25:50])[0] == late[25:50]
    assert w.ready() == [page_3], "read from here as at one request at a time"
    assert not w.ahead
    fresh, step = read(w, page_3, 60, "", late[50:])
    assert fresh == late[50:]
    assert step.bookmark == "2024-04-02 00:00:00"
    assert w.ready() == []


def test_a_peeked_link_that_repeats_its_page_is_not_followed_and_stops_in_its_turn():
    first, second = two_windows()
    w = walk(first, second)
    w.plan_for(4)
    head, later = w.ready()
    page_2 = PageToken(second, "page=2")
    assert peek(w, later, 60, "?page=2", tickets(*range(100, 125)))
    assert peek(w, page_2, 60, "?page=2", tickets(*range(125, 150)))
    assert w.ready() == [head, later, page_2], "the repeated link is not asked for"
    read(w, head, 5, "", tickets(*range(5)))
    read(w, later, 60, "?page=2", tickets(*range(100, 125)))
    with pytest.raises(ProviderError, match="next_page_link repeats the page it is on"):
        read(w, page_2, 60, "?page=2", tickets(*range(125, 150)))


def test_peeked_links_past_the_total_are_not_followed_and_stop_in_their_turn():
    first, second = two_windows()
    w = walk(first, second)
    w.plan_for(8)
    head = w.ready()[0]
    pages = [PageToken(second, f"page={n}" if n > 1 else "") for n in range(1, 4)]
    for n, token in enumerate(pages, start=1):
        assert peek(w, token, 30, f"?page={n + 1}", tickets(*range(100 + 25 * n, 125 + 25 * n)))
    assert w.ready() == [head, *pages], "ceil(30 / 25) pages and one past the last, no more"
    assert w.request_limit() == 1 + 3
    read(w, head, 5, "", tickets(*range(5)))
    for n, token in enumerate(pages[:2], start=1):
        read(w, token, 30, f"?page={n + 1}", tickets(*range(100 + 25 * n, 125 + 25 * n)))
    with pytest.raises(ProviderError, match="goes on past 3 pages for 30 tickets"):
        read(w, pages[2], 30, "?page=4", tickets(*range(175, 200)))


def test_a_window_read_again_in_halves_goes_before_the_later_window_held_in_its_place():
    first, second = two_windows()
    w = walk(first, second)
    w.plan_for(4)
    head, later = w.ready()
    late = tickets(*range(100, 110), modified="2024-04-02 00:00:00")
    assert peek(w, later, 10, "", late)
    read(w, head, 30, "?page=2", tickets(*range(25)))
    _, step = read(w, w.ready()[0], 29, "", tickets(*range(25, 29)))  # one left mid-walk
    assert "reading them again in halves" in step.notes[0]
    halves = split_time(first)
    assert halves is not None
    assert w.ready() == [PageToken(halves[0]), PageToken(halves[1]), later]
    read(w, PageToken(halves[0]), 15, "", tickets(*range(15)))
    read(w, PageToken(halves[1]), 14, "", tickets(*range(15, 29)))
    fresh, step = read(w, later, 10, "", late)
    assert fresh == late
    assert step.bookmark == "2024-04-02 00:00:00"
    assert w.ready() == []


# -- several requests in flight: a big window read in time parts side by side ---------------


def test_the_split_plan_cuts_a_big_window_in_time_parts_only_at_several_in_flight():
    window = Slice(T0, T0 + timedelta(days=90))
    assert ahead_module.part_pages(4) == ahead_module.MIN_PART_PAGES == 8
    assert ahead_module.part_pages(16) == 14, "a part held whole beside two requests"
    assert ahead_module.split_plan(window, 0, 2000, 1) is None, "one at a time: read whole"
    assert ahead_module.split_plan(window, 0, 16 * 25, 4) is None, "two parts' worth: whole"
    parts = ahead_module.split_plan(window, 0, 2000, 4)  # 80 pages: ten parts of 8
    assert parts is not None
    assert len(parts) == 10
    assert parts[0].start == window.start
    assert parts[-1].end == window.end
    assert all(a.end == b.start for a, b in itertools.pairwise(parts)), "edges shared"
    assert len({p.end - p.start for p in parts}) <= 2, "equal spans (to the second)"
    parts = ahead_module.split_plan(window, 0, 2000, 16)
    assert parts is not None
    assert len(parts) == 6, "ceil(80 / 14)"
    assert ahead_module.split_plan(window, 1, 2000, 4) is None, "a whole re-read stays whole"
    assert ahead_module.split_plan(Slice(T0, None), 0, 2000, 4) is None, "a tail is never cut"
    assert ahead_module.split_plan(Slice(T0, T0, 3, 9), 0, 2000, 4) is None, "nor an ID range"
    short = Slice(T0, T0 + timedelta(seconds=3))
    assert ahead_module.split_plan(short, 0, 2000, 4) == [
        Slice(T0 + timedelta(seconds=s), T0 + timedelta(seconds=s + 1)) for s in range(3)
    ], "no more parts than seconds"


MID_FEBRUARY = "2024-02-15 00:00:00"


def big_first_page(w: TicketWalk, token: PageToken, first: int, total: int = 500):
    """The first page of a window of `total` tickets (modified mid-February)."""
    rows = tickets(*range(first, first + 25), modified=MID_FEBRUARY)
    return read(w, token, total, "?page=2", rows)


def test_a_window_whose_first_page_shows_many_pages_is_read_again_in_parts_in_turn():
    first, second = two_windows()
    w = walk(first, second)
    w.plan_for(4)
    head = w.ready()[0]
    fresh, step = big_first_page(w, head, 0)  # 20 pages: more than two parts of 8
    assert len(fresh) == 25, "the page read is emitted"
    assert step.bookmark is None, "nothing completed"
    parts = ahead_module.split_plan(first, 0, 500, 4)
    assert parts is not None
    assert len(parts) == 3
    # the next part paged ahead; the later window, asked for before (it may be in flight,
    # which sending it again would waste), stays listed after it
    assert w.ready() == [PageToken(parts[0]), PageToken(parts[1]), PageToken(second)]
    # the page read, the later window's first page sent again if dropped, a request per
    # part, the later window
    assert w.request_limit() == 1 + 1 + 3 + 1
    # the tickets of that page come again in their part: not emitted twice
    fresh, step = read(w, PageToken(parts[0]), 0, "", [])
    assert parts[0].end is not None
    assert step.bookmark == parts[0].end.strftime("%Y-%m-%d %H:%M:%S"), "its end, no later"
    rows = tickets(*range(10, 40), modified=MID_FEBRUARY)
    fresh, step = read(w, PageToken(parts[1]), 30, "?page=2", rows[:25])
    assert [r["ticket_id"] for r in fresh] == [str(i) for i in range(25, 35)]
    assert step.bookmark is None, "no bookmark inside a part"
    fresh, step = read(w, next_of(w), 30, "", rows[25:])
    assert len(fresh) == 5
    assert step.bookmark == MID_FEBRUARY, "every part up to its end is read"
    assert w.completed == parts[1].end
    read(w, PageToken(parts[2]), 0, "", [])
    assert w.completed == first.end
    assert w.ready() == [PageToken(second)]
    read(w, PageToken(second), 0, "", [])
    assert w.ready() == []


def test_at_one_in_flight_a_big_window_is_read_whole():
    first, second = two_windows()
    w = walk(first, second)
    big_first_page(w, next_of(w), 0)
    assert next_of(w) == PageToken(first, "page=2")
    assert not peek(w, PageToken(second), 500, "?page=2", tickets(*range(100, 125)))


def test_a_later_window_peeked_with_many_pages_is_split_before_its_turn():
    first, second = two_windows()
    w = walk(first, second)
    w.plan_for(4)
    head, later = w.ready()
    assert peek(w, later, 500, "?page=2", tickets(*range(100, 125)))
    parts = ahead_module.split_plan(second, 0, 500, 4)
    assert parts is not None
    assert w.ready() == [head, PageToken(parts[0])], "its answer dropped, its first part asked"
    assert not w.ahead
    assert w.request_limit() == 1 + 3, "the head, a request per part (the dropped one is not)"
    assert peek(w, PageToken(parts[0]), 30, "?page=2", tickets(*range(100, 125)))
    assert w.ready() == [head, PageToken(parts[0]), PageToken(parts[0], "page=2")]
    read(w, head, 5, "", tickets(*range(5)))
    fresh, _ = read(w, PageToken(parts[0]), 30, "?page=2", tickets(*range(100, 125)))
    assert len(fresh) == 25, "read in its turn"
    read(w, next_of(w), 30, "", tickets(*range(125, 130)))
    assert w.completed == parts[0].end
    assert w.ready() == [PageToken(parts[1]), PageToken(parts[2])]


def test_a_part_that_changed_is_read_again_in_halves_before_the_next_part():
    first, second = two_windows()
    w = walk(first, second)
    w.plan_for(4)
    big_first_page(w, w.ready()[0], 0)
    parts = ahead_module.split_plan(first, 0, 500, 4)
    assert parts is not None
    read(w, PageToken(parts[0]), 30, "?page=2", tickets(*range(100, 125)))
    _, step = read(w, next_of(w), 29, "", tickets(*range(125, 129)))
    assert "reading them again in halves" in step.notes[0]
    assert step.bookmark is None
    halves = split_time(parts[0])
    assert halves is not None
    assert w.ready()[:2] == [PageToken(halves[0]), PageToken(halves[1])]


def test_the_ids_a_read_met_are_remembered_exactly_in_about_ten_bytes_each() -> None:
    # Emitted's memory of one read of a slice (up to a quarter of a year's tickets): the
    # same answers as a set, numeric IDs in a sorted 8-byte array after each merge.
    seen, reference, rng = SeenIds(), set(), random.Random(3)
    for n in range(3 * MERGE_EVERY + 100):
        identity: int | str = rng.randrange(10**9) if n % 11 else f"T-{rng.randrange(50)}"
        assert (identity in seen) == (identity in reference), n
        assert seen.add(identity) is (identity not in reference)
        assert seen.add(identity) is False  # twice: counted once
        reference.add(identity)
    assert len(seen) == len(reference)
    assert all(identity in seen for identity in reference)
    assert not any(identity in seen for identity in (-1, 10**9, "T-99", 2**70))
    numeric = sum(type(i) is int for i in reference)
    assert sys.getsizeof(seen._sorted) < 10 * numeric, "numeric IDs in 8 bytes each"
