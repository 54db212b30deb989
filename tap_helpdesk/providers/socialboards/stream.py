"""The socialboards_tickets stream: POST /tickets/list behind refresh-token auth."""

from __future__ import annotations

import sys
import typing as t
from datetime import datetime, timedelta, timezone
from functools import cached_property
from urllib.parse import urlparse

import requests
from singer_sdk.exceptions import RetriableAPIError

from tap_helpdesk.client import (
    RETRIABLE_STATUSES,
    USER_AGENT,
    HelpdeskStream,
    all_objects,
    response_snippet,
)
from tap_helpdesk.errors import ProviderError
from tap_helpdesk.paging import later
from tap_helpdesk.providers.socialboards.activity import (
    ActivityMark,
    ActivityPage,
    ActivityWalk,
)
from tap_helpdesk.providers.socialboards.auth import (
    CREDENTIALS,
    AccessTokenRefused,
    AccessTokens,
    RefreshTokenAuth,
    oauth_error,
    redirect_target,
    refresh_grant,
)
from tap_helpdesk.providers.socialboards.bounds import TAKE, Slice, format_bound
from tap_helpdesk.providers.socialboards.slices import CreationSlices
from tap_helpdesk.schemas import stream_schema
from tap_helpdesk.sequence import WalksInTurn
from tap_helpdesk.timestamps import parse_datetime

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from singer_sdk.helpers.types import Auth, Context

LABEL = "Socialboards"
ORDER_BY = "last_thread_activity_desc"  # the only TicketListOrderBy value the docs show
TOKEN_PATH = "/token"  # noqa: S105 (the token endpoint's path, not a secret)
#: The stream's own state keys for its second bookmark (the replication key holds the
#: first, creationTime): the last activity the activity walk has read down to.
ACTIVITY_KEY = "activity_key"
ACTIVITY_VALUE = "activity_value"
ACTIVITY_FIELD = "lastThreadElementCreationTime"


