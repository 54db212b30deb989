"""Socialboards tickets: POST {api_url}/tickets/list.

Docs: provider-docs/socialboards-tickets-list.txt; provider-notes.md section 2.

Auth: `socialboards.refresh_token` and `socialboards.client_id` are exchanged at
POST {api_url}/token (form encoded) for a bearer token that lives about an hour. The docs
give resource paths only relative to a base they never name; the tap sends them to the
token host, api.socialboards.com.

Paging: the list is paged with skip/take and the only documented order is
`last_thread_activity_desc`, so a reply posted mid-sync moves its ticket from ahead of a
skip/take cursor to the top, behind it, where a plain walk never looks again. The tap reads
the creation-time range (`from`/`to` filter on creationTime, which never changes) in
slices, each a fixed set of tickets, never past the moment the sync started. A slice is
paged with one row of overlap, which proves that the tickets that did not move are all
read, and closed by a second look at its top, which picks up those that did (see
CreationSlices). Each slice is then emitted sorted by creation time, so the bookmark is
resumable. When the last page comes is read from the answers, never from `take`: the API
clamps it silently.
"""

from __future__ import annotations

import sys
import time
import typing as t
from bisect import bisect_right
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from functools import cached_property
from urllib.parse import urlparse

import requests
from singer_sdk.exceptions import RetriableAPIError
from singer_sdk.pagination import BaseAPIPaginator

from tap_helpdesk.client import (
    RETRIABLE_STATUSES,
    USER_AGENT,
    HelpdeskStream,
    response_snippet,
)
from tap_helpdesk.errors import ProviderError
from tap_helpdesk.redaction import register_secret
from tap_helpdesk.schemas import load_schema
from tap_helpdesk.timestamps import parse_datetime

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Iterable, Mapping

    from singer_sdk.helpers.types import Context

LABEL = "Socialboards"
TAKE = 50  # documented maximum ("Max value is 50. default: 25"); larger values are clamped
ORDER_BY = "last_thread_activity_desc"  # the only TicketListOrderBy value the docs show
ACTIVITY = "lastThreadElementCreationTime"  # what that order sorts by, newest first
FIRST_WIDTH = timedelta(days=1)  # the first slice; later ones are sized from the density
TARGET_ROWS = 700  # tickets a slice is sized for (about 14 pages)
MAX_SLICE_ROWS = 3000  # a slice is held whole to be sorted: narrow it beyond this
MIN_SPAN = timedelta(milliseconds=1)  # narrower slices are re-read, not split
MAX_GROWTH = 4.0  # a slice is at most this many times wider than the one before
MAX_ATTEMPTS = 5  # reads of an unsplittable slice before giving up on it
DEFAULT_TOKEN_SECONDS = 3600.0  # "the access token lives about an hour"
CREDENTIALS = "socialboards.refresh_token and socialboards.client_id"
_EARLIEST = datetime.min.replace(tzinfo=timezone.utc)


def format_bound(moment: datetime) -> str:
    """A slice bound written like the API's own times: 7 fractional digits and an offset."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0+00:00"


def creation_time(row: Mapping[str, t.Any]) -> datetime:
    """A ticket's creation time as an aware datetime (the earliest moment if unreadable)."""
    value = row.get("creationTime")
    if isinstance(value, str) and value:
        try:
            return parse_datetime(value, timezone.utc).astimezone(timezone.utc)
        except (TypeError, ValueError):
            pass
    return _EARLIEST


@dataclass(frozen=True)
class Slice:
    """One request: tickets created in [start, end], from `skip` on.

    `recheck` marks the closing look at the top of a slice read in several pages;
    `attempt` counts re-reads of a slice too narrow to split.
    """

    start: datetime
    end: datetime
    skip: int = 0
    recheck: bool = False
    attempt: int = 0

    def describe(self) -> str:
        """The slice as it is sent, for log and error lines."""
        return f"creationTime {format_bound(self.start)}..{format_bound(self.end)}"


