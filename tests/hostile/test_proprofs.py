"""Hostile answers to the ProProfs Help Desk ticket walk: every ticket, or one line.

Each server below emulates POST /app/api/v1/list/ticket/ (filtered by the last-modified
range and ticket IDs in the JSON body, 25 newest first per page, page links, a string
total_tickets, naive times in America/Chicago) and misbehaves in one way.
"""

from __future__ import annotations

import json
import time
import typing as t
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from tap_helpdesk.providers import PROVIDERS
from tests.hostile.server import (
    HostileServer,
    Reply,
    Seen,
    assert_clear_failure,
    assert_no_secret,
    json_reply,
    run_bounded,
)
from tests.tap_runner import TapRun
from tests.test_enneo_reporting import catalog_with

PATH = "/app/api/v1/list/ticket/"
EMAIL = "owner-hostile@proprofs-hostile.example.com"
TOKEN = "proprofs-hostile-token-0123456789abcdef"
SECRETS = (EMAIL, TOKEN)
TICKETS = "proprofs_tickets"
ZONE = ZoneInfo("America/Chicago")
NAIVE = "%Y-%m-%d %H:%M:%S"
T0 = datetime(2024, 3, 1, 8, 0, 0)  # naive Chicago time
Row = dict[str, t.Any]


def tickets(count: int, *, start: datetime = T0, first_id: int = 231000) -> list[Row]:
    """`count` tickets modified a minute apart from `start` (naive Chicago time)."""
    return [
        {
            "ticket_id": str(first_id + n),
            "ticket_subject": f"Ticket {n}",
            "ticket_status": "open",
            "deleted": "0",
            "messages": [{"message_plain_text": "hello", "created": start.strftime(NAIVE)}],
            "created_date_time": start.strftime(NAIVE),
            "modified_date_time": (start + timedelta(minutes=n)).strftime(NAIVE),
        }
        for n in range(count)
    ]


def chicago_now() -> datetime:
    return datetime.now(timezone.utc).astimezone(ZONE).replace(tzinfo=None, microsecond=0)


def config(url: str, **top: t.Any) -> dict[str, t.Any]:
    return {
        "start_date": "2024-01-01T00:00:00Z",
        "max_retries": 1,
        "backoff_base_seconds": 0.01,
        "request_timeout": 5,
        "proprofs": {
            "account_email": EMAIL,
            "token": TOKEN,
            "api_url": url,
            "requests_per_second": 200,
            "requests_per_minute": 100_000,
        },
        **top,
    }


class TicketList:
    """The list as ProProfs serves it; `rows_of` and `page_of` are what tests bend."""

    def __init__(self, data: list[Row], *, link_base: str | None = None) -> None:
        self.data = data
        self.link_base = link_base  # None: this server's own URL

    def matching(self, body: dict[str, t.Any]) -> list[Row]:
        low = body.get("start_last_modified_date") or ""
        high = body.get("end_last_modified_date") or "9999"
        first, last = body.get("start_ticket_id"), body.get("end_ticket_id")
        rows = [
            r
            for r in self.data
            if low <= r["modified_date_time"] <= high
            and (first is None or int(r["ticket_id"]) >= first)
            and (last is None or int(r["ticket_id"]) <= last)
        ]
        return sorted(rows, key=lambda r: r["modified_date_time"], reverse=True)

    def page_of(self, rows: list[Row], page: int) -> list[Row]:
        return rows[(page - 1) * 25 : page * 25]

    def next_page(self, rows: list[Row], page: int) -> int | None:
        return page + 1 if page * 25 < len(rows) else None

    def total(self, rows: list[Row]) -> int:
        return len(rows)

    def answer(self, seen: Seen, base: str) -> Reply:
        body = seen.json() or {}
        if body.get("account_email") != EMAIL or body.get("token") != TOKEN:
            return json_reply({"status": "error", "description": "Unable to authenticate"})
        page = int(seen.arg("page") or 1)
        rows = self.matching(body)
        following = self.next_page(rows, page)
        link_base = self.link_base or base
        return json_reply(
            {
                "status": "success",
                "ticket_data": {
                    "next_page_link": f"{link_base}{PATH}?page={following}" if following else "",
                    "total_tickets": str(self.total(rows)),
                    "page": page,
                    "ticket_per_page": 25,
                    "tickets": self.page_of(rows, page),
                },
            }
        )


