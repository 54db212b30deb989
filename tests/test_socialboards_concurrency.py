"""Socialboards' creation-time slices side by side (several requests in flight).

Real HTTP against the sandbox, whose answers take time and come back out of order
(latency_jitter): later slices' answers are digested early and held until the slices
before them are emitted. Same records as one at a time, bookmarks only forward, a run
killed mid-way resumes without a gap, replies and faults mid-sync lose nothing, a dead
access token is renewed once for every request that met it, the budget holds.
"""

from __future__ import annotations

import json
import math
import random
import threading
import typing as t
from datetime import datetime, timedelta

import pytest

from sandbox import socialboards as fake
from tap_helpdesk.errors import ProviderError
from tap_helpdesk.guard import WalkGuard
from tap_helpdesk.providers.socialboards import PROVIDER, CreationSlices, Slice
from tap_helpdesk.walk import Step
from tests.conftest import tap_config
from tests.tap_runner import TapRun, run_tap, run_tap_until
from tests.test_socialboards_paging import END, START, LiveList

if t.TYPE_CHECKING:
    from sandbox.server import Sandbox
    from sandbox.socialboards import SocialboardsAPI

STREAM = "socialboards_tickets"


def config(
    sandbox: Sandbox, width: int, *, rate: float | None = 200, **top: t.Any
) -> dict[str, t.Any]:
    """Settings at `width` in flight; `rate` lifts the default 10 requests/s (None: default)."""
    # the sandbox's tickets lie in 2024: from 2023, slices would grow 4-fold through an
    # empty year and one would hold nearly all of them (nothing to page side by side)
    settings = tap_config(sandbox, "socialboards", **top)
    block = settings["socialboards"]
    block["max_concurrent_requests"] = width
    if rate is not None:
        block.update(requests_per_second=rate, requests_per_minute=60 * rate)
    return settings


def api_of(sandbox: Sandbox) -> SocialboardsAPI:
    return t.cast("SocialboardsAPI", sandbox.apis["socialboards"])


def bookmarks(run: TapRun) -> list[str]:
    marks = [s["bookmarks"].get(STREAM, {}) for s in run.states]
    return [m["replication_key_value"] for m in marks if "replication_key_value" in m]


def assert_in_order(run: TapRun) -> None:
    times = [r["creationTime"] for r in run.records[STREAM]]
    assert times == sorted(times), "records leave in creation order"
    marks = bookmarks(run)
    assert marks, "no bookmark"
    assert marks == sorted(marks), "a bookmark moved back"


def versions(run: TapRun) -> dict[t.Any, str]:
    return {r["id"]: json.dumps(r, sort_keys=True) for r in run.records[STREAM]}


def test_the_default_width_pages_the_next_slice_ahead() -> None:
    block = PROVIDER.settings.to_dict()["properties"]
    assert block["max_concurrent_requests"]["default"] == 8


def test_four_in_flight_give_the_records_of_one_at_a_time(make_sandbox: t.Any) -> None:
    sandbox = make_sandbox(
        "socialboards", sizes={"socialboards": 4000}, latency=0.02, latency_jitter=0.04
    )
    runs: dict[int, TapRun] = {}
    lists: dict[int, int] = {}
    for width in (1, 4):
        sandbox.reset_stats()
        run = run_tap(config(sandbox, width))
        assert run.returncode == 0, run.stderr[-2000:]
        stats = sandbox.stats()
        assert stats["peak_in_flight"] == 1 if width == 1 else stats["peak_in_flight"] >= 2
        assert not any(k.endswith(":429") for k in stats["statuses"]), stats["statuses"]
        assert_in_order(run)
        runs[width], lists[width] = run, stats["paths"]["/tickets/list"]
    assert versions(runs[4]) == versions(runs[1])
    assert len(runs[4].records[STREAM]) == len(runs[1].records[STREAM]) == 4000
    assert bookmarks(runs[4])[-1] == bookmarks(runs[1])[-1]
    # slices planned ahead from an older density cost a few requests, not many
    assert lists[4] <= lists[1] * 1.1 + 4, lists


def test_a_run_killed_at_four_in_flight_resumes_without_a_gap(make_sandbox: t.Any) -> None:
    sandbox = make_sandbox(
        "socialboards", sizes={"socialboards": 4000}, latency=0.01, latency_jitter=0.03
    )
    settings = config(sandbox, 4)
    killed = run_tap_until(settings, stop_after_records=(STREAM, 1500))
    assert killed.returncode != 0
    assert 1500 <= len(killed.ids(STREAM)) < 4000
    marks = bookmarks(killed)
    assert marks, "a STATE was written before the kill"
    assert marks == sorted(marks), "a bookmark moved back"
    resumed = run_tap(settings, state=killed.final_state)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert len(resumed.ids(STREAM)) < 4000 - 1000, "the resumed run starts at the bookmark"
    assert sorted(killed.ids(STREAM) | resumed.ids(STREAM)) == sandbox.truth()[STREAM]["ids"]
    assert min(bookmarks(resumed)) >= marks[-1]


