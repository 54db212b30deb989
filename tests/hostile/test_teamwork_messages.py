"""Hostile answers to the Teamwork Desk walks with messages: every record, or one line.

Each server emulates the ticket list as the tap asks for it (updatedAt >= the cursor,
`page`, archived tickets only with `archived=true`, `included.messages` with
`includes=messages`) and misbehaves in one way.
"""

from __future__ import annotations

import json
import threading
import time
import typing as t
from datetime import datetime, timedelta

import pytest

from tests.hostile.server import (
    HostileServer,
    Reply,
    Seen,
    assert_clear_failure,
    assert_no_secret,
    json_reply,
    run_bounded,
)

TEAMWORK_KEY = "tkn.v1_hostile-teamwork-key-0123456789"
T0 = datetime(2024, 3, 1, 8, 0, 0)
TICKETS = "teamwork_desk_tickets"
MESSAGES = "teamwork_desk_messages"
THREAD_TYPES = ("message", "note", "message", "forward", "eventInfo")


def config(url: str, **top: t.Any) -> dict[str, t.Any]:
    return {
        "start_date": "2024-01-01T00:00:00Z",
        "max_retries": 2,
        "backoff_base_seconds": 0.01,
        "request_timeout": 5,
        "teamwork_desk": {"api_key": TEAMWORK_KEY, "api_url": url, "requests_per_minute": 60000},
        **top,
    }


def stamp(moment: datetime) -> str:
    return moment.isoformat() + "Z"


class Desk:
    """Tickets (some archived) and their threads, listed as the real API would."""

    def __init__(self, active: int, archived: int, *, archived_param: str = "only") -> None:
        #: what archived=true does: lists archived tickets "only", "both" kinds, or is
        #: "ignored" (archived tickets always listed); the docs do not say
        self.archived_param = archived_param
        self.lock = threading.Lock()
        self.tickets: dict[int, dict[str, t.Any]] = {}
        self.threads: dict[int, list[dict[str, t.Any]]] = {}
        for n in range(active + archived):
            self.add_ticket(n + 1, T0 + timedelta(seconds=n), archived=n >= active)

    def add_ticket(self, ticket_id: int, updated: datetime, *, archived: bool) -> None:
        self.tickets[ticket_id] = {
            "id": ticket_id,
            "updatedAt": stamp(updated),
            "state": "deleted" if ticket_id % 10 == 0 else "active",
            "archived": archived,
        }
        self.threads[ticket_id] = [
            self.message(ticket_id, ticket_id * 10 + k, updated - timedelta(hours=3 - k), kind)
            for k, kind in enumerate(THREAD_TYPES[: 1 + ticket_id % 5])
        ]

    @staticmethod
    def message(ticket_id: int, message_id: int, at: datetime, kind: str) -> dict[str, t.Any]:
        return {
            "id": message_id,
            "ticket": {"id": ticket_id, "type": "tickets"},
            "threadType": kind,
            "createdAt": stamp(at),
            "createdBy": {"id": 1, "type": "customers" if message_id % 10 == 0 else "users"},
        }

    def add_message(self, ticket_id: int, at: datetime) -> int:
        """A customer writes again: a new message, and the ticket's updatedAt moves."""
        with self.lock:
            message_id = ticket_id * 10 + 9
            self.threads[ticket_id].append(self.message(ticket_id, message_id, at, "message"))
            ticket = self.tickets[ticket_id]
            ticket.update(updatedAt=stamp(at), archived=False)
            return message_id

    def message_ids(self) -> list[int]:
        return sorted(m["id"] for thread in self.threads.values() for m in thread)

    def listed(self, ticket: dict[str, t.Any], archived: bool) -> bool:
        if self.archived_param == "ignored":
            return True
        if self.archived_param == "both" and archived:
            return True
        return bool(ticket["archived"]) == archived

    def body(self, seen: Seen) -> dict[str, t.Any]:
        query = json.loads(seen.arg("filter") or "{}")
        low = query.get("updatedAt", {}).get("$gte", "")
        states = query.get("state", {}).get("$in", ["active"])
        archived = seen.arg("archived") == "true"
        size = min(int(seen.arg("pageSize") or 50), 100)
        page = int(seen.arg("page") or 1)
        with self.lock:
            matching = sorted(
                (
                    r
                    for r in self.tickets.values()
                    if r["updatedAt"] >= low and r["state"] in states and self.listed(r, archived)
                ),
                key=lambda r: (r["updatedAt"], r["id"]),
            )
            chunk = [dict(r) for r in matching[(page - 1) * size : page * size]]
            included: dict[str, t.Any] = {}
            if "messages" in (seen.arg("includes") or "").split(","):
                included["messages"] = [dict(m) for r in chunk for m in self.threads[r["id"]]]
        return {
            "tickets": chunk,
            "included": included,
            "meta": {"page": {"hasMore": page * size < len(matching)}},
        }