def serve(listing: TicketList) -> HostileServer:
    holder: list[HostileServer] = []
    server = HostileServer(lambda seen: listing.answer(seen, holder[0].url))
    holder.append(server)
    return server


def ticket_ids(run: TapRun) -> list[str]:
    return sorted(r["ticket_id"] for r in run.records.get(TICKETS, []))


def bookmark(run: TapRun) -> str | None:
    states = [s for s in run.states if TICKETS in s.get("bookmarks", {})]
    if not states:
        return None
    return states[-1]["bookmarks"][TICKETS].get("replication_key_value")


def window_requests(server: HostileServer) -> list[Seen]:
    """Requests for the window holding T0 (other windows are empty)."""
    return [
        s
        for s in server.requests_to(PATH)
        if (s.json() or {}).get("start_last_modified_date", "")
        <= T0.strftime(NAIVE)
        <= (s.json() or {}).get("end_last_modified_date", "")
    ]


UTC_T0 = T0.replace(tzinfo=ZONE).astimezone(timezone.utc).isoformat()


# -- pages that repeat -----------------------------------------------------------------


def test_a_page_repeating_the_first_is_one_line_and_no_bookmark_past_it() -> None:
    data = tickets(60)

    class Repeating(TicketList):
        def page_of(self, rows: list[Row], page: int) -> list[Row]:
            return rows[:25]  # page 2 answers page 1's tickets

    with serve(Repeating(data)) as server:
        run = run_bounded(config(server.url))
    line = assert_clear_failure(run, "ProProfs Help Desk", "same rows", secrets=SECRETS)
    assert "page=2" in line
    assert len(run.records[TICKETS]) == 25, "only page 1 was emitted, once"
    value = bookmark(run)
    assert value is None or value < UTC_T0, "the state does not claim the window"
    assert len(window_requests(server)) == 2


def test_pages_that_overlap_are_read_again_in_halves_and_lose_nothing() -> None:
    data = tickets(60)

    class Overlapping(TicketList):
        def page_of(self, rows: list[Row], page: int) -> list[Row]:
            # page 2 starts 5 tickets early, page 3 on 5 late: 5 twice, 5 never
            start = (page - 1) * 25 + (0 if page == 1 else -5 if page == 2 else 5)
            return rows[start : start + 25]

    with serve(Overlapping(data)) as server:
        run = run_bounded(config(server.url))
    assert run.returncode == 0, run.stderr[-3000:]
    assert ticket_ids(run) == sorted(r["ticket_id"] for r in data), "every ticket, once"
    assert "reading them again in halves" in run.stderr
    assert bookmark(run) == "2024-03-01T14:59:00+00:00"


def test_links_alternating_between_two_pages_end_in_one_line() -> None:
    data = tickets(100)

    class Alternating(TicketList):
        def next_page(self, rows: list[Row], page: int) -> int | None:
            return 3 if page == 2 else 2  # 1 -> 2 -> 3 -> 2 -> 3 ...

    with serve(Alternating(data)) as server:
        run = run_bounded(config(server.url))
    assert_clear_failure(run, "ProProfs Help Desk", "page=2", "second time", secrets=SECRETS)
    assert [s.arg("page") for s in window_requests(server)] == [None, "2", "3"]
    assert len(run.records[TICKETS]) == 75


