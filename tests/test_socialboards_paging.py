"""Socialboards slices and tokens without HTTP: the walk against a list that keeps changing."""

from __future__ import annotations

import logging
import random
import typing as t
from datetime import datetime, timedelta, timezone

import pytest

from tap_helpdesk.errors import ProviderError
from tap_helpdesk.guard import WalkGuard
from tap_helpdesk.providers.socialboards import (
    MAX_ATTEMPTS,
    AccessTokens,
    CreationSlices,
    Slice,
    creation_time,
    format_bound,
)
from tap_helpdesk.providers.socialboards.activity import MAX_READ_BACKS, ActivityMark, ActivityWalk

ACTIVITY = "lastThreadElementCreationTime"
START = datetime(2024, 1, 1, tzinfo=timezone.utc)
END = datetime(2024, 7, 1, tzinfo=timezone.utc)


class LiveList:
    """POST /tickets/list in miniature: creation-time filter, newest activity first, a cap.

    Between two answers it can post replies (the ticket moves to the top), create tickets
    (inside the range: a clock ahead of the server's) and delete tickets.
    """

    def __init__(self, rng: random.Random, size: int, cap: int) -> None:
        self.rng, self.cap, self.clock = rng, cap, 0
        self.tickets: dict[int, tuple[datetime, int]] = {}
        for ticket_id in range(1, size + 1):
            self._add(ticket_id)
        self.deleted: set[int] = set()

    def _add(self, ticket_id: int) -> None:
        self.clock += 1
        created = START + timedelta(seconds=self.rng.randrange(int((END - START).total_seconds())))
        self.tickets[ticket_id] = (created, self.clock)

    def answer(self, token: Slice) -> list[dict[str, t.Any]]:
        low, high = token.start, token.end
        inside = [(i, c, a) for i, (c, a) in self.tickets.items() if low <= c <= high]
        inside.sort(key=lambda x: (x[2], x[0]), reverse=True)
        return [
            {"id": i, "creationTime": c.isoformat(), "lastThreadElementCreationTime": str(a)}
            for i, c, a in inside[token.skip : token.skip + self.cap]
        ]

    def churn(self, replies: int, creates: int, deletes: int) -> None:
        for _ in range(replies):
            ticket_id = self.rng.choice(list(self.tickets))
            self.clock += 1
            self.tickets[ticket_id] = (self.tickets[ticket_id][0], self.clock)
        for _ in range(creates):
            self._add(max(self.tickets) + 1)
        for _ in range(deletes):
            ticket_id = self.rng.choice(list(self.tickets))
            del self.tickets[ticket_id]
            self.deleted.add(ticket_id)