class SocialboardsTicketsStream(HelpdeskStream):
    """Tickets: POST /tickets/list, read in creation-time slices (see the package doc)."""

    name = "socialboards_tickets"
    path = "/tickets/list"
    payload_as_json = True
    primary_keys = ("id",)
    replication_key = "creationTime"
    is_sorted = True
    schema = stream_schema()
    timestamp_fields = ("creationTime", "lastThreadElementCreationTime")
    STATE_MSG_FREQUENCY = 100

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """The SDK's stream, POSTing its requests; no walk before a run."""
        kwargs.setdefault("http_method", "POST")
        super().__init__(*args, **kwargs)
        self.walk: CreationSlices | None = None
        self.activity: ActivityWalk | None = None
        self._range: tuple[datetime, datetime] | None = None  # the activity walk's from/to

    # -- auth --------------------------------------------------------------------------

    @cached_property
    def tokens(self) -> AccessTokens:
        """The run's access tokens."""
        return AccessTokens(
            str(self.provider_config["refresh_token"]), self.exchange_refresh_token, self.logger
        )

    @cached_property
    def _oauth(self) -> RefreshTokenAuth:
        return RefreshTokenAuth(self.tokens, self.token_url, str(self.provider_config["client_id"]))

    @property
    @override
    def authenticator(self) -> Auth:
        return self._oauth

    @property
    def token_url(self) -> str:
        """POST {api_url}/token."""
        return f"{self.url_base}{TOKEN_PATH}"

    @cached_property
    def _send_token_request(self) -> Callable[..., requests.Response]:
        # the shared budget, retries and whole-answer timeout, no redirect followed,
        # without the refresh-on-401 of resource requests
        return super().request_decorator(self._request)

    def exchange_refresh_token(self, refresh_token: str) -> Mapping[str, t.Any]:
        """POST {api_url}/token: the refresh-token grant, form encoded."""
        form = refresh_grant(refresh_token, str(self.provider_config["client_id"]))
        prepared = requests.Request(
            "POST",
            self.token_url,
            data=form,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        ).prepare()
        response = self._send_token_request(prepared, None)
        body = self.decode_json(response)
        if not isinstance(body, dict):
            raise ProviderError(
                LABEL,
                f"expected a JSON object from /token, got: {response_snippet(response)}; "
                "check socialboards.api_url",
            )
        return body

    def _validate_token_answer(self, response: requests.Response) -> None:
        status = response.status_code
        if 300 <= status < 400:
            raise ProviderError(
                LABEL,
                f"the token endpoint answered HTTP {status}, redirecting to "
                f"{redirect_target(response)}: not followed (the refresh token goes to "
                "socialboards.api_url only); check socialboards.api_url",
            )
        self.observe_rate_headers(response)
        if status in RETRIABLE_STATUSES or status >= 500:
            raise RetriableAPIError(self.describe_failure(response), response)
        if status >= 400:
            raise ProviderError(
                LABEL,
                f"authentication failed at /token (HTTP {status}: {oauth_error(response)}): "
                f"check {CREDENTIALS}",
            )

    @override
    def validate_response(self, response: requests.Response) -> None:
        if response.request is not None and response.request.url == self._oauth.token_url:
            self._validate_token_answer(response)
            return
        status = response.status_code
        if 300 <= status < 400:
            raise ProviderError(
                LABEL,
                f"HTTP {status} from {urlparse(response.url).path}, redirecting to "
                f"{redirect_target(response)}: not followed (it would carry the access "
                "token there); check socialboards.api_url",
            )
        if status == 401:
            raise AccessTokenRefused
        super().validate_response(response)

    @override
    def request_decorator(self, func: Callable[..., t.Any]) -> Callable[..., t.Any]:
        send = super().request_decorator(func)

        def send_with_valid_token(*args: t.Any, **kwargs: t.Any) -> requests.Response:
            try:
                response: requests.Response = send(*args, **kwargs)
                return response
            except AccessTokenRefused:
                self.logger.info("%s: access token refused (HTTP 401); renewing it", LABEL)
                sent = next((a for a in args if isinstance(a, requests.PreparedRequest)), None)
                self._oauth.discard(sent)
            try:
                again: requests.Response = send(
                    *args, **kwargs
                )  # re-authenticated with a new token
                return again
            except AccessTokenRefused:
                raise ProviderError(
                    LABEL,
                    "authentication failed (HTTP 401 with a new access token): "
                    f"check {CREDENTIALS}",
                ) from None

        return send_with_valid_token

    # -- the walk ----------------------------------------------------------------------

    @override
    def sync_start(self, context: Context | None) -> datetime:
        start = super().sync_start(context)  # also keeps the bookmark from moving back
        if self.provider_config.get("full_refresh"):
            return self.config_start_date()
        return start

    @override
    def new_walk(self, context: Context | None) -> WalksInTurn:
        # `to` never passes the sync's start: tickets created during the run wait for the next
        now = datetime.now(timezone.utc)
        end = min(self.sync_end() or now, now)
        start = min(self.sync_start(context), end)
        emitted: dict[t.Any, t.Any] = {}
        self.walk = CreationSlices(start, end, parse=self.list_rows, emitted=emitted)
        self.activity = None
        if self.provider_config.get("full_refresh"):
            return WalksInTurn(self.walk)  # every ticket is read by creation anyway
        self._range = (self.config_start_date(), end)
        self.activity = ActivityWalk(
            self.activity_floor(context), parse=self.list_rows, emitted=emitted
        )
        return WalksInTurn(self.activity, self.walk)

    def activity_floor(self, context: Context | None) -> datetime | None:
        """The activity bookmark minus lookback_days (None before the first run)."""
        value = self.get_context_state(context).get(ACTIVITY_VALUE)
        if not value:
            return None
        lookback = timedelta(days=float(self.config.get("lookback_days") or 0))
        return parse_datetime(str(value), timezone.utc) - lookback

    @override
    def commit_bookmark(self, value: t.Any, context: Context | None = None) -> None:
        if not isinstance(value, ActivityMark):
            super().commit_bookmark(value, context)
            return
        state = self.get_context_state(context)
        current = state.get(ACTIVITY_VALUE)
        if current is not None and not later(value.value, str(current)):
            return  # never back
        state[ACTIVITY_KEY] = ACTIVITY_FIELD
        state[ACTIVITY_VALUE] = value.value
        self.state_manager.is_flushed = False
        self._write_state_message()

    @override
    def request_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        yield from super().request_records(context)
        walk, activity = self.walk, self.activity
        if walk is not None:
            self.logger.info(
                "%s: read %d creation-time slices in %d requests (%d read again)%s; "
                "%d access tokens, %d refresh-token rotations",
                LABEL,
                walk.slices,
                walk.requests,
                walk.rereads,
                (
                    f"; the activity walk read {activity.count} tickets in "
                    f"{activity.requests} requests"
                    if activity is not None
                    else ""
                ),
                self.tokens.issued,
                self.tokens.rotations,
            )

    @override
    def prepare_request_payload(
        self,
        context: Context | None,
        next_page_token: tuple[int, Slice | ActivityPage] | None,
    ) -> dict[str, t.Any]:
        if next_page_token is None:
            raise TypeError(f"{self.name}: every request is one of its walk's tokens")
        token = next_page_token[1]
        if isinstance(token, ActivityPage):
            if self._range is None:
                raise TypeError(f"{self.name}: an activity page asked for outside a run")
            low, high, skip = self._range[0], self._range[1], token.skip
        else:
            low, high, skip = token.start, token.end, token.skip
        return {
            "from": format_bound(low),
            "to": format_bound(high),
            "orderBy": ORDER_BY,
            "skip": skip,
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
        if not isinstance(rows, list) or not all_objects(rows):
            raise ProviderError(
                LABEL,
                f"expected a 'data' list of tickets from {path}, got: {response_snippet(response)}",
            )
        return rows


STREAMS: tuple[type[HelpdeskStream], ...] = (SocialboardsTicketsStream,)