def test_links_that_go_on_forever_past_the_total_end_in_one_line() -> None:
    data = tickets(60)

    class Endless(TicketList):
        def page_of(self, rows: list[Row], page: int) -> list[Row]:
            return tickets(25, first_id=240000 + 25 * page)  # fresh tickets forever

        def next_page(self, rows: list[Row], page: int) -> int | None:
            return page + 1

    with serve(Endless(data)) as server:
        run = run_bounded(config(server.url))
    assert_clear_failure(run, "ProProfs Help Desk", "goes on past 4 pages for 60", secrets=SECRETS)
    assert len(window_requests(server)) == 4, "ceil(60 / 25) pages and one past the last"


# -- links that do not advance in a window paged ahead (several requests in flight) ------

#: in the window after the one holding T0 (2024-03-31 18:00 .. 2024-06-30 17:59:59 Chicago)
LATER = datetime(2024, 5, 1, 8, 0, 0)


class SlowFirstWindow(TicketList):
    """The window holding T0 answers slowly, so the next window's answers come first."""

    def answer(self, seen: Seen, base: str) -> Reply:
        body = seen.json() or {}
        if (
            body.get("start_last_modified_date", "")
            <= T0.strftime(NAIVE)
            <= body.get("end_last_modified_date", "")
        ):
            time.sleep(0.4)
        return super().answer(seen, base)


def later_requests(server: HostileServer) -> list[Seen]:
    """Requests for the window holding LATER."""
    return [
        s
        for s in server.requests_to(PATH)
        if (s.json() or {}).get("start_last_modified_date", "")
        <= LATER.strftime(NAIVE)
        <= (s.json() or {}).get("end_last_modified_date", "")
    ]


def wide(url: str) -> dict[str, t.Any]:
    settings = config(url)
    settings["proprofs"]["max_concurrent_requests"] = 4
    return settings


def test_links_alternating_in_a_window_paged_ahead_end_in_one_line() -> None:
    data = tickets(75) + tickets(100, start=LATER, first_id=250000)

    class Alternating(SlowFirstWindow):
        def next_page(self, rows: list[Row], page: int) -> int | None:
            if rows and rows[0]["ticket_id"] >= "250000":
                return 3 if page == 2 else 2  # 1 -> 2 -> 3 -> 2 -> 3 ...
            return super().next_page(rows, page)

    with serve(Alternating(data)) as server:
        run = run_bounded(wide(server.url))
    assert_clear_failure(run, "ProProfs Help Desk", "page=2", "second time", secrets=SECRETS)
    later = later_requests(server)
    assert [s.arg("page") for s in later] == [None, "2", "3"]
    sent = server.requests_to(PATH)
    assert sent.index(later[-1]) < sent.index(window_requests(server)[1]), "paged ahead"
    # as at one request at a time: the window before it whole, its own three pages read
    # in their turn (the repeat shows when its third page is read), then the line
    assert len(run.records[TICKETS]) == 150
    assert bookmark(run) == "2024-03-01T15:14:00+00:00", "the window before it, no further"


def test_links_going_on_past_the_total_in_a_window_paged_ahead_end_in_one_line() -> None:
    data = tickets(30) + tickets(60, start=LATER, first_id=250000)

    class Endless(SlowFirstWindow):
        def page_of(self, rows: list[Row], page: int) -> list[Row]:
            if rows and rows[0]["ticket_id"] >= "250000":
                return tickets(25, start=LATER, first_id=260000 + 25 * page)
            return super().page_of(rows, page)

        def next_page(self, rows: list[Row], page: int) -> int | None:
            if rows and rows[0]["ticket_id"] >= "250000":
                return page + 1  # fresh tickets forever
            return super().next_page(rows, page)

    with serve(Endless(data)) as server:
        run = run_bounded(wide(server.url))
    assert_clear_failure(run, "ProProfs Help Desk", "goes on past 4 pages for 60", secrets=SECRETS)
    assert len(later_requests(server)) == 4, "ceil(60 / 25) pages and one past the last"
    assert sorted(r["ticket_id"] for r in data[:30]) == sorted(
        r["ticket_id"] for r in run.records[TICKETS] if r["ticket_id"] < "250000"
    ), "the window before it came whole, once"
    assert bookmark(run) == "2024-03-01T14:29:00+00:00", "its bookmark, none past it"