def take_answer(slices: CreationSlices, rows: list[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
    """Hand the answer to the walk's next request over, as the engine does; the tickets
    it emits."""
    (token,) = slices.ready()
    emitted, _step = slices.take(token, rows)
    return emitted


def walk(
    live: LiveList, *, churn: tuple[int, int, int] = (0, 0, 0), **options: t.Any
) -> tuple[list[dict[str, t.Any]], CreationSlices]:
    slices = CreationSlices(START, END, **options)
    guard = WalkGuard("Socialboards", slices)
    emitted: list[dict[str, t.Any]] = []
    while slices.ready():
        (token,) = slices.ready()
        guard.before(token)
        rows = live.answer(token)
        live.churn(*churn)
        fresh, step = slices.take(token, rows)
        guard.after(token, step)
        emitted += fresh
        assert slices.requests < 5000, "the walk ends"
    return emitted, slices


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize(
    ("cap", "churn"),
    [(50, (0, 0, 0)), (50, (1, 0, 0)), (50, (3, 1, 1)), (20, (2, 1, 1)), (50, (8, 2, 2))],
)
def test_no_ticket_present_from_start_to_end_is_missed_whatever_moves(seed, cap, churn):
    """Replies, new tickets and deletions between any two answers; the server clamps at `cap`."""
    live = LiveList(random.Random(seed), 1200, cap)
    existing = set(live.tickets)
    emitted, slices = walk(live, churn=churn, target=300, max_rows=900)
    ids = [row["id"] for row in emitted]
    assert existing - live.deleted <= set(ids)
    assert len(ids) == len(set(ids)), "each ticket once"
    keys = [creation_time(row) for row in emitted]
    assert keys == sorted(keys), "emitted in creation order"
    if churn == (0, 0, 0):
        assert slices.rereads == 0
        assert slices.requests <= 1200 / (cap - 1) * 1.3 + 12


def test_a_short_first_answer_is_not_taken_for_the_end():
    """A server that stops at 20 rows: the first answer is checked by asking past it."""
    live = LiveList(random.Random(1), 400, 20)
    emitted, slices = walk(live)
    assert len(emitted) == 400
    assert slices.largest == 20


def test_a_vanished_anchor_makes_the_slice_be_read_again_narrower():
    slices = CreationSlices(START, END)
    first = slices.current
    assert first is not None
    page = [{"id": i, "creationTime": START.isoformat(), ACTIVITY: "9"} for i in range(50)]
    assert take_answer(slices, page) == []
    assert slices.current == Slice(first.start, first.end, skip=49)
    # the anchor (id 49) is not on the next page: something above it disappeared
    assert take_answer(slices, [{"id": 99, "creationTime": START.isoformat()}]) == []
    assert slices.current == Slice(first.start, first.start + (first.end - first.start) / 2)
    assert slices.rereads == 1
    assert slices.rows == {}


def test_a_top_made_only_of_moved_tickets_makes_the_slice_be_read_again():
    slices = CreationSlices(START, END)
    page = [{"id": i, "creationTime": START.isoformat(), ACTIVITY: "1"} for i in range(50)]
    take_answer(slices, page)
    take_answer(slices, [page[-1]])  # the anchor alone: the end of the slice
    assert slices.current is not None
    assert slices.current.recheck
    moved = [{"id": i, "creationTime": START.isoformat(), ACTIVITY: "2"} for i in range(50)]
    assert take_answer(slices, moved) == []
    assert slices.rereads == 1
    assert slices.current is not None
    assert not slices.current.recheck


def test_an_unsplittable_slice_that_keeps_moving_is_an_error_naming_it():
    moment = START + timedelta(days=3)
    slices = CreationSlices(moment, moment)
    for _ in range(MAX_ATTEMPTS - 1):
        take_answer(slices, [{"id": i, ACTIVITY: "1"} for i in range(50)])
        take_answer(slices, [{"id": 1000}])  # the anchor is gone
    take_answer(slices, [{"id": i, ACTIVITY: "1"} for i in range(50)])
    with pytest.raises(ProviderError, match=r"creationTime 2024-01-04T00:00:00\.0000000\+00:00"):
        take_answer(slices, [{"id": 1000}])


def test_slice_bounds_are_written_with_seven_fractional_digits_in_utc():
    moment = datetime(2024, 5, 12, 9, 0, 0, 123456, tzinfo=timezone(timedelta(hours=3)))
    assert format_bound(moment) == "2024-05-12T06:00:00.1234560+00:00"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_tokens_are_renewed_early_and_a_rotation_is_logged_without_its_value(caplog):
    answers: t.Iterator[dict[str, t.Any]] = iter(
        [
            {"access_token": "sbx-access-one", "expires_in": 3599, "refresh_token": "r0"},
            {"access_token": "sbx-access-two", "expires_in": 3599, "refresh_token": "r1-new"},
            {"access_token": "sbx-access-three", "expires_in": "3599"},
        ]
    )
    sent: list[str] = []

    def exchange(refresh_token: str) -> dict[str, t.Any]:
        sent.append(refresh_token)
        return next(answers)

    clock = Clock()
    tokens = AccessTokens("r0", exchange, logging.getLogger("test-socialboards"), clock)
    with caplog.at_level(logging.INFO):
        assert tokens.bearer() == "sbx-access-one"
        clock.now += 3500
        assert tokens.bearer() == "sbx-access-one", "still a minute and a half to go"
        clock.now += 40
        assert tokens.bearer() == "sbx-access-two", "renewed a minute before expiry"
        tokens.discard()
        assert tokens.bearer() == "sbx-access-three", "renewed after a 401"
    assert sent == ["r0", "r0", "r1-new"], "the rotated refresh token is used from then on"
    assert tokens.rotations == 1
    text = caplog.text
    assert "rotated the refresh token" in text
    assert "r1-new" not in text
    assert "sbx-access" not in text


def test_a_token_answer_without_access_token_is_an_error():
    tokens = AccessTokens("r0", lambda _r: {"token_type": "bearer"}, logging.getLogger("t"))
    with pytest.raises(ProviderError, match="without an access_token"):
        tokens.bearer()


def test_a_slice_too_large_to_hold_is_narrowed_unless_it_is_one_instant():
    live = LiveList(random.Random(5), 1200, 50)
    burst = START + timedelta(days=60)  # half of the tickets arrive within one hour
    for i in list(live.tickets)[:600]:
        live.tickets[i] = (burst + timedelta(seconds=i * 5), live.tickets[i][1])
    emitted, slices = walk(live, target=100, max_rows=200)
    assert sorted(row["id"] for row in emitted) == sorted(live.tickets)
    assert slices.rereads > 0
    # 600 tickets imported at one instant cannot be split: that slice is held whole
    bulk = LiveList(random.Random(6), 600, 50)
    instant = START + timedelta(days=2)
    bulk.tickets = {i: (instant, a) for i, (_c, a) in bulk.tickets.items()}
    emitted, slices = walk(bulk, target=100, max_rows=200)
    assert sorted(row["id"] for row in emitted) == sorted(bulk.tickets)


def drive_until_error(
    slices: CreationSlices, page: t.Callable[[int], list[dict[str, t.Any]]]
) -> str:
    """Answer the walk's requests with page(n) until it (or its guard) gives up."""
    guard = WalkGuard("Socialboards", slices)

    def run() -> None:
        for n in range(100_000):
            (token,) = slices.ready()
            guard.before(token)
            _emitted, step = slices.take(token, page(n))
            guard.after(token, step)

    with pytest.raises(ProviderError) as raised:
        run()
    assert guard.requests == slices.requests or guard.requests == slices.requests + 1
    return str(raised.value)


def test_a_slice_that_never_ends_is_stopped_by_the_request_limit():
    """Each page holds the anchor and one ticket not seen before: the slice never ends
    and never grows past max_rows; the walk's own bound stops it."""
    slices = CreationSlices(START, END)
    created = START.isoformat()

    def page(n: int) -> list[dict[str, t.Any]]:
        return [{"id": i, "creationTime": created, ACTIVITY: "1"} for i in range(n, n + 50)]

    message = drive_until_error(slices, page)
    assert message.startswith("Socialboards: more requests than the answers allow")
    assert slices.requests == 130 == slices.request_limit(), "ceil(3050 / 24) + 2 pages"
    assert slices.rows
    assert len(slices.rows) < slices.max_rows


def test_an_instant_that_never_ends_is_an_error_naming_it():
    moment = START + timedelta(days=3)
    slices = CreationSlices(moment, moment, max_instant_rows=1000)
    created = moment.isoformat()

    def page(n: int) -> list[dict[str, t.Any]]:
        return [{"id": i, "creationTime": created} for i in range(49 * n, 49 * n + 50)]

    message = drive_until_error(slices, page)
    assert "cannot be split further" in message
    assert "2024-01-04T00:00:00.0000000+00:00" in message
    assert 1000 / 49 <= slices.requests <= 1000 / 49 + 2


def test_a_completed_slice_moves_the_bookmark_to_its_latest_creation_time():
    slices = CreationSlices(START, END)
    rows: list[dict[str, t.Any]] = [
        {"id": 1, "creationTime": "2024-01-01T05:00:00.1234567+03:00", ACTIVITY: "2"},
        {"id": 2, "creationTime": "2024-01-01T01:00:00.0000001+00:00", ACTIVITY: "1"},
        {"id": 3, "creationTime": None, ACTIVITY: "0"},
    ]
    (token,) = slices.ready()
    emitted, step = slices.take(token, rows)
    assert [r["id"] for r in emitted] == [3], "the ticket without a time leaves at once"
    assert step.bookmark is None, "the slice is not complete yet"
    (token,) = slices.ready()
    emitted, step = slices.take(token, rows[2:])  # the anchor alone: the end
    assert emitted == []
    assert slices.ready()[0].recheck
    (token,) = slices.ready()
    emitted, step = slices.take(token, rows)
    assert [r["id"] for r in emitted] == [2, 1], "in creation order"
    assert step.bookmark == "2024-01-01T02:00:00.123456+00:00", "the records' UTC form"
    assert step.events
    assert "2 tickets" in step.events[0]


def activity_rows(count: int) -> list[dict[str, t.Any]]:
    """`count` tickets, newest activity first."""
    top = datetime(2024, 6, 1, tzinfo=timezone.utc)
    return [{"id": n, ACTIVITY: (top - timedelta(minutes=n)).isoformat()} for n in range(count)]


def test_activity_walk_reads_back_when_rows_move_up_past_the_cursor():
    listed = activity_rows(300)
    walk = ActivityWalk(datetime(2024, 1, 1, tzinfo=timezone.utc))
    guard = WalkGuard("Socialboards", walk)
    emitted: list[int] = []
    deleted: set[int] = set()
    while walk.ready():
        (token,) = walk.ready()
        guard.before(token)
        page = listed[token.skip : token.skip + 50]
        if token.skip == 49 and not deleted:  # ten tickets above the cursor vanish
            deleted = {row["id"] for row in listed[10:20]}
            listed = [row for row in listed if row["id"] not in deleted]
            page = listed[token.skip : token.skip + 50]
        rows, step = walk.take(token, page)
        guard.after(token, step)
        emitted += [row["id"] for row in rows]
    # the ten were read on the first page, before they vanished; the rows they pulled up
    # past the cursor are read after one page back
    assert sorted(emitted) == list(range(300)), "nothing slipped by"
    assert walk.rounds == 1
    assert len(emitted) == len(set(emitted))
    assert step.bookmark == ActivityMark("2024-06-01T00:00:00+00:00")
    assert walk.requests <= 300 / 49 + 3


def test_activity_walk_stops_when_rows_keep_vanishing_above_the_cursor():
    walk = ActivityWalk(datetime(2024, 1, 1, tzinfo=timezone.utc))
    batch = iter(range(10_000))

    def fresh_page() -> list[dict[str, t.Any]]:
        base = next(batch) * 50
        return [{**row, "id": row["id"] + base} for row in activity_rows(50)]

    def run() -> None:
        while walk.ready():
            (token,) = walk.ready()
            walk.take(token, fresh_page())

    with pytest.raises(ProviderError, match="tickets keep vanishing above the cursor"):
        run()
    # from the top, a page on, a page back to the top, ...: each read-back one round
    assert walk.rounds == MAX_READ_BACKS + 1
    assert walk.requests == 2 * (MAX_READ_BACKS + 1)


def test_activity_walk_without_a_bookmark_reads_one_page_and_emits_nothing():
    walk = ActivityWalk(None)
    (token,) = walk.ready()
    rows, step = walk.take(token, activity_rows(50))
    assert rows == []
    assert walk.ready() == []
    assert step.bookmark == ActivityMark("2024-06-01T00:00:00+00:00")
