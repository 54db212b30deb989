"""The keyset walk's page logic (tap_helpdesk.paging), page by page."""

from __future__ import annotations

import typing as t

import pytest

from tap_helpdesk.errors import ProviderError
from tap_helpdesk.paging import KeysetToken, KeysetWalk


def _page(ids_and_keys: list[tuple[int, str | None]]) -> list[dict[str, t.Any]]:
    return [{"id": i, "modifiedAt": k} for i, k in ids_and_keys]


def _walk(start: str, page_size: int = 4) -> KeysetWalk:
    return KeysetWalk("Test", "modifiedAt", start, page_size=page_size, ceiling="zzzz")


def _take(walk: KeysetWalk, rows: list[dict[str, t.Any]], has_more: bool | None) -> list[int]:
    assert walk.next is not None
    fresh, _step = walk.take(walk.next, rows, has_more)
    return [r["id"] for r in fresh]


def test_keyset_walk_reanchors_and_drops_the_tie_already_emitted() -> None:
    walk = _walk("2024-01-01")
    first = _take(walk, _page([(1, "a"), (2, "b"), (3, "c"), (4, "c")]), True)
    assert first == [1, 2, 3, 4]
    assert walk.next == KeysetToken("c", 0)
    second = _take(walk, _page([(3, "c"), (4, "c"), (5, "d")]), False)
    assert second == [5]
    assert walk.next is None
    assert walk.ready() == []


def test_keyset_walk_emits_a_tie_ticket_again_once_it_was_modified() -> None:
    walk = _walk("2024-01-01", page_size=2)
    _take(walk, _page([(1, "a"), (2, "c")]), True)
    # ticket 2 was modified meanwhile: it now sits at the end with a later key
    assert walk.next is not None
    fresh, _step = walk.take(walk.next, _page([(3, "d"), (2, "e")]), False)
    assert [(r["id"], r["modifiedAt"]) for r in fresh] == [(3, "d"), (2, "e")]


def test_keyset_walk_pages_through_a_tie_group_larger_than_a_page() -> None:
    walk = _walk("x", page_size=2)
    _take(walk, _page([(1, "x"), (2, "x")]), True)
    assert walk.next == KeysetToken("x", 2)
    rest = _take(walk, _page([(3, "x"), (4, "y")]), False)
    assert rest == [3, 4]


def test_without_a_marker_a_short_page_is_confirmed_before_the_end() -> None:
    walk = _walk("a", page_size=4)
    assert _take(walk, _page([(1, "b"), (2, "c")]), None) == [1, 2]
    assert walk.next == KeysetToken("c", 0, confirm=True, until="zzzz")
    # the confirming request brings only the tie group already emitted: the end
    assert _take(walk, _page([(2, "c")]), None) == []
    assert walk.next is None


def test_a_server_serving_fewer_rows_than_asked_is_learnt() -> None:
    walk = _walk("a", page_size=1000)
    _take(walk, _page([(1, "b"), (2, "c")]), None)  # 2 of 1000: maybe the end
    assert walk.next is not None
    assert walk.next.confirm
    _take(walk, _page([(3, "d"), (4, "e")]), None)  # it was not: the server serves 2
    assert walk.served == 2
    assert walk.next == KeysetToken("e", 0)  # a full page of 2 goes on unconfirmed
    _take(walk, _page([(4, "e"), (5, "f")]), None)
    assert walk.next == KeysetToken("f", 0)


def test_rows_without_the_key_are_emitted_once_and_never_become_the_cursor() -> None:
    walk = _walk("a", page_size=3)
    assert _take(walk, _page([(1, "b"), (2, None), (3, "c")]), True) == [1, 2, 3]
    assert walk.next == KeysetToken("c", 0)
    assert _take(walk, _page([(2, None), (3, "c"), (4, "d")]), False) == [4]
    assert walk.keyless_ids == {2}


def test_an_answer_out_of_order_stops_the_walk() -> None:
    walk = _walk("a")
    with pytest.raises(ProviderError, match="not in ascending modifiedAt order"):
        _take(walk, _page([(1, "c"), (2, "b")]), True)