def test_a_page_link_to_another_host_is_used_for_its_query_only() -> None:
    data = tickets(60)
    with HostileServer(lambda seen: json_reply({"status": "success"})) as elsewhere:
        with serve(TicketList(data, link_base=elsewhere.url)) as server:
            run = run_bounded(config(server.url))
        assert elsewhere.seen == [], "nothing reached the other host"
    assert run.returncode == 0, run.stderr[-3000:]
    assert ticket_ids(run) == sorted(r["ticket_id"] for r in data)
    assert [s.arg("page") for s in window_requests(server)] == [None, "2", "3"]
    assert_no_secret(run, SECRETS)


class BlankInLinks(TicketList):
    """Page links with a blank parameter (`?page=2&view=`), as some servers write them."""

    def answer(self, seen: Seen, base: str) -> Reply:
        reply = super().answer(seen, base)
        body = reply.payload().replace(b"?page=", b"?view=&page=")
        return Reply(reply.status, body, reply.headers)


def test_a_page_link_is_sent_as_the_server_wrote_it() -> None:
    # The SDK's authenticators rebuild the query (parse_qs, urlencode) even with nothing
    # to add, which drops a blank value: the link's query must reach the server unchanged.
    data = tickets(60)
    with serve(BlankInLinks(data)) as server:
        run = run_bounded(config(server.url))
    assert run.returncode == 0, run.stderr[-3000:]
    assert ticket_ids(run) == sorted(r["ticket_id"] for r in data)
    assert [s.query for s in window_requests(server)] == [
        {},
        {"view": [""], "page": ["2"]},
        {"view": [""], "page": ["3"]},
    ]


class FailsOnPageThree(TicketList):
    def answer(self, seen: Seen, base: str) -> Reply:
        if seen.arg("page") == "3":
            return json_reply({"status": "error", "description": "Internal failure"}, 400)
        return super().answer(seen, base)


def test_a_run_that_fails_reports_the_messages_it_wrote_and_a_failed_sync() -> None:
    with serve(FailsOnPageThree(tickets(80))) as server:
        run = run_bounded(config(server.url))
    assert_clear_failure(run, "Internal failure")
    written = len(run.records.get("proprofs_ticket_messages", []))
    assert written == 50  # the two pages before the failure, one message a ticket
    (count, records, _), (timer, seconds, status) = run.metrics("proprofs_ticket_messages")
    assert (count, records) == ("record_count", written)
    assert (timer, status) == ("sync_duration", "failed")
    assert seconds >= 0
    assert len(window_requests(server)) == 3


# -- answers that are no list ----------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (
            json_reply({"status": "error", "description": "Internal failure, try later"}),
            ("Internal failure, try later", "tickets last modified"),
        ),
        (json_reply({"status": "error"}), ("without status success",)),
        (json_reply({"ticket_data": {"tickets": []}}), ("without status success",)),
        (Reply(200, b"", {"Content-Type": "application/json"}), ("expected JSON", "empty body")),
        (
            Reply(
                200,
                b"<html><body><h1>Maintenance</h1></body></html>",
                {"Content-Type": "text/html"},
            ),
            ("expected JSON", "text/html", "Maintenance"),
        ),
    ],
    ids=["error-envelope", "bare-error", "no-status", "empty-body", "html"],
)
def test_a_second_page_that_is_no_list_is_one_line(reply: Reply, words: tuple[str, ...]) -> None:
    data = tickets(60)
    listing = TicketList(data)

    def script(seen: Seen) -> Reply:
        return reply if seen.arg("page") == "2" else listing.answer(seen, server.url)

    server = HostileServer(script)
    with server:
        run = run_bounded(config(server.url))
    assert_clear_failure(run, "ProProfs Help Desk", *words, secrets=SECRETS)
    assert ticket_ids(run) == sorted(r["ticket_id"] for r in data[-25:]), "page 1 only"
    value = bookmark(run)
    assert value is None or value < UTC_T0, "the state does not claim the window"
    assert sum(s.arg("page") == "2" for s in server.seen) == 1, "not retried"


