"""ProProfs Help Desk tickets and their messages.

Docs: provider-docs/proprofs-ticket-list.txt; provider-notes.md section 4.
POST {api_url}/app/api/v1/list/ticket/ with the credentials and filters in a JSON body
(so no request body is ever logged). The last-modified range "should fall within a
3-month range" and answers come 25 per page with a `next_page_link`; a failure is the
envelope {"status": "error", "description": ...}, even under HTTP 200. Every time, in the
request and in the answer, is naive text in the account zone (`proprofs.timezone`).

Completeness does not depend on the (undocumented) order of the pages. Page-number paging
loses a ticket when the list changes under it, so every window we page through ends in the
past: a ticket modified mid-walk can only leave it, which `total_tickets` shows. A walk
whose total changed is read again in halves (a busy second by ticket ID) until each part is
read unchanged; a single page is always a consistent snapshot. Tickets that left are met in
the tail: after the windows, what was modified since they end is asked for "from start
only"; on one page that is a snapshot and the walk ends, else it is read as one more window
ending now and the tail is asked for again. The bookmark moves only when a window is
complete, so a killed run resumes without gaps whatever order the tickets came in.

On the walk engine (tap_helpdesk.engine): `TicketWalk` (walk.py) hands out the planned
windows together, reads each answer into a `Step` (the bookmark of a completed window,
notes instead of log lines) and never sleeps; the stream (stream.py) builds the requests,
reads the envelope and the records. With several requests in flight the window read next
is paged side by side with the one being read: its answers, arrived ahead of their turn,
give the walk their next_page_link (`peek`) and stay held by the engine until their turn,
when they are read exactly as at one request at a time. A window whose first page's
total_tickets shows more than two parts' worth of pages (`ahead.split_plan`: parts of
max(8, width - 2) pages, a part the engine can hold whole while the one before is read) is
read in time parts instead, each a slice like any other (totals checked, re-read in
halves when it changed), read in time order and paged side by side: a later window decides
from its first page peeked ahead of its turn (that answer is dropped: its tickets come in
its parts); the first window's first page is read in its turn, its tickets emitted and
their IDs kept (`Emitted.guard`) until its parts are read. The bookmark moves at the end
of a part once every part before it is read. At one in flight nothing is split or peeked.
walk.py: `TicketWalk`, the walk that reads answers in turn (pages, totals, re-reads, the
tail, the bookmark); ahead.py: its planning for several in flight (`ReadAhead`: plan_for,
peek and the pages held for a slice, `split_plan`: time parts); pages.py: a request
(`PageToken`), an answer (`Page`) and what a read met (`Progress`); slices.py: windows,
their halves and parts; emitted.py: which tickets were emitted; records.py: value helpers.
"""

from __future__ import annotations

from singer_sdk import typing as th

from tap_helpdesk import settings
from tap_helpdesk.providers import Provider
from tap_helpdesk.providers.proprofs.emitted import EVERYTHING, Emitted
from tap_helpdesk.providers.proprofs.pages import Page, PageToken
from tap_helpdesk.providers.proprofs.records import (
    as_bool,
    as_integer,
    as_list,
    as_object,
    link_query,
    message_rows,
)
from tap_helpdesk.providers.proprofs.slices import (
    Slice,
    split_ids,
    split_time,
    three_month_windows,
)
from tap_helpdesk.providers.proprofs.stream import (
    LABEL,
    STREAMS,
    ProProfsTicketMessagesStream,
    ProProfsTicketsStream,
)
from tap_helpdesk.providers.proprofs.walk import TicketWalk

SETTINGS = th.ObjectType(
    th.Property(
        "account_email",
        th.StringType,
        title="Account email",
        description="The e-mail the Help Desk account was registered with.",
    ),
    th.Property(
        "token",
        th.StringType,
        secret=True,
        title="API token",
        description="The ProProfs API key from the Help Desk 'My Account' page.",
    ),
    settings.api_url("https://www.proprofsdesk.com", "https://www.proprofsdesk.com"),
    settings.timezone(
        "America/Chicago", "The account's global time zone; ProProfs' default is America/Chicago."
    ),
    *settings.rate_settings(
        10,
        300,
        "ProProfs publishes no limit: the minute's budget (300) is the one kept, with bursts "
        "of at most 10 a second (twice its average).",
    ),
    settings.concurrency(
        16,
        "Above 1 a window whose first page shows many pages is read in time parts paged "
        "side by side, the window read next paged ahead (answers held until their turn). "
        "At 16, 250 ms an answer and the default rates: 306 requests/min of 300 over the "
        "run (at most 300 in any 60 s), 0 429s, 334 requests where the fewest is 323 "
        "(docs/performance.md).",
    ),
)

PROVIDER = Provider("proprofs", LABEL, SETTINGS, ("account_email", "token"), STREAMS)


__all__ = [
    "EVERYTHING",
    "LABEL",
    "PROVIDER",
    "SETTINGS",
    "STREAMS",
    "Emitted",
    "Page",
    "PageToken",
    "ProProfsTicketMessagesStream",
    "ProProfsTicketsStream",
    "Slice",
    "TicketWalk",
    "as_bool",
    "as_integer",
    "as_list",
    "as_object",
    "link_query",
    "message_rows",
    "split_ids",
    "split_time",
    "three_month_windows",
]