def message_ids(run: t.Any) -> list[int]:
    return [m["id"] for m in run.records.get(MESSAGES, [])]


def assert_complete(run: t.Any, desk: Desk) -> None:
    assert run.returncode == 0, run.stderr[-2000:]
    assert sorted(run.ids(TICKETS)) == sorted(desk.tickets)
    emitted = message_ids(run)
    assert len(emitted) == len(set(emitted)), "each message once per run"
    assert sorted(emitted) == desk.message_ids()
    assert_no_secret(run, [TEAMWORK_KEY])


def test_archived_and_deleted_tickets_and_their_messages_all_arrive() -> None:
    desk = Desk(active=230, archived=170)
    with HostileServer(lambda seen: json_reply(desk.body(seen))) as server:
        run = run_bounded(config(server.url))
    assert_complete(run, desk)
    archived = [s for s in server.seen if s.arg("archived") == "true"]
    assert len(archived) == 2, "170 archived tickets: two pages of the archived walk"
    assert all("messages" in (s.arg("includes") or "") for s in server.seen)
    deleted = {r["id"] for r in run.records[TICKETS] if r["state"] == "deleted"}
    assert deleted == {i for i, r in desk.tickets.items() if r["state"] == "deleted"}
    kinds = {m["threadType"] for m in run.records[MESSAGES]}
    assert kinds == {"message", "note", "forward", "eventInfo"}


@pytest.mark.parametrize("archived_param", ["both", "ignored"])
def test_archived_true_listing_more_than_archived_tickets_is_no_error(archived_param: str) -> None:
    """Both walks' pages then share rows (all of them where the API ignores the flag):
    each ticket arrives, each message once, and no 'same rows again' is reported."""
    desk = Desk(active=180, archived=60, archived_param=archived_param)
    with HostileServer(lambda seen: json_reply(desk.body(seen))) as server:
        run = run_bounded(config(server.url))
    assert_complete(run, desk)
    assert any(s.arg("archived") == "true" for s in server.seen)


def test_cut_answers_are_read_again_and_lose_no_message() -> None:
    desk = Desk(active=320, archived=150)
    answered: set[str] = set()

    def script(seen: Seen) -> Reply:
        reply = json_reply(desk.body(seen))
        key = json.dumps(seen.query, sort_keys=True)
        if key not in answered:  # each request's first answer stops halfway
            answered.add(key)
            reply.cut_at = len(reply.payload()) // 2
        return reply

    with HostileServer(script) as server:
        run = run_bounded(config(server.url))
    assert_complete(run, desk)
    assert len(server.seen) == 2 * len(answered)


def test_a_page_answered_again_for_the_next_request_is_one_clear_line() -> None:
    desk = Desk(active=450, archived=0)
    previous: list[dict[str, t.Any]] = []

    def script(seen: Seen) -> Reply:
        body = desk.body(seen)
        if len(previous) == 2:  # the second page asked for gets the first again
            body = previous[-1]
        previous.append(body)
        return json_reply(body)

    with HostileServer(script) as server:
        run = run_bounded(config(server.url))
    # the repeated page starts before the cursor: paging on could skip tickets
    assert_clear_failure(run, "Teamwork Desk", "order", secrets=[TEAMWORK_KEY])
    assert len(server.seen) == 3
    emitted = message_ids(run)
    assert len(emitted) == len(set(emitted)), "what was written is written once"
    assert run.final_state["bookmarks"][TICKETS]["replication_key_value"] == (
        desk.tickets[100]["updatedAt"].replace("Z", "+00:00")
    ), "the state resumes from the last whole page"