@pytest.mark.parametrize(
    ("total", "words", "requests"),
    [(70, "do not add up to total_tickets", 5 * 3), (10, "goes on past 2 pages for 10", 2)],
)
def test_a_total_that_does_not_match_the_rows_served_is_one_line(
    total: int, words: str, requests: int
) -> None:
    data = tickets(60)

    class Miscounting(TicketList):
        def total(self, rows: list[Row]) -> int:
            return total if rows else 0

    with serve(Miscounting(data)) as server:
        run = run_bounded(config(server.url))
    assert_clear_failure(run, "ProProfs Help Desk", words, secrets=SECRETS)
    assert len(window_requests(server)) == requests, "bounded: re-read whole, never split"
    value = bookmark(run)
    assert value is None or value < UTC_T0


def test_a_total_above_the_rows_of_one_page_is_not_taken_as_complete() -> None:
    data = tickets(20)

    class Short(TicketList):
        def total(self, rows: list[Row]) -> int:
            return len(rows) + 1 if rows else 0

    with serve(Short(data)) as server:
        run = run_bounded(config(server.url))
    assert_clear_failure(run, "ProProfs Help Desk", "total_tickets 21 then 21", secrets=SECRETS)
    assert len(window_requests(server)) == 5, "MAX_ATTEMPTS reads of the window"


# -- time ------------------------------------------------------------------------------


def state_at(value: str) -> dict[str, t.Any]:
    return {
        "bookmarks": {
            TICKETS: {"replication_key": "modified_date_time", "replication_key_value": value}
        }
    }


def test_a_bookmark_far_in_the_future_is_a_warning_and_an_empty_run() -> None:
    listing = TicketList(tickets(60, start=chicago_now() - timedelta(hours=3)))
    future = (datetime.now(timezone.utc) + timedelta(days=30)).replace(microsecond=0)
    with serve(listing) as server:
        started = time.monotonic()
        run = run_bounded(config(server.url), state=state_at(future.isoformat()))
        took = time.monotonic() - started
    assert run.returncode == 0, run.stderr[-3000:]
    assert took < 30, "no sleeping until the bookmark's time"
    assert "later than now" in run.stderr
    assert server.seen == [], "nothing is read for it"
    assert run.records.get(TICKETS, []) == []
    assert bookmark(run) in (None, future.isoformat()), "the state is left as it was"


def test_a_bookmark_just_ahead_with_pages_after_it_ends_at_once_and_keeps_it() -> None:
    # within the engine's slack: the walk starts there, and the server (its clock an hour
    # ahead) has two pages of tickets after it; no window ending in our past holds them
    now = chicago_now()
    ahead = tickets(40, start=now + timedelta(minutes=11), first_id=600000)
    start = (datetime.now(timezone.utc) + timedelta(minutes=10)).replace(microsecond=0)
    with serve(TicketList(tickets(10) + ahead)) as server:
        started = time.monotonic()
        run = run_bounded(config(server.url, lookback_days=0), state=state_at(start.isoformat()))
        took = time.monotonic() - started
    assert run.returncode == 0, run.stderr[-3000:]
    assert took < 30, "no sleeping until our clock passes the bookmark"
    assert "reach past this machine's clock" in run.stderr
    assert "left to the next run" in run.stderr
    assert bookmark(run) in (None, start.isoformat()), "the next run starts before them"
    assert len(server.requests_to(PATH)) == 1, "the tail from the bookmark, and no more"


