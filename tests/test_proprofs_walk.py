"""ProProfs: the window walk and record values, without a server."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest

from tap_helpdesk.errors import ProviderError
from tap_helpdesk.providers import proprofs
from tap_helpdesk.providers.proprofs import (
    EVERYTHING,
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
from tap_helpdesk.windows import add_months

T0 = datetime(2024, 1, 1)


def tickets(*ids: int, modified: str = "2024-01-02 00:00:00") -> list[dict]:
    return [{"ticket_id": str(i), "modified_date_time": modified} for i in ids]


def walk(*windows: Slice, tail_from: datetime | None = None, now: datetime = T0) -> TicketWalk:
    clock = [now]

    def sleep(seconds: float) -> None:
        clock[0] += timedelta(seconds=seconds)

    return TicketWalk(
        "ProProfs Help Desk",
        [(w, 0) for w in reversed(windows)],
        tail_from,
        clock=lambda: clock[0].replace(microsecond=0),
        sleep=sleep,
        log=lambda *args: None,
    )


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
    low, high = split_ids(second, [7, 3, 9, 5])
    assert (low.low_id, low.high_id, high.low_id, high.high_id) == (None, 7, 7, None)
    assert split_ids(Slice(T0, T0, 3, 5), [3, 4, 5]) == [Slice(T0, T0, 3, 4), Slice(T0, T0, 4, 5)]
    assert split_ids(Slice(T0, T0, 3, 4), [3, 4]) is None, "start ID must stay below end ID"
    assert split_ids(second, []) is None


def test_a_quiet_window_completes_and_moves_the_bookmark():
    window = Slice(T0, T0 + timedelta(days=30))
    w = walk(window)
    first = w.first_token()
    assert first == PageToken(window)
    assert (
        len(w.take_page(first, 30, "https://x/app/api/v1/list/ticket/?page=2", tickets(*range(25))))
        == 25
    )
    assert w.completed is None
    second = w.next_token()
    assert second == PageToken(window, "page=2")
    assert len(w.take_page(second, 30, "", tickets(*range(25, 30)))) == 5
    assert w.completed == window.end
    assert w.next_token() is None


def test_a_window_that_lost_a_ticket_mid_walk_is_read_again_in_halves():
    window = Slice(T0, T0 + timedelta(days=30))
    w = walk(window)
    token = w.first_token()
    w.take_page(token, 30, "?page=2", tickets(*range(25)))
    token = w.next_token()
    # one ticket left the window: the rest moved up a place, one of them was never seen
    w.take_page(token, 29, "", tickets(*range(26, 30)))
    assert w.completed is None, "the bookmark must not pass a window read with a gap"
    first_half = w.next_token()
    assert first_half.part == Slice(T0, T0 + timedelta(days=15))
    fresh = w.take_page(first_half, 12, "", tickets(*range(12)) + tickets(25))
    assert [t["ticket_id"] for t in fresh] == ["25"], "tickets already emitted are not repeated"
    assert w.completed == first_half.part.end
    second_half = w.next_token()
    assert second_half.part == Slice(T0 + timedelta(days=15), window.end)
    w.take_page(second_half, 17, "", tickets(*range(12, 25), *range(26, 30)))
    assert w.completed == window.end
    assert w.next_token() is None


def test_a_busy_second_is_split_by_ticket_id_and_completes_on_the_last_range():
    second = Slice(T0, T0 + timedelta(seconds=1))
    w = walk(second)
    token = w.first_token()
    w.take_page(token, 60, "?page=2", tickets(*range(100, 125)))
    token = w.next_token()
    w.take_page(token, 59, "?page=3", tickets(*range(126, 151)))
    token = w.next_token()
    w.take_page(token, 59, "", tickets(*range(151, 160)))
    low = w.next_token()
    assert low.part == Slice(T0, second.end, None, 130), "split at the median ID met"
    w.take_page(low, 25, "", tickets(*range(100, 125)))
    assert w.completed is None, "the lower ID range does not complete the second"
    high = w.next_token()
    assert high.part == Slice(T0, second.end, 130, None)
    w.take_page(high, 34, "?page=2", tickets(*range(126, 151)))
    assert w.completed is None
    w.take_page(w.next_token(), 34, "", tickets(*range(151, 160)))
    assert w.completed == second.end


def test_a_second_that_keeps_changing_ends_in_one_clear_error(monkeypatch):
    monkeypatch.setattr(proprofs, "MAX_ATTEMPTS", 2)
    second = Slice(T0, T0 + timedelta(seconds=1))
    w = walk(second)
    w.take_page(w.first_token(), 2, "", [])  # 2 tickets said, none met: no IDs to split by
    token = w.next_token()
    assert token == PageToken(second, "", 1)
    w.take_page(token, 2, "", [])
    with pytest.raises(ProviderError, match="kept changing while they were paged through"):
        w.next_token()


def test_tails_read_until_one_fits_on_a_page():
    now = datetime(2026, 11, 22, 13, 0, 0)
    start = now - timedelta(seconds=60)
    w = walk(tail_from=start, now=now)
    open_tail = w.first_token()
    assert open_tail == PageToken(Slice(start, None))
    w.take_page(open_tail, 40, "?page=2", tickets(*range(25)))
    assert w.completed is None, "a tail over several pages is no snapshot"
    bounded = w.next_token()
    assert bounded.part.start == start
    assert bounded.part.end is not None
    assert bounded.part.end >= now
    assert bounded.link == "", "the tail is re-read as a window, not followed"
    w.take_page(bounded, 40, "?page=2", tickets(*range(25)))
    w.take_page(w.next_token(), 40, "", tickets(*range(25, 40)))
    assert w.completed == bounded.part.end
    last = w.next_token()
    assert last == PageToken(Slice(bounded.part.end, None))
    w.take_page(last, 3, "", tickets(40, 41, 42))
    assert w.completed is EVERYTHING
    assert w.next_token() is None


def test_page_links_that_do_not_advance_are_an_error():
    window = Slice(T0, T0 + timedelta(days=1))
    w = walk(window)
    w.take_page(w.first_token(), 50, "?page=2", tickets(*range(25)))
    token = w.next_token()
    with pytest.raises(ProviderError, match="repeats the page"):
        w.take_page(
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
    assert bool(proprofs._EMPTY_RESULT.search(description)) is empty


def test_only_tickets_a_later_read_can_meet_are_remembered():
    window = Slice(T0, T0 + timedelta(days=30))
    after = Slice(window.end, T0 + timedelta(days=60))
    w = walk(window, after)
    edge_text = window.end.strftime("%Y-%m-%d %H:%M:%S")
    page = tickets(*range(1, 25)) + tickets(99, modified=edge_text)
    assert len(w.take_page(w.first_token(), 25, "", page)) == 25
    assert w.completed == window.end
    assert len(w.emitted) == 1, "only the ticket modified at the shared edge second is kept"
    token = w.next_token()
    assert token.part == after
    later = tickets(99, modified=edge_text) + tickets(100, modified="2024-02-10 00:00:00")
    fresh = w.take_page(token, 2, "", later)
    assert [t["ticket_id"] for t in fresh] == ["100"], "the edge ticket is not emitted twice"
    assert len(w.emitted) == 0, "the walk is past everything"


def test_a_changed_slice_keeps_its_ids_until_its_parts_are_read():
    window = Slice(T0, T0 + timedelta(days=30))
    w = walk(window)
    w.take_page(w.first_token(), 30, "?page=2", tickets(*range(25)))
    w.take_page(w.next_token(), 29, "", tickets(*range(26, 30)))
    assert len(w.emitted) == 29, "the IDs of the first read, for its re-read"
    first_half = w.next_token()
    w.take_page(first_half, 12, "", tickets(*range(12)))
    assert len(w.emitted) == 29, "still needed by the second half"
    w.take_page(w.next_token(), 17, "", tickets(*range(12, 25), *range(26, 30)))
    assert w.completed == window.end
    assert len(w.emitted) == 0