def test_has_more_with_nothing_to_go_on_is_an_error() -> None:
    walk = _walk("a")
    with pytest.raises(ProviderError, match="says there is more"):
        _take(walk, [], True)


def test_a_server_inventing_newer_rows_is_followed_only_so_far() -> None:
    walk = KeysetWalk("Test", "modifiedAt", "a", page_size=2, ceiling="b")
    notes: tuple[str, ...] = ()
    pages = 0
    while walk.next is not None and pages < 200:
        n = pages * 2
        rows = _page([(n, f"c{n:04d}"), (n + 1, f"c{n + 1:04d}")])  # always newer, always full
        _fresh, step = walk.take(walk.next, rows, True)
        notes += step.notes
        pages += 1
    assert walk.next is None
    assert pages == 51  # the first page (from before the ceiling) and 50 past it
    assert any("stopped following tickets changed after the walk began" in n for n in notes)


# -- sub-ranges side by side (planned for several requests in flight) -------------------


def _rows_at(keys: list[str], first_id: int = 0) -> list[dict[str, t.Any]]:
    return [{"id": first_id + n, "modifiedAt": k} for n, k in enumerate(keys)]


def _split_walk(width: int = 3) -> KeysetWalk:
    walk = KeysetWalk(
        "Test", "modifiedAt", "2024-01-01 00:00:00", page_size=4, ceiling="2024-01-02 00:00:00"
    )
    walk.plan_for(width)
    # the first page: 4 rows in 3 seconds, so sub-ranges of 0.6 * 4 rows span 1.8 s
    first = walk.ready()
    assert first == [KeysetToken("2024-01-01 00:00:00")]
    walk.take(
        first[0],
        _page(
            [
                (1, "2024-01-01 00:00:00"),
                (2, "2024-01-01 00:00:01"),
                (3, "2024-01-01 00:00:02"),
                (4, "2024-01-01 00:00:03"),
            ]
        ),
        None,
    )
    return walk


def test_after_the_first_page_the_range_is_cut_into_bounded_sub_ranges() -> None:
    walk = _split_walk()
    ready = walk.ready()
    assert len(ready) == 4  # one more than in flight: sent as soon as the head is read
    assert ready[0].cursor == "2024-01-01 00:00:03"
    # each bound is the next one's start; requests of a bounded range carry its bound
    assert [t.until for t in ready[:3]] == [t.cursor for t in ready[1:]]
    assert all(not t.confirm for t in ready)
    assert len({walk.identity(t) for t in ready}) == 4


def test_a_later_sub_range_is_held_and_a_row_at_a_bound_leaves_once() -> None:
    walk = _split_walk()
    head, second, *_later = walk.ready()
    bound = second.cursor
    assert bound is not None

    class Answer:
        def __init__(self, rows: list[dict[str, t.Any]]) -> None:
            self.rows = rows

    walk.parse = lambda response: (response.rows, None)
    # the second range answers first: peeked, held in its place, its end decided
    assert walk.peek(second, Answer(_rows_at([bound, "2024-01-01 00:00:05"], 10)))
    listed = walk.ready()
    assert listed[:2] == [head, second]
    # the head range's short page ends at the bound, with the row stamped at it
    head_rows = list(walk.read(head, Answer(_rows_at(["2024-01-01 00:00:04", bound], 20))))
    assert [r["id"] for r in head_rows] == [20, 21]
    held_rows = list(walk.read(second, Answer(_rows_at([bound, "2024-01-01 00:00:05"], 10))))
    assert [r["id"] for r in held_rows] == [11], "the row at the bound came with the range before"


def test_a_server_ignoring_the_upper_bound_stops_the_run() -> None:
    walk = _split_walk()
    head = walk.ready()[0]
    assert head.until is not None
    with pytest.raises(ProviderError, match="ignores the upper bound"):
        walk.take(head, _rows_at(["2024-01-01 00:00:04", "2024-01-01 05:00:00"]), None)


def test_one_at_a_time_is_never_cut() -> None:
    walk = _walk("a", page_size=2)
    walk.plan_for(1)
    _take(walk, _page([(1, "b"), (2, "c")]), True)
    assert walk.ready() == [KeysetToken("c", 0)]
