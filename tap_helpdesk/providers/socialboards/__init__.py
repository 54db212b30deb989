"""Socialboards tickets: POST {api_url}/tickets/list.

Docs: provider-docs/socialboards-tickets-list.txt; provider-notes.md section 2.

Auth (auth.py): `socialboards.refresh_token` and `socialboards.client_id` are exchanged
at POST {api_url}/token (form encoded) for a bearer token that lives about an hour. The
docs give resource paths only relative to a base they never name; the tap sends them to
the token host, api.socialboards.com.

Paging (slices.py, plan.py): the list is paged with skip/take and the only documented order is
`last_thread_activity_desc`, so a reply posted mid-sync moves its ticket from ahead of a
skip/take cursor to the top, behind it, where a plain walk never looks again. The tap reads
the creation-time range (`from`/`to` filter on creationTime, which never changes) in
slices, each a fixed set of tickets, never past the moment the sync started. A slice is
paged with one row of overlap, which proves that the tickets that did not move are all
read, and closed by a second look at its top, which picks up those that did (see
CreationSlices). Each slice is then emitted sorted by creation time, so the bookmark is
resumable. When the last page comes is read from the answers, never from `take` alone:
the API clamps it silently. With several requests in flight the next slice is paged
while the current one is read, its answers held until their turn (CreationSlices).

Modules: auth.py: the token exchange; bounds.py: a slice as it is sent, the ticket
fields read and the sizes of slices; plan.py: the slices in creation order, cut ahead
side by side, and the answers held until their turn (peek); slices.py: CreationSlices,
each answer read into its slice and a slice emitted whole; activity.py: the activity
walk of an incremental run; stream.py: the tickets stream.
"""

from __future__ import annotations

from singer_sdk import typing as th

from tap_helpdesk import settings
from tap_helpdesk.providers import Provider
from tap_helpdesk.providers.socialboards.auth import AccessTokens, RefreshTokenAuth
from tap_helpdesk.providers.socialboards.bounds import (
    MAX_ATTEMPTS,
    Slice,
    creation_time,
    format_bound,
)
from tap_helpdesk.providers.socialboards.slices import CreationSlices
from tap_helpdesk.providers.socialboards.stream import LABEL, STREAMS, SocialboardsTicketsStream

SETTINGS = th.ObjectType(
    th.Property(
        "client_id",
        th.StringType,
        title="Client ID",
        description="Inbox > Settings > Installation > Public API.",
    ),
    th.Property(
        "refresh_token",
        th.StringType,
        secret=True,
        title="Refresh token",
        description="A refresh token from the same Public API tab; exchanged at "
        "POST {api_url}/token for hour-long access tokens.",
    ),
    settings.api_url("https://api.socialboards.com", "https://api.socialboards.com"),
    th.Property(
        "full_refresh",
        th.BooleanType,
        default=False,
        title="Full refresh",
        description="Re-read every ticket since start_date on each run (the API can "
        "filter by creation time only, so this is the only way to see edits to old "
        "tickets).",
    ),
    *settings.rate_settings(
        10,
        300,
        "Socialboards publishes no limit: the minute's budget (300) is the one kept, with "
        "bursts of at most 10 a second (twice its average).",
    ),
    settings.concurrency(
        8,
        "The next creation-time slice is paged while the current one is read (up to 7 "
        "pages ahead, held until their turn). At 250 ms an answer: 291 requests/min of the "
        "300 at 8 against 233 at 1, the same records, 333 requests against 341, peak RSS "
        "x1.06 (docs/performance.md).",
    ),
)

PROVIDER = Provider("socialboards", LABEL, SETTINGS, ("client_id", "refresh_token"), STREAMS)


__all__ = [
    "LABEL",
    "MAX_ATTEMPTS",
    "PROVIDER",
    "SETTINGS",
    "STREAMS",
    "AccessTokens",
    "CreationSlices",
    "RefreshTokenAuth",
    "Slice",
    "SocialboardsTicketsStream",
    "creation_time",
    "format_bound",
]
