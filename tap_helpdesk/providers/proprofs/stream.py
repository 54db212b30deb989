"""The ProProfs streams: requests, the answer envelope, records and their messages."""

from __future__ import annotations

import re
import sys
import typing as t
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

from singer_sdk.streams.rest import HTTPRequest, PageContext

from tap_helpdesk.answers import describe_redirect
from tap_helpdesk.client import HelpdeskStream, PageFedStream, all_objects
from tap_helpdesk.errors import ProviderError, UnreadableValue
from tap_helpdesk.providers.proprofs.pages import Page, PageToken
from tap_helpdesk.providers.proprofs.records import (
    as_bool,
    as_integer,
    as_list,
    as_object,
    message_rows,
)
from tap_helpdesk.providers.proprofs.slices import (
    DATE_FORMAT,
    END_MARGIN,
    local_now,
    three_month_windows,
)
from tap_helpdesk.providers.proprofs.walk import TicketWalk
from tap_helpdesk.schemas import stream_schema
from tap_helpdesk.timestamps import utc_iso
from tap_helpdesk.values import record_error

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    import requests
    from singer_sdk.helpers.types import Context

LABEL = "ProProfs Help Desk"
#: A ticket modified further ahead of our clock than this means the zone setting is off.
ZONE_SLACK = timedelta(minutes=30)
EMPTY_RESULT = re.compile(r"\bno\b.*\b(tickets?|records?|data|results?)\b.*\bfound\b", re.I)
_CREDENTIAL_WORDS = re.compile(r"authenticat|credential|token|account email|unauthori", re.I)


class LinkMethodRefused(Exception):
    """The server answered 405 to a page link sent with POST."""