def test_429_with_rate_limit_headers_is_waited_out() -> None:
    desk = Desk(active=250, archived=120)
    times: list[float] = []

    def script(seen: Seen) -> Reply:
        times.append(time.monotonic())
        if len(times) in (2, 5):
            return json_reply(
                {"errors": [{"code": "rate_limited"}]},
                429,
                **{
                    "X-Rate-Limit-Limit": "120",
                    "X-Rate-Limit-Remaining": "0",
                    "X-Rate-Limit-Reset": "1",
                },
            )
        return json_reply(desk.body(seen))

    with HostileServer(script) as server:
        run = run_bounded(config(server.url))
    assert_complete(run, desk)
    assert len(server.seen) == 2 + 5  # 3 + 2 pages, each 429 asked again once
    for refused in (1, 4):
        assert times[refused + 1] - times[refused] >= 0.9, "the reset was waited out"


def test_a_message_added_mid_run_arrives_and_the_others_stay_once() -> None:
    desk = Desk(active=300, archived=100)
    added: list[int] = []

    def script(seen: Seen) -> Reply:
        if len(added) < 3 and seen.arg("archived") != "true" and seen.arg("page") in (None, "1"):
            # a customer writes on an early (and an archived) ticket while the walk goes on
            ticket = (5, 350, 120)[len(added)]
            added.append(desk.add_message(ticket, T0 + timedelta(days=1, seconds=len(added))))
        return json_reply(desk.body(seen))

    with HostileServer(script) as server:
        run = run_bounded(config(server.url))
    assert len(added) == 3
    assert_complete(run, desk)
    assert set(added) <= set(message_ids(run))


def bad_message_server(change: t.Callable[[dict[str, t.Any]], None]) -> HostileServer:
    desk = Desk(active=120, archived=0)

    def script(seen: Seen) -> Reply:
        body = desk.body(seen)
        if body["tickets"] and body["tickets"][0]["id"] == 1:
            change(body)
        return json_reply(body)

    return HostileServer(script)


def _set_time(body: dict[str, t.Any]) -> None:
    body["included"]["messages"][0]["createdAt"] = "yesterday-ish"


def _not_a_list(body: dict[str, t.Any]) -> None:
    body["included"]["messages"] = {"10": body["included"]["messages"][0]}


def _no_id(body: dict[str, t.Any]) -> None:
    del body["included"]["messages"][0]["id"]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (_set_time, ("teamwork_desk_messages", "id=10", "yesterday-ish")),
        (_not_a_list, ("included.messages", "not a list")),
        (_no_id, ("included.messages", "without an id")),
    ],
    ids=["unreadable-time", "not-a-list", "no-id"],
)
def test_a_message_the_stream_cannot_hold_is_one_clear_line(
    change: t.Callable[[dict[str, t.Any]], None], words: tuple[str, ...]
) -> None:
    with bad_message_server(change) as server:
        run = run_bounded(config(server.url))
    assert_clear_failure(run, "Teamwork Desk", *words, secrets=[TEAMWORK_KEY])


def test_unknown_thread_types_and_new_fields_are_carried_through() -> None:
    def change(body: dict[str, t.Any]) -> None:
        first = body["included"]["messages"][0]
        first.update(threadType="whatsapp", sentimentScore=0.7)

    with bad_message_server(change) as server:
        run = run_bounded(config(server.url))
    assert run.returncode == 0, run.stderr[-2000:]
    first = next(m for m in run.records[MESSAGES] if m["id"] == 10)
    assert first["threadType"] == "whatsapp"
    assert first["sentimentScore"] == 0.7