class CreationSlices:
    """Walks [start, end] in creation-time slices and says which tickets to emit when.

    Each slice is a fixed set (creation times never change) listed newest activity first.
    A slice that fits in one answer is a snapshot. A longer one is paged with skip, each
    page starting at the last row of the one before (the anchor):
    - tickets that do not move keep their relative order, so while the anchor is found,
      everything after it is still ahead; rows before it were read already (a reply
      moved a ticket above, pushing them down) or are simply added;
    - tickets that do move go to the very top, behind the cursor. A last look at the top
      of the slice picks them up; it is conclusive once it shows a ticket of the first
      page unchanged, since every ticket that moved since sits above that one.
    An anchor that is gone (it moved, or tickets were deleted above it) or a top that is
    all moved tickets makes the slice be read again, narrower.

    A slice is emitted only when whole, sorted by creation time. Each next slice is sized
    for `target` tickets at the density of the last one (at most 4 times wider); one that
    grows past `max_rows` tickets is dropped and cut shorter where its tickets lie.

    The last page is the one shorter than the largest answer the server has given in
    this run (it clamps `take` silently), or empty; never a comparison with `take`.
    """

    def __init__(
        self,
        start: datetime,
        end: datetime,
        *,
        target: int = TARGET_ROWS,
        max_rows: int = MAX_SLICE_ROWS,
        note: Callable[[str], None] | None = None,
    ) -> None:
        self.end = end
        self.target = target
        self.max_rows = max_rows
        self.note = note
        self.width = FIRST_WIDTH  # of the next slice
        self.current: Slice | None = Slice(start, min(start + self.width, end))
        self.largest = 0  # most rows in one answer so far: the server's page size
        self.rows: dict[t.Any, dict[str, t.Any]] = {}  # the slice read so far, by id
        self.first_page: dict[t.Any, t.Any] = {}  # id -> last activity, on the first page
        self.anchor: t.Any = None
        self.boundary_ids: set[t.Any] = set()  # ids of the last slice: they share its end
        self.known: list[datetime] = []  # creation times seen ahead, in a slice too large
        self.slices = self.requests = self.rereads = 0

    def take_answer(self, rows: list[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
        """Digest the answer to `current`; return the tickets to emit, and move on."""
        token = self.current
        if token is None:  # pragma: no cover - the paginator stops first
            return []
        self.requests += 1
        if token.recheck:
            return self._recheck(token, rows)
        if token.skip == 0:
            self.rows = {}
            self.first_page = {row.get("id"): row.get(ACTIVITY) for row in rows}
        elif self.anchor is not None and self.anchor not in {row.get("id") for row in rows}:
            return self._read_again(token, "a ticket moved or vanished at a page edge")
        for row in rows:
            self.rows[row.get("id")] = row  # a later read is the fresher one
        last_page = not rows or len(rows) < self.largest
        self.largest = max(self.largest, len(rows))
        if last_page:
            if token.skip == 0:
                return self._complete(token)  # one answer: a snapshot
            self.current = replace(token, skip=0, recheck=True)
            return []
        if len(self.rows) > self.max_rows and token.end - token.start > MIN_SPAN:
            return self._too_many(token)
        overlap = 1 if len(rows) > 1 else 0
        self.anchor = rows[-1].get("id") if overlap else None
        self.current = replace(token, skip=token.skip + len(rows) - overlap)
        return []

    def _recheck(self, token: Slice, rows: list[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
        unchanged = any(
            row.get("id") in self.first_page and self.first_page[row.get("id")] == row.get(ACTIVITY)
            for row in rows
        )
        if not unchanged:
            return self._read_again(token, "too many tickets moved to the top")
        for row in rows:
            self.rows[row.get("id")] = row
        return self._complete(replace(token, recheck=False, skip=0))

    def _read_again(self, token: Slice, why: str) -> list[dict[str, t.Any]]:
        self.rereads += 1
        self.rows = {}
        span = token.end - token.start
        if span > MIN_SPAN:
            self.width = span / 2
            self.current = Slice(token.start, token.start + self.width)
        elif token.attempt + 1 < MAX_ATTEMPTS:
            self.current = Slice(token.start, token.end, attempt=token.attempt + 1)
        else:
            raise ProviderError(
                LABEL,
                f"tickets in {token.describe()} kept moving while they were read "
                f"({MAX_ATTEMPTS} attempts); try again later",
            )
        if self.note:
            self.note(f"{LABEL}: {why} in {token.describe()}; reading it again")
        return []

    def _too_many(self, token: Slice) -> list[dict[str, t.Any]]:
        # A slice must be held whole to be emitted in creation order: keep it bounded. What
        # was read is not wasted: those creation times say where tickets are, and the next
        # slices are cut so that none holds more than half a target of them.
        span = token.end - token.start
        held = sorted(creation_time(row) for row in self.rows.values())
        self.rows = {}
        self.rereads += 1
        self.known = held
        self.width = max(min(span * (self.target / len(held) / 2), span / 2), MIN_SPAN)
        self._next_slice(token.start)
        return []

    def _learn_density(self, token: Slice, count: int) -> None:
        # The next slice aims at `target` tickets at the density of this one, and grows at
        # most 4-fold (an empty or thin slice says little about what follows).
        span = token.end - token.start
        limit = max(span * MAX_GROWTH, MIN_SPAN)
        self.width = max(min(span * (self.target / count), limit), MIN_SPAN) if count else limit

    def _complete(self, token: Slice) -> list[dict[str, t.Any]]:
        self.slices += 1
        rows, self.rows = list(self.rows.values()), {}
        fresh = [row for row in rows if row.get("id") not in self.boundary_ids]
        self.boundary_ids = {row.get("id") for row in rows}
        fresh.sort(key=creation_time)
        self._learn_density(token, len(rows))
        if token.end >= self.end:
            self.current = None
        else:
            self._next_slice(token.end)
        return fresh

    def _next_slice(self, start: datetime) -> None:
        end = min(start + self.width, self.end)
        self.known = self.known[bisect_right(self.known, start) :]
        crowd = self.target // 2
        if len(self.known) > crowd:
            end = min(end, self.known[crowd])
        self.current = Slice(start, end)


class SlicePaginator(BaseAPIPaginator[Slice]):
    """Follows a CreationSlices walk; a slice that yields no ticket is not the end."""

    def __init__(self, walk: CreationSlices) -> None:
        assert walk.current is not None
        super().__init__(walk.current)
        self.walk = walk

    @override
    def get_next(self, response: requests.Response) -> Slice | None:
        return self.walk.current

    @override
    def continue_if_empty(self, response: requests.Response) -> bool:
        return self.walk.current is not None


class AccessTokens:
    """Bearer tokens for the run, renewed shortly before they expire or when refused.

    A token response may carry a refresh token other than the one sent (rotation is not
    documented): the new one is used for the rest of the run and the rotation is logged,
    never its value. It cannot be saved: state is no place for a secret.
    """

    def __init__(
        self,
        refresh_token: str,
        exchange: Callable[[str], Mapping[str, t.Any]],
        logger: logging.Logger,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.refresh_token = refresh_token
        self.exchange = exchange
        self.logger = logger
        self.clock = clock
        self.access_token: str | None = None
        self.renew_at = 0.0
        self.issued = 0
        self.rotations = 0

    def bearer(self) -> str:
        """A token that is not about to expire."""
        if self.access_token is None or self.clock() >= self.renew_at:
            self._renew()
        assert self.access_token is not None
        return self.access_token

    def discard(self) -> None:
        """Forget the current token (the API refused it): the next call gets a new one."""
        self.access_token = None

    def _renew(self) -> None:
        asked_at = self.clock()
        body = self.exchange(self.refresh_token)
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise ProviderError(
                LABEL,
                "the token endpoint answered without an access_token; check socialboards.api_url",
            )
        register_secret(token)
        try:
            lifetime = float(body.get("expires_in") or DEFAULT_TOKEN_SECONDS)
        except (TypeError, ValueError):
            lifetime = DEFAULT_TOKEN_SECONDS
        # renew a minute early (a tenth of the lifetime for short-lived tokens)
        self.renew_at = asked_at + lifetime - min(60.0, lifetime / 10)
        self.access_token = token
        self.issued += 1
        self.logger.info("%s: new access token, valid for %.0f s", LABEL, lifetime)
        rotated = body.get("refresh_token")
        if isinstance(rotated, str) and rotated and rotated != self.refresh_token:
            register_secret(rotated)
            self.refresh_token = rotated
            self.rotations += 1
            self.logger.warning(
                "%s: the token endpoint rotated the refresh token; the new one is used for "
                "the rest of this run but is not saved. If socialboards.refresh_token stops "
                "working, create a new one (Settings > Installation > Public API).",
                LABEL,
            )


class BearerAuth(requests.auth.AuthBase):
    """Puts the current access token on every request."""

    def __init__(self, tokens: AccessTokens) -> None:
        self.tokens = tokens

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.tokens.bearer()}"
        return request


class AccessTokenRefused(Exception):
    """HTTP 401 from a resource endpoint: the access token expired or was revoked."""


def oauth_error(response: requests.Response) -> str:
    """`error: error_description` of an OAuth error answer, or a snippet of the body."""
    try:
        body = response.json()
    except ValueError:
        return response_snippet(response)
    if isinstance(body, dict) and body.get("error"):
        text = str(body["error"])
        return f"{text}: {body['error_description']}" if body.get("error_description") else text
    return response_snippet(response)


class SocialboardsTicketsStream(HelpdeskStream):
    """Tickets: POST /tickets/list, read in creation-time slices (see the module doc)."""

    provider = "socialboards"
    provider_label = LABEL
    credential_settings = ("refresh_token", "client_id")
    name = "socialboards_tickets"
    path = "/tickets/list"
    payload_as_json = True
    primary_keys = ("id",)
    replication_key = "creationTime"
    is_sorted = True
    schema = load_schema("socialboards_tickets")
    timestamp_fields = ("creationTime", "lastThreadElementCreationTime")
    STATE_MSG_FREQUENCY = 100

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        kwargs.setdefault("http_method", "POST")
        super().__init__(*args, **kwargs)
        self.walk = CreationSlices(datetime.now(timezone.utc), datetime.now(timezone.utc))

    # -- auth --------------------------------------------------------------------------

    @cached_property
    def tokens(self) -> AccessTokens:
        """The run's access tokens."""
        return AccessTokens(
            str(self.provider_config["refresh_token"]), self.exchange_refresh_token, self.logger
        )

    @cached_property
    def _bearer_auth(self) -> BearerAuth:
        return BearerAuth(self.tokens)

    @property
    @override
    def authenticator(self) -> BearerAuth:
        return self._bearer_auth

    @cached_property
    def _send_token_request(self) -> Callable[..., requests.Response]:
        # the shared budget and retries, without the refresh-on-401 of resource requests
        return super().request_decorator(self._post_token)

    def exchange_refresh_token(self, refresh_token: str) -> Mapping[str, t.Any]:
        """POST {api_url}/token: the refresh-token grant, form encoded."""
        response = self._send_token_request(
            {
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
                "client_id": str(self.provider_config["client_id"]),
            }
        )
        body = self.decode_json(response)
        if not isinstance(body, dict):
            raise ProviderError(
                LABEL,
                f"expected a JSON object from /token, got: {response_snippet(response)}; "
                "check socialboards.api_url",
            )
        return body

    def _post_token(self, form: dict[str, str]) -> requests.Response:
        request = requests.Request(
            "POST",
            f"{self.url_base}/token",
            data=form,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        ).prepare()  # not through the session: its auth would ask for a token
        response = self.requests_session.send(request, timeout=self.timeout)
        self.observe_rate_headers(response)
        status = response.status_code
        if status in RETRIABLE_STATUSES or status >= 500:
            raise RetriableAPIError(self.describe_failure(response), response)
        if status >= 400:
            raise ProviderError(
                LABEL,
                f"authentication failed at /token (HTTP {status}: {oauth_error(response)}): "
                f"check {CREDENTIALS}",
            )
        return response

    @override
    def validate_response(self, response: requests.Response) -> None:
        if response.status_code == 401:
            raise AccessTokenRefused
        super().validate_response(response)

    @override
    def request_decorator(self, func: Callable[..., requests.Response]) -> Callable[..., t.Any]:
        send = super().request_decorator(func)

        def send_with_valid_token(*args: t.Any, **kwargs: t.Any) -> requests.Response:
            try:
                return send(*args, **kwargs)
            except AccessTokenRefused:
                self.logger.info("%s: access token refused (HTTP 401); renewing it", LABEL)
                self.tokens.discard()
            try:
                return send(*args, **kwargs)  # re-authenticated with a new token
            except AccessTokenRefused:
                raise ProviderError(
                    LABEL,
                    "authentication failed (HTTP 401 with a new access token): "
                    f"check {CREDENTIALS}",
                ) from None

        return send_with_valid_token

    # -- paging ------------------------------------------------------------------------

    @override
    def sync_start(self, context: Context | None) -> datetime:
        start = super().sync_start(context)  # also keeps the bookmark from moving back
        if self.provider_config.get("full_refresh"):
            return self.config_start_date()
        return start

    @override
    def get_new_paginator(self) -> SlicePaginator:
        # `to` never passes the sync's start: tickets created during the run wait for the next
        now = datetime.now(timezone.utc)
        end = min(self.sync_end() or now, now)
        start = min(self.sync_start(None), end)
        self.walk = CreationSlices(start, end, note=self.logger.info)
        return SlicePaginator(self.walk)

    @override
    def prepare_request_payload(
        self,
        context: Context | None,
        next_page_token: Slice | None,
    ) -> dict[str, t.Any]:
        token = next_page_token or self.walk.current
        assert token is not None
        return {
            "from": format_bound(token.start),
            "to": format_bound(token.end),
            "orderBy": ORDER_BY,
            "skip": token.skip,
            "take": TAKE,
        }

    def list_rows(self, response: requests.Response) -> list[dict[str, t.Any]]:
        """The tickets of an answer; an errorCode other than -1 is an error even under 200."""
        body = self.decode_json(response)
        path = urlparse(response.url).path
        if not isinstance(body, dict):
            raise ProviderError(
                LABEL, f"expected a JSON object from {path}, got: {response_snippet(response)}"
            )
        code = body.get("errorCode", -1)
        if str(code).strip() != "-1":
            text = body.get("errorText") or "no errorText"
            raise ProviderError(LABEL, f"{path} answered errorCode {code}: {text}")
        rows = body.get("data")
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise ProviderError(
                LABEL,
                f"expected a 'data' list of tickets from {path}, got: {response_snippet(response)}",
            )
        return rows

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict[str, t.Any]]:
        tickets = self.walk.take_answer(self.list_rows(response))
        walk = self.walk
        if walk.current is None:
            self.logger.info(
                "%s: read %d creation-time slices in %d requests (%d read again); "
                "%d access tokens, %d refresh-token rotations",
                LABEL,
                walk.slices,
                walk.requests,
                walk.rereads,
                self.tokens.issued,
                self.tokens.rotations,
            )
        return tickets


STREAMS: tuple[type[HelpdeskStream], ...] = (SocialboardsTicketsStream,)
