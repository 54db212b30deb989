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
    # the first page: 4 rows in 3 seconds, so sub-ranges of 0.8 * 4 rows span 2.4 s
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
    bound, upper = second.cursor, second.until
    assert bound is not None
    assert upper is not None

    class Answer:
        def __init__(self, rows: list[dict[str, t.Any]]) -> None:
            self.rows = rows

    walk.parse = lambda response: (response.rows, None)
    # the second range answers first: peeked, held in its place, its end decided
    assert walk.peek(second, Answer(_rows_at([bound, upper], 10)))
    listed = walk.ready()
    assert listed[:2] == [head, second]
    # the head range's short page ends at the bound, with the row stamped at it
    head_rows = list(walk.read(head, Answer(_rows_at(["2024-01-01 00:00:04", bound], 20))))
    assert [r["id"] for r in head_rows] == [20, 21]
    held_rows = list(walk.read(second, Answer(_rows_at([bound, upper], 10))))
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


# -- sub-ranges against an export that filters as asked -----------------------------------


class _Answer:
    def __init__(self, rows: list[dict[str, t.Any]]) -> None:
        self.rows = rows


def _second(n: int) -> str:
    return f"2024-01-01 {n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}"


def _export(data: list[dict[str, t.Any]], token: KeysetToken, page_size: int) -> _Answer:
    """What an export honouring >= and <= answers (Enneo's, as the sandbox has it)."""
    matching = [
        r
        for r in data
        if (token.cursor is None or r["modifiedAt"] >= token.cursor)
        and (token.until is None or r["modifiedAt"] <= token.until)
    ]
    return _Answer(matching[token.offset : token.offset + page_size])


def _drain(
    data: list[dict[str, t.Any]], *, width: int, ceiling: str, ceiling_is_end: bool = False
) -> tuple[list[int], list[tuple[KeysetToken, int]]]:
    """Walk `data` answering the head of `ready()` each time: ids emitted, (request, rows)."""
    walk = KeysetWalk(
        "Test",
        "modifiedAt",
        _second(0),
        page_size=4,
        parse=lambda response: (response.rows, None),
        ceiling=ceiling,
        ceiling_is_end=ceiling_is_end,
    )
    walk.plan_for(width)
    emitted: list[int] = []
    asked: list[tuple[KeysetToken, int]] = []
    while ready := walk.ready():
        answer = _export(data, ready[0], 4)
        asked.append((ready[0], len(answer.rows)))
        emitted += [r["id"] for r in walk.read(ready[0], answer)]
        assert len(asked) < 500
    return emitted, asked


def _every_second(seconds: t.Iterable[int]) -> list[dict[str, t.Any]]:
    return [{"id": n, "modifiedAt": _second(n)} for n in seconds]


def test_a_ceiling_that_ends_every_request_bounds_the_last_sub_range_too() -> None:
    data = _every_second(range(40))
    ceiling = _second(39)
    for width in (1, 3):
        emitted, _ = _drain(data, width=width, ceiling=ceiling, ceiling_is_end=True)
        assert emitted == [r["id"] for r in data]
    _, open_ended = _drain(data, width=3, ceiling=ceiling)
    assert open_ended[-1][0].confirm, "an open-ended last range confirms its short page"
    _, bounded = _drain(data, width=3, ceiling=ceiling, ceiling_is_end=True)
    assert all(token.until is not None and not token.confirm for token, _ in bounded[1:])
    assert bounded[-1][0].until == ceiling
    assert len(bounded) < len(open_ended)


def test_past_the_end_of_the_data_no_more_sub_ranges_are_cut() -> None:
    data = _every_second(range(8))  # then nothing for an hour, up to the ceiling
    emitted, asked = _drain(data, width=3, ceiling=_second(3600))
    assert emitted == [r["id"] for r in data]
    empty = [token for token, rows in asked if not rows]
    # the sub-ranges listed before the first empty one was read (one more than in flight),
    # then the rest in one open-ended range: not ever wider ones up to the ceiling
    assert len(empty) <= 3 + 2, empty
    assert empty[-1].until is None


def test_where_rows_come_again_after_a_gap_the_walk_goes_wide_again() -> None:
    data = _every_second([*range(8), *range(300, 340)])
    emitted, asked = _drain(data, width=3, ceiling=_second(600))
    assert emitted == [r["id"] for r in data]
    after_gap = [token for token, _ in asked if token.cursor and token.cursor > _second(300)]
    # 40 rows, 10 pages of 4: cut anew into sub-ranges of about a page each, side by side
    bounds = {token.until for token in after_gap if token.until and not token.confirm}
    assert len(bounds) >= 8, after_gap


def test_a_rest_one_page_holds_is_not_cut() -> None:
    # 4 rows in 3 s, then 3 more up to the ceiling: one page holds them, so one range
    data = _every_second(range(7))
    emitted, asked = _drain(data, width=3, ceiling=_second(6))
    assert emitted == [r["id"] for r in data]
    assert all(token.until is None or token.confirm for token, _ in asked)


def test_pages_peeked_ahead_are_taken_in_by_their_keys_and_go_out_whole() -> None:
    # parse_keys (Enneo: a decode of each row's id and key only) serves pages taken in
    # ahead of their turn; what goes out is the page parsed whole, the same rows as one at
    # a time, in the same order.
    data = [{"id": n, "modifiedAt": _second(n // 2), "body": f"text {n}"} for n in range(120)]
    calls: dict[str, int] = {"whole": 0, "keys": 0}

    def whole(response: _Answer) -> tuple[list[dict[str, t.Any]], None]:
        calls["whole"] += 1
        return [dict(r) for r in response.rows], None

    def keys(response: _Answer) -> tuple[list[dict[str, t.Any]], None]:
        calls["keys"] += 1
        return [{"id": r["id"], "modifiedAt": r["modifiedAt"]} for r in response.rows], None

    walk = KeysetWalk(
        "Test",
        "modifiedAt",
        _second(0),
        page_size=8,
        parse=whole,
        parse_keys=keys,
        ceiling=_second(59),
        ceiling_is_end=True,
    )
    walk.plan_for(3)
    emitted: list[dict[str, t.Any]] = []
    peeked = reads = 0
    while ready := walk.ready():
        for later in ready[1:]:  # answered ahead of the head: peeked, held in their place
            if walk.peek(later, _export(data, later, 8)):
                peeked += 1
        emitted += walk.read(ready[0], _export(data, ready[0], 8))
        reads += 1
        assert reads < 200
    assert emitted == data
    assert peeked
    assert calls["keys"] == peeked, "pages peeked at are parsed by their keys only"
    assert calls["whole"] == reads, "each page parsed whole once, when it goes out"
