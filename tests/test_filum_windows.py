"""The window pieces Filum's walk is built from (tap_helpdesk.windows), on their own."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

from tap_helpdesk.windows import (
    Window,
    WindowPlanner,
    WindowWalk,
    halves,
    isolate,
    split_by_density,
    split_filter,
)
from tests.conftest import walk_leaves

D = date(2024, 1, 1)


def day(n: int) -> date:
    """The n-th day after 2024-01-01."""
    return D + timedelta(days=n)


def test_planner_starts_with_even_windows_then_sizes_from_density():
    planner = WindowPlanner(day(0), day(364), max_days=90, target_rows=4000)
    windows = iter(planner)
    first = next(windows)
    assert first == Window(day(0), day(72)), "365 days in the fewest (5) even windows"
    planner.observe(first, 73 * 200)  # 200 rows a day
    second = next(windows)
    assert second.start == first.end + timedelta(days=1)
    assert (second.end - second.start).days + 1 == 20  # 4000 rows / 200 a day
    planner.observe(second, 0)  # a quiet window: back to the widest
    third = next(windows)
    assert (third.end - third.start).days + 1 == 68  # the other 272 days in 4 even windows
    planner.observe(third, 0)
    rest = list(windows)
    assert rest[-1].end == day(364)
    assert all((w.end - w.start).days < 90 for w in rest)


def test_planner_leaves_days_split_by_filter_out_of_the_density():
    planner = WindowPlanner(day(0), day(179), max_days=90, target_rows=4000)
    windows = iter(planner)
    first = next(windows)
    planner.observe(Window(day(0), day(88)), 890)
    planner.observe(Window(day(89), day(89)).with_filter("statuses", ["open"]), 4000)
    planner.observe(Window(day(89), day(89)).with_filter("statuses", ["closed"]), 3000)
    assert first.end == day(89)
    assert (next(windows).end - day(90)).days + 1 == 90, "10 rows a day outside the busy day"


def test_isolate_cuts_around_a_busy_day():
    window = Window(day(0), day(9))
    assert isolate(window, day(4)) == [
        Window(day(0), day(3)),
        Window(day(4), day(4)),
        Window(day(5), day(9)),
    ]
    assert isolate(window, day(0)) == [Window(day(0), day(0)), Window(day(1), day(9))]
    assert isolate(window, day(9)) == [Window(day(0), day(8)), Window(day(9), day(9))]
    assert isolate(Window(day(3), day(3)), day(3)) is None
    assert isolate(window, day(20)) is None


def test_split_filter_balances_values_by_weight_and_narrows_an_existing_filter():
    window = Window(day(0), day(0))
    statuses = ["open", "pending", "closed", "deleted"]
    weights = {"open": 2500, "pending": 1500, "closed": 900, "deleted": 100}
    parts = split_filter(window, "statuses", statuses, weights)
    assert parts is not None
    assert [dict(p.filters)["statuses"] for p in parts] == [
        ("open",),
        ("pending", "closed", "deleted"),
    ]
    narrower = split_filter(parts[1], "statuses", statuses, weights)
    assert [p.filters for p in narrower or []] == [
        (("statuses", ("pending",)),),
        (("statuses", ("closed", "deleted")),),
    ]
    single = parts[0]
    assert split_filter(single, "statuses", statuses) is None
    by_priority = split_filter(single, "priorities", ["low", "high"])
    assert [p.filters for p in by_priority or []] == [
        (("statuses", ("open",)), ("priorities", ("low",))),
        (("statuses", ("open",)), ("priorities", ("high",))),
    ]
    # values nobody has seen still go somewhere
    zero = split_filter(window, "statuses", ["a", "b", "c"], {})
    assert sorted(v for p in zero or [] for v in dict(p.filters)["statuses"]) == ["a", "b", "c"]


def test_walk_refines_depth_first_and_reports_how_far_it_got():
    rows = {day(n): 3 for n in range(10)} | {day(4): 30}
    cap = 10

    def fetch(window: Window[date]) -> int:
        total = sum(rows[d] for d in rows if window.start <= d <= window.end)
        return min(total // 3 if window.filters else total, cap)

    def refine(window: Window[date], _page: int) -> list[Window[date]] | None:
        if window.start < window.end:
            return isolate(window, day(4)) or halves(window)
        return split_filter(window, "statuses", ["a", "b", "c"])

    walk = WindowWalk([Window(day(0), day(9))], is_truncated=lambda n: n >= cap, refine=refine)
    seen = [
        (window.describe(), count, complete, walk.done_through)
        for window, count, complete in walk_leaves(walk, fetch)
    ]
    assert seen == [
        ("2024-01-01..2024-01-02", 6, True, day(1)),
        ("2024-01-03..2024-01-04", 6, True, day(3)),
        ("2024-01-05..2024-01-05 statuses=a", 10, False, day(3)),
        ("2024-01-05..2024-01-05 statuses=c", 10, False, day(3)),
        ("2024-01-05..2024-01-05 statuses=b", 10, False, day(4)),
        ("2024-01-06..2024-01-08", 9, True, day(7)),
        ("2024-01-09..2024-01-10", 6, True, day(9)),
    ]


def test_split_by_density_packs_whole_days_and_sizes_the_unknown_ones():
    # A capped answer that kept the newest rows: days 6..9 whole (1000 rows each), day 5
    # cut (1000 seen), days 0..4 not seen at all.
    window = Window(day(0), day(9))
    seen = {day(n): 1000 for n in range(5, 10)}
    parts = split_by_density(window, seen, capacity=4999, target=4750)
    assert parts is not None
    assert parts[0].start == day(0)
    assert parts[-1].end == day(9)
    assert all(a.end + timedelta(days=1) == b.start for a, b in itertools.pairwise(parts))
    spans = [(p.start, p.end) for p in parts]
    # unknown days and the cut day at 1000 a day planned for 4750 (4 days: 4210 < 4999)
    assert spans == [(day(0), day(2)), (day(3), day(5)), (day(6), day(9))]


def test_split_by_density_mirrors_an_answer_that_kept_the_oldest_rows():
    window = Window(day(0), day(9))
    seen = {day(0): 2000, day(1): 2000, day(2): 1000}
    parts = split_by_density(window, seen, capacity=4999, target=4750)
    # whole days 0..1 (4000 rows) fit one part; the cut day 2 and unknown 3..9 at 2000 a day
    assert parts is not None
    assert (parts[0].start, parts[0].end) == (day(0), day(1))
    assert parts[-1].end == day(9)
    assert all((p.end - p.start).days + 1 <= 2 for p in parts[1:])


def test_split_by_density_asks_for_a_heavy_cut_day_alone_and_keeps_filters():
    window = Window(day(0), day(9)).with_filter("statuses", ["open"])
    seen = {day(7): 3000, day(8): 1000, day(9): 1000}
    parts = split_by_density(window, seen, capacity=4999, target=4750)
    assert parts is not None
    # unknown days 0..6 at 1000 a day in two even parts; the cut day alone; whole 8..9
    assert [(p.start, p.end) for p in parts] == [
        (day(0), day(3)),
        (day(4), day(6)),
        (day(7), day(7)),
        (day(8), day(9)),
    ]
    assert all(p.filters == window.filters for p in parts)


def test_split_by_density_declines_when_no_day_is_known_whole():
    window = Window(day(0), day(9))
    spread = {day(n): 500 for n in range(10)}  # a sample of every day: scale unknown
    assert split_by_density(window, spread, capacity=4999, target=4750) is None
    last_only = {day(9): 5000}  # only the cut day: no density
    assert split_by_density(window, last_only, capacity=4999, target=4750) is None
    assert split_by_density(Window(day(3), day(3)), {day(3): 5000}, capacity=4999, target=1) is None


def test_split_by_density_evens_out_the_parts():
    # 65 unknown days at ~568 planned rows: 9 parts either way, but no 1-day leftover
    window = Window(day(0), day(73))
    seen = {day(n): 540 for n in range(65, 74)}
    parts = split_by_density(window, seen, capacity=4999, target=4750)
    assert parts is not None
    sizes = [(p.end - p.start).days + 1 for p in parts]
    assert sum(sizes) == 74
    assert min(sizes[:-1]) >= 7, sizes