def test_replies_mid_sync_at_four_in_flight_are_met(make_sandbox: t.Any) -> None:
    """Every request posts a reply (the ticket jumps to the top) and creates a ticket."""
    sandbox = make_sandbox(
        "socialboards",
        sizes={"socialboards": 3000},
        mutate_every=1,
        latency=0.01,
        latency_jitter=0.03,
    )
    existing = set(sandbox.truth()[STREAM]["ids"])
    run = run_tap(config(sandbox, 4))
    assert run.returncode == 0, run.stderr[-2000:]
    assert len(api_of(sandbox).replied) > 50, "tickets moved all through the sync"
    assert sandbox.stats()["peak_in_flight"] >= 2
    assert not existing - run.ids(STREAM), "no ticket that existed at the start is skipped"
    ids = [r["id"] for r in run.records[STREAM]]
    assert len(ids) == len(set(ids)), "each ticket once"
    new = set(sandbox.truth()[STREAM]["ids"]) - existing
    assert new
    assert not new & run.ids(STREAM), "tickets created mid-sync wait for the next run"
    assert_in_order(run)


def test_faults_at_four_in_flight_still_give_every_ticket(make_sandbox: t.Any) -> None:
    """429s (with and without Retry-After), 5xx, HTML 502s and answers cut off mid-way."""
    sandbox = make_sandbox(
        "socialboards",
        sizes={"socialboards": 3000},
        fault_rate=0.1,
        seed=5,
        latency=0.01,
        latency_jitter=0.03,
    )
    run = run_tap(config(sandbox, 4))
    assert run.returncode == 0, run.stderr[-2000:]
    assert sorted(run.ids(STREAM)) == sandbox.truth()[STREAM]["ids"]
    ids = [r["id"] for r in run.records[STREAM]]
    assert len(ids) == len(set(ids)), "each ticket once"
    faults = {k: v for k, v in sandbox.stats()["statuses"].items() if "fault" in k}
    assert any("drop" in k for k in faults), faults
    assert any("429" in k for k in faults), faults
    assert any("500" in k or "502" in k or "503" in k for k in faults), faults
    assert sandbox.stats()["peak_in_flight"] >= 2
    assert_in_order(run)


def test_a_dead_token_met_by_several_requests_is_renewed_once(make_sandbox: t.Any) -> None:
    """Tokens die after 0.6 s although the endpoint promises an hour, and each exchange
    retires the refresh token it was sent: with four in flight, several requests meet the
    same dead token, and the exchange happens once for all of them (a second one, with
    the retired refresh token, would be refused). Answers take 0.15-0.2 s (a 401 too), so
    a request sent while the first refusal is on its way meets the same dead token."""
    sandbox = make_sandbox(
        "socialboards", sizes={"socialboards": 3000}, latency=0.15, latency_jitter=0.05
    )
    api = api_of(sandbox)
    api.token_lifetime, api.advertised_expires_in = 0.6, 3599
    api.rotate_refresh_tokens = True
    refused: list[str] = []
    lock = threading.Lock()
    handle = sandbox.handle

    def recording(request: t.Any) -> t.Any:
        response = handle(request)
        if response.status == 401:
            with lock:
                refused.append(str(request.header("authorization")))
        return response

    sandbox.handle = recording  # type: ignore[method-assign]
    run = run_tap(config(sandbox, 4, rate=40))
    assert run.returncode == 0, run.stderr[-2000:]
    assert sorted(run.ids(STREAM)) == sandbox.truth()[STREAM]["ids"]
    assert sandbox.stats()["peak_in_flight"] >= 2
    dead = set(refused)
    assert len(refused) > len(dead), "several requests in flight met the same dead token"
    assert len(api.issued_access_tokens) == len(dead) + 1, "one exchange per dead token"
    assert len(api.issued_refresh_tokens) == len(api.issued_access_tokens)
    assert run.stderr.count("the token endpoint rotated the refresh token") == len(dead) + 1