class ProProfsTicketsStream(HelpdeskStream):
    """Tickets: POST /app/api/v1/list/ticket/, by last-modified window and page link."""

    name = "proprofs_tickets"
    path = "/app/api/v1/list/ticket/"  # case-sensitive, with its trailing slash
    http_method = "POST"
    # A 307/308 would re-send the body, token included, wherever it points.
    allow_redirects = False
    primary_keys = ("ticket_id",)
    replication_key = "modified_date_time"
    # Pages come in an undocumented order, but the bookmark only moves once a window is
    # complete (Step.bookmark), so the state is resumable at every STATE message.
    is_sorted = True
    schema = stream_schema()
    timestamp_fields = ("created_date_time", "modified_date_time", "ticket_due_date")

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """The SDK's stream; its next links are POSTed like the first page."""
        super().__init__(*args, **kwargs)
        self.link_method = "POST"
        self.messages: list[dict[str, t.Any]] = []
        self.pages_read = 0
        self._unknown_deleted: set[str] = set()
        self._zone_warned = False
        self._future = ""

    # -- the walk ----------------------------------------------------------------------

    @override
    def new_walk(self, context: Context | None) -> TicketWalk | None:
        """Windows from the bookmark (minus lookback) or start_date to a minute ago, then the tail.

        None when an end_date before the start leaves nothing to read.
        """
        zone = self.zone
        start = self.run_start(context)
        now = local_now(zone) - END_MARGIN
        end_setting = self.sync_end()
        end = now
        if end_setting is not None:
            end = min(end_setting.astimezone(zone).replace(tzinfo=None, microsecond=0), now)
        # Tickets modified while we read leave their window for the range after `end`.
        tail_from = max(start, end) if end_setting is None or end >= now else None
        windows = three_month_windows(start, end)
        if not windows and tail_from is None:
            return None
        return TicketWalk(
            LABEL,
            [(window, 0) for window in reversed(windows)],
            tail_from,
            clock=lambda: local_now(zone),
            parse=self.page_of,
            on_page=self.keep_messages,
            to_bookmark=self.convert_time,
        )

    def run_start(self, context: Context | None) -> datetime:
        """Where the windows start, as naive account-zone time.

        The bookmark minus lookback_days, or start_date (a bookmark later than now never
        gets here: the engine warns and reads nothing for it).
        """
        return self.sync_start(context).astimezone(self.zone).replace(tzinfo=None, microsecond=0)

    def keep_messages(self, tickets: list[dict[str, t.Any]]) -> None:
        """A page's fresh tickets: their nested messages go to the messages stream."""
        self.pages_read += 1
        if self.messages_selected:
            self.messages.extend(message_rows(tickets))

    # -- requests ----------------------------------------------------------------------

    def request_body(self, token: PageToken) -> dict[str, t.Any]:
        """Credentials and the last-modified range, as JSON (never logged)."""
        part = token.part
        body: dict[str, t.Any] = {
            "account_email": self.provider_config["account_email"],
            "token": self.provider_config["token"],
            "start_last_modified_date": part.start.strftime(DATE_FORMAT),
        }
        if part.end is not None:
            body["end_last_modified_date"] = part.end.strftime(DATE_FORMAT)
        if part.low_id is not None:
            body["start_ticket_id"] = part.low_id
        if part.high_id is not None:
            body["end_ticket_id"] = part.high_id
        return body

    @override
    def get_http_request(self, *, page: PageContext) -> HTTPRequest:
        token = page.next_page_token
        if not isinstance(token, PageToken):  # pragma: no cover - the walk always has one
            raise TypeError(token)
        # A page link is resolved against our own api_url: only its query (`page=2`) is
        # used, so the token is never sent to another host.
        url = self.get_url(page.stream_context) + (f"?{token.link}" if token.link else "")
        headers = {**self.http_headers, "Content-Type": "application/json"}
        method = self.link_method if token.link else "POST"
        return HTTPRequest(url=url, method=method, headers=headers, data=self.request_body(token))

    @override
    def validate_response(self, response: requests.Response) -> None:
        request = response.request
        if response.status_code == 405 and request.method == "POST" and urlsplit(request.url).query:
            raise LinkMethodRefused
        if 300 <= response.status_code < 400:
            raise ProviderError(
                LABEL,
                f"{describe_redirect('proprofs', response)} "
                "(the ticket list URL is case-sensitive and ends with a slash)",
            )
        super().validate_response(response)

    @override
    def request_decorator(self, func: Callable[..., t.Any]) -> Callable[..., t.Any]:
        send = super().request_decorator(func)

        def send_falling_back_to_get(
            prepared: requests.PreparedRequest, context: Context | None
        ) -> requests.Response:
            # Whether page links take POST is not documented: POST the same body first,
            # and if the server refuses the method, GET them (same body) from then on.
            # Here, not in the walk: the method is learnt from the answer to the request
            # already built, and re-sending it is one step of the walk, within the budget.
            try:
                response: requests.Response = send(prepared, context)
                return response
            except LinkMethodRefused:
                self.link_method = "GET"
                self.logger.info("%s: page links refuse POST (HTTP 405); using GET", LABEL)
                retry = prepared.copy()
                retry.method = "GET"
                again: requests.Response = send(retry, context)
                return again

        return send_falling_back_to_get

    # -- answers -----------------------------------------------------------------------

    def page_of(self, response: requests.Response, token: PageToken) -> Page:
        """One answer as the walk reads it, or one clear line."""
        data = self.ticket_data(self.decode_json(response), token)
        if data is None:
            return Page(0, "", [])
        tickets = data.get("tickets") or []
        if not isinstance(tickets, list) or not all_objects(tickets):
            raise ProviderError(
                LABEL, f"expected ticket_data.tickets to be a list of objects from {self.path}"
            )
        # ISO 8601 UTC text compares as time: check_zone looks closer only past this
        self._future = utc_iso(datetime.now(timezone.utc).replace(microsecond=0) + ZONE_SLACK)
        next_link = data.get("next_page_link")
        return Page(as_integer(data.get("total_tickets")), str(next_link or ""), tickets)

    def ticket_data(self, body: object, token: PageToken) -> dict[str, t.Any] | None:
        """`ticket_data` of a success (None: no tickets).

        One clear line for the error envelope and anything else that is not a success.
        """
        if not isinstance(body, dict):
            raise ProviderError(
                LABEL, f"expected a JSON object from {self.path}; check proprofs.api_url"
            )
        status = str(body.get("status") or "").lower()
        if status != "success":
            text = body.get("description") or f"an answer without status success ({status!r})"
            description = " ".join(str(text).split())
            if EMPTY_RESULT.search(description):
                return None
            if _CREDENTIAL_WORDS.search(description):
                raise ProviderError(
                    LABEL, f"{description}: check proprofs.account_email and proprofs.token"
                )
            raise ProviderError(
                LABEL, f"{description} (tickets last modified {token.part.describe()}, {self.zone})"
            )
        data = body.get("ticket_data")
        if data in (None, "", [], {}):
            return None
        if not isinstance(data, dict):
            raise ProviderError(
                LABEL, f"expected ticket_data to be an object, got {type(data).__name__}"
            )
        return data

    # -- records -----------------------------------------------------------------------

    @property
    def messages_selected(self) -> bool:
        """Whether the messages stream wants this run's messages."""
        return any(child.selected for child in self.child_streams)

    @override
    def post_process(
        self,
        row: dict[str, t.Any],
        context: Context | None = None,
    ) -> dict[str, t.Any] | None:
        # The per-record hot path: the common forms (a list, a non-empty object, "0"/"1")
        # are recognised by class and left as they are; the rest go through the helpers.
        get = row.get
        row["ticket_id"] = str(get("ticket_id"))
        deleted = get("deleted")
        row["deleted"] = (
            False if deleted == "0" else True if deleted == "1" else self.deleted_flag(row)
        )
        for key in ("custom_fields", "labels"):
            value = get(key)
            if value.__class__ is not list:
                row[key] = as_list(value)
        for key in ("staff", "inbox"):
            value = get(key)
            if value.__class__ is not dict or not value:
                row[key] = as_object(value)
        messages = get("messages")
        if messages.__class__ is list:
            try:
                self.convert_messages(messages)
            except UnreadableValue as problem:
                located = problem.in_field("messages.created")
                raise record_error(LABEL, self.name, row, self.primary_keys, located) from None
        row = self.normalise_timestamps(row)
        self.check_zone(row)
        return row

    def convert_messages(self, messages: list[t.Any]) -> None:
        """A ticket's messages, their times in UTC and reply_by an object, in place."""
        convert = self.convert_time
        for message in messages:
            if message.__class__ is dict:
                created = message.get("created")
                message["created"] = convert(created) if created.__class__ is str else None
                reply_by = message.get("reply_by")
                if reply_by.__class__ is not dict or not reply_by:
                    message["reply_by"] = as_object(reply_by)

    def check_zone(self, row: dict[str, t.Any]) -> None:
        """Warn once when a ticket seems modified in the future: the zone setting is off."""
        modified = row.get("modified_date_time")
        if self._zone_warned or not isinstance(modified, str) or modified <= self._future:
            return
        ahead = datetime.fromisoformat(modified) - datetime.now(timezone.utc)
        if ahead > ZONE_SLACK:
            self._zone_warned = True
            self.logger.warning(
                "%s: ticket %s was last modified %s, %.1f hours from now: is proprofs.timezone "
                "(%s) the account's time zone?",
                LABEL,
                row.get("ticket_id"),
                modified,
                ahead.total_seconds() / 3600,
                self.zone,
            )

    def deleted_flag(self, row: dict[str, t.Any]) -> bool | None:
        """`deleted` as a boolean; an unrecognised value is reported once and emitted as null."""
        value = row.get("deleted")
        flag = as_bool(value)
        if flag is None and value not in (None, "") and str(value) not in self._unknown_deleted:
            self._unknown_deleted.add(str(value))
            self.logger.warning(
                '%s: ticket %s has deleted=%r (expected "0" or "1"); emitted as null',
                LABEL,
                row.get("ticket_id"),
                value,
            )
        return flag

    @override
    def generate_child_contexts(
        self,
        record: dict[str, t.Any],
        context: Context | None,
    ) -> Iterable[dict[str, t.Any] | None]:
        # Messages come nested in the page: one hand-over per page, no requests of their own.
        if self.messages:
            yield {"tickets_page": self.pages_read}


class ProProfsTicketMessagesStream(PageFedStream):
    """Messages nested in the ticket pages; no requests of their own."""

    name = "proprofs_ticket_messages"
    parent_stream_type = ProProfsTicketsStream
    primary_keys = ("ticket_id", "position")
    schema = stream_schema()

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        parent = t.cast("ProProfsTicketsStream", self.parent)
        rows, parent.messages = parent.messages, []
        for row in rows:
            if isinstance(row.get("created"), str):
                try:
                    row["created"] = parent.convert_time(row["created"])
                except UnreadableValue as problem:
                    located = problem.in_field("created")
                    raise record_error(LABEL, self.name, row, self.primary_keys, located) from None
            row["reply_by"] = as_object(row.get("reply_by"))
            yield row


STREAMS: tuple[type[t.Any], ...] = (ProProfsTicketsStream, ProProfsTicketMessagesStream)