def test_a_server_clock_ahead_ends_the_walk_without_sleeping_and_keeps_the_bookmark() -> None:
    # the server stamps tickets two hours ahead of this machine: the tail from the end of
    # the windows never fits on one page, and no window ending in our past can hold them
    ahead = tickets(40, start=chicago_now() + timedelta(hours=2), first_id=500000)
    past = tickets(10)
    with serve(TicketList(past + ahead)) as server:
        started = time.monotonic()
        run = run_bounded(config(server.url))
        took = time.monotonic() - started
    assert run.returncode == 0, run.stderr[-3000:]
    assert took < 30, "no sleeping, no chase of 50 tails"
    assert "reach past this machine's clock" in run.stderr
    assert {r["ticket_id"] for r in past} <= set(ticket_ids(run))
    value = bookmark(run)
    first_ahead = min(r["modified_date_time"] for r in ahead)
    first_ahead_utc = (
        datetime.strptime(first_ahead, NAIVE).replace(tzinfo=ZONE).astimezone(timezone.utc)
    )
    assert value is not None
    assert datetime.fromisoformat(value) < first_ahead_utc, "the next run reads them again"


# -- secrets ---------------------------------------------------------------------------


def default_width() -> int:
    """ProProfs' default max_concurrent_requests."""
    block = PROVIDERS["proprofs"].settings.to_dict()["properties"]
    return int(block["max_concurrent_requests"]["default"])


def test_credentials_travel_in_the_body_and_are_never_printed_even_at_debug() -> None:
    data = tickets(60)
    listing = TicketList(data)
    failures = iter([Reply(500, b"oops"), json_reply({"status": "error", "description": "Boom"})])

    def script(seen: Seen) -> Reply:
        if seen.arg("page") == "2":
            return next(failures)
        return listing.answer(seen, server.url)

    server = HostileServer(script)
    with server:
        run = run_bounded(config(server.url), env={"TAP_HELPDESK_LOGLEVEL": "DEBUG"})
    assert "DEBUG" in run.stderr, "debug logging was on"
    assert_clear_failure(run, "ProProfs Help Desk", "Boom", secrets=SECRETS)
    assert_no_secret(run, SECRETS)
    # The failure ends the run at once: a request of another window still being sent then
    # (up to max_concurrent_requests - 1 of them) is cut off at exit, its body unsent.
    whole = [s for s in server.seen if len(s.body) == int(s.headers.get("content-length", 0))]
    assert len(server.seen) - len(whole) < default_width()
    for seen in server.seen:
        assert seen.method == "POST"
        assert TOKEN not in json.dumps(seen.query)
        assert TOKEN not in json.dumps(seen.headers)
    for seen in whole:
        assert (seen.json() or {}).get("token") == TOKEN, "in the JSON body"
    assert sum(s.arg("page") == "2" for s in server.seen) == 2, "the 500 retried once"


@pytest.mark.parametrize("tickets_only", [False, True], ids=["with-messages", "tickets-only"])
@pytest.mark.parametrize("value", ["2024-03-01 08:61:00", "03/01/2024 08:00:00"])
def test_a_message_time_that_is_no_time_is_one_line_naming_the_ticket(
    value: str, tickets_only: bool
) -> None:
    data = tickets(40)
    data[7]["messages"][0]["created"] = value
    with serve(TicketList(data)) as server:
        settings = config(server.url)
        catalog = catalog_with(settings, [TICKETS]) if tickets_only else None
        run = run_bounded(settings, catalog=catalog)
    line = assert_clear_failure(run, "record ticket_id='231007'", repr(value), secrets=[TOKEN])
    # with its stream selected, the messages stream reads them first
    where = (
        "proprofs_tickets record ticket_id='231007': field 'messages.created'"
        if tickets_only
        else "proprofs_ticket_messages record ticket_id='231007', position=1: field 'created'"
    )
    assert f"ProProfs Help Desk: {where}" in line
    assert "UnreadableValue" not in line
    assert value not in json.dumps(run.records)