@pytest.mark.parametrize(
    ("per_second", "most"),
    [
        (None, 10),  # the default: 300 a minute, bursts of at most 10 a second
        (5, 5),  # the default until 2 Dec, set
    ],
)
def test_the_default_budget_holds_with_several_in_flight(
    make_sandbox: t.Any, monkeypatch: t.Any, per_second: int | None, most: int
) -> None:
    """The budget, four in flight, against a sandbox that refuses more than it allows
    (Socialboards publishes no limit): no second holds more, no 429."""
    monkeypatch.setattr(fake.SocialboardsAPI, "rate_limits", (most, 300))
    sandbox = make_sandbox("socialboards", sizes={"socialboards": 1200}, latency=0.05)
    settings = config(sandbox, 4, rate=None)
    if per_second is not None:
        settings["socialboards"]["requests_per_second"] = per_second
    run = run_tap(settings)
    assert run.returncode == 0, run.stderr[-2000:]
    stats = sandbox.stats()
    assert stats["peak_in_flight"] >= 2
    assert stats["peak_per_second"]["socialboards"] <= most
    if per_second is None:  # the default is spent, not the old one
        assert stats["peak_per_second"]["socialboards"] > 5
    assert not any(k.endswith(":429") for k in stats["statuses"]), stats["statuses"]
    assert sorted(run.ids(STREAM)) == sandbox.truth()[STREAM]["ids"]


# -- the walk alone, answers handed back out of order ---------------------------------


def drive(
    slices: CreationSlices,
    live: LiveList,
    width: int,
    rng: random.Random,
    churn: tuple[int, int, int] = (0, 0, 0),
) -> tuple[list[dict[str, t.Any]], list[Step]]:
    """Drive the walk as the engine does at `width`: answers arrive in random order, each
    shown to `peek` unless it is the head's; the head is read in its turn."""
    slices.plan_for(width)
    guard = WalkGuard("Socialboards", slices)
    flight: dict[Slice, list[dict[str, t.Any]]] = {}
    peeked: set[Slice] = set()
    emitted: list[dict[str, t.Any]] = []
    steps: list[Step] = []
    while tokens := slices.ready():
        for token in [k for k in flight if k not in tokens]:
            del flight[token]  # a plan change: no longer listed
            peeked.discard(token)
            guard.withdraw(slices.identity(token))
        for index, token in enumerate(tokens):
            if token not in flight and (not index or len(flight) < width):
                guard.before(token)
                flight[token] = live.answer(token)
        head = tokens[0]
        early = [k for k in flight if k != head and k not in peeked]
        if early and rng.random() < 0.7:
            token = rng.choice(early)
            peeked.add(token)
            slices.peek(token, Reply(flight[token]))  # type: ignore[arg-type]
            continue
        rows = flight.pop(head)
        peeked.discard(head)
        live.churn(*churn)  # as often as one at a time: once per answer read
        fresh, step = slices.take(head, rows)  # an answer peeked at is taken as digested
        guard.after(head, step)
        emitted += fresh
        steps.append(step)
        assert len(flight) <= width + 1, "what is held is bounded by the width"
        assert slices.requests < 5000, "the walk ends"
    return emitted, steps


class Reply:
    """An answer whose parse is the walk's own (the rows as they are)."""

    def __init__(self, rows: list[dict[str, t.Any]]) -> None:
        self.rows = rows


def drain(slices: CreationSlices, token: Slice) -> tuple[list[dict[str, t.Any]], Step]:
    rows = slices.read(token, None)  # type: ignore[arg-type]
    out: list[dict[str, t.Any]] = []
    try:
        while True:
            out.append(next(rows))
    except StopIteration as stop:
        return out, stop.value


def walk_of(**options: t.Any) -> CreationSlices:
    return CreationSlices(START, END, parse=lambda reply: reply.rows, **options)  # type: ignore[attr-defined]


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize(
    ("cap", "churn"), [(50, (0, 0, 0)), (50, (2, 1, 1)), (20, (2, 1, 1)), (50, (6, 2, 2))]
)
def test_slices_side_by_side_miss_no_ticket_and_emit_in_creation_order(
    seed: int, cap: int, churn: tuple[int, int, int]
) -> None:
    rng = random.Random(seed)
    live = LiveList(rng, 1500, cap)
    present = set(live.tickets)
    slices = walk_of(target=200)
    emitted, steps = drive(slices, live, 4, random.Random(seed + 100), churn)
    ids = [row["id"] for row in emitted]
    assert len(ids) == len(set(ids)), "each ticket once"
    assert not (present - live.deleted) - set(ids), "a ticket present throughout is missed"
    times = [datetime.fromisoformat(row["creationTime"]) for row in emitted]
    assert times == sorted(times)
    marks = [s.bookmark for s in steps if s.bookmark is not None]
    assert marks == sorted(marks)
    assert slices.plan == [], "the walk ends with nothing held"
    if churn == (0, 0, 0):
        one = walk_of(target=200)
        alone, _ = drive(one, LiveList(random.Random(seed), 1500, cap), 1, random.Random(0))
        assert ids == [row["id"] for row in alone], "the same records as one at a time"
        assert slices.requests <= one.requests * 1.15 + 4


def test_a_too_large_later_slice_is_cut_shorter_in_place() -> None:
    live = LiveList(random.Random(5), 1200, 50)
    burst = START + timedelta(days=60)  # half of the tickets arrive within one hour
    for i in list(live.tickets)[:600]:
        live.tickets[i] = (burst + timedelta(seconds=i * 5), live.tickets[i][1])
    slices = walk_of(target=100, max_rows=200)
    emitted, _steps = drive(slices, live, 4, random.Random(2), (1, 0, 0))
    assert sorted(row["id"] for row in emitted) == sorted(live.tickets)
    assert slices.rereads > 0


def pair(token: Slice) -> list[dict[str, t.Any]]:
    """Two tickets inside `token` (a slice read whole in one answer)."""
    return [
        {"id": -n, "creationTime": token.start.isoformat(), "lastThreadElementCreationTime": "0"}
        for n in (1, 2)
    ]


def per_read(slices: CreationSlices) -> int:
    """The most one read of a slice can take (CreationSlices.request_limit)."""
    page = slices.largest or slices.take_size
    return math.ceil((slices.max_rows + page) / max(1, (page - 1) // 2)) + 2


def read_whole(slices: CreationSlices, first: Slice) -> None:
    """The first slice: two tickets, the page past the first, the look at its top."""
    rows = pair(first)
    for answer in (rows, rows[-1:], rows):
        (token,) = slices.ready()
        slices.take(token, answer)
    assert slices.slices == 1


def test_an_empty_slice_lets_the_next_grow_before_any_is_cut_ahead() -> None:
    """Slices that still grow 4-fold are sized from the one before them, not yet read:
    none is cut ahead then."""
    slices = walk_of()
    slices.plan_for(4)
    (first,) = slices.ready()
    slices.take(first, [])
    (second,) = slices.ready()
    assert second.end - second.start == 4 * (first.end - first.start)


def test_an_error_digested_early_is_raised_in_its_turn() -> None:
    """A later slice's answer outside its range is the run's error once the slices before
    it are out, not before."""
    slices = walk_of(target=4)
    slices.plan_for(4)
    (first,) = slices.ready()
    read_whole(slices, first)  # at a density that sizes the next: cut ahead
    head, later = slices.ready()
    outside = [{"id": 1, "creationTime": (later.end + timedelta(days=9)).isoformat()}]
    assert slices.peek(later, Reply(outside))  # type: ignore[arg-type]
    assert slices.ready() == [head, later], "held in its place, nothing asked after it"
    emitted, step = slices.take(head, [])
    assert emitted == []
    assert step.bookmark is None
    with pytest.raises(ProviderError, match="outside the range asked for"):
        drain(slices, later)


def test_one_slice_is_paged_ahead_and_the_next_cut_once_it_is_whole() -> None:
    """Requests in flight serve the next slice's pages; a slice after it is cut (at the
    density of the one before) only once it is read whole; the request limit counts
    every open read."""
    slices = walk_of(target=4)
    slices.plan_for(4)
    (first,) = slices.ready()
    assert slices.request_limit() == 130
    read_whole(slices, first)
    head, later = slices.ready()
    assert slices.request_limit() == 3 + 2 * per_read(slices)
    full = [
        {"id": i, "creationTime": later.start.isoformat(), "lastThreadElementCreationTime": "1"}
        for i in range(50)
    ]
    assert slices.peek(later, Reply(full))  # type: ignore[arg-type]
    assert slices.ready() == [head, later, Slice(later.start, later.end, skip=49)]
    assert slices.request_limit() == 3 + 2 * per_read(slices), "held: no new read"
    assert slices.peek(later.__class__(later.start, later.end, skip=49), Reply(full[-1:]))  # type: ignore[arg-type]
    recheck = Slice(later.start, later.end, recheck=True)
    assert slices.ready()[-1] == recheck
    assert slices.peek(recheck, Reply(full))  # type: ignore[arg-type]
    tokens = slices.ready()
    assert tokens[:4] == [head, later, Slice(later.start, later.end, skip=49), recheck]
    assert len(tokens) == 5, "whole: the slice after it is cut"
    assert tokens[4].start == later.end
    assert slices.request_limit() == 3 + 3 * per_read(slices)
