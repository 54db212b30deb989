"""Socialboards access tokens: the refresh-token grant at POST {api_url}/token.

The authenticator is the SDK's OAuthAuthenticator with its token exchange replaced: the
SDK's posts through a session of its own, which follows redirects (a 307 would re-post
the refresh token wherever it points), spends no request budget, has no retries with
Retry-After, and ends a refusal in a RuntimeError after logging the body at ERROR. Here
the exchange goes through the stream's own send (budget, retries, request_timeout for
the whole answer, no redirect followed), tokens are renewed a minute before they expire
(the SDK renews once expired) and a rotated refresh token is used from then on.
"""

from __future__ import annotations

import threading
import time
import typing as t
from urllib.parse import urljoin, urlparse

import requests
from singer_sdk.authenticators import OAuthAuthenticator

from tap_helpdesk.authenticators import QueryKept
from tap_helpdesk.client import response_snippet
from tap_helpdesk.errors import ProviderError
from tap_helpdesk.redaction import register_secret

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Mapping

LABEL = "Socialboards"
DEFAULT_TOKEN_SECONDS = 3600.0  # "the access token lives about an hour"
CREDENTIALS = "socialboards.refresh_token and socialboards.client_id"


def refresh_grant(refresh_token: str, client_id: str) -> dict[str, str]:
    """The form of the token request.

    The access-tokens-v2 guide names `grant_type`; the reference page's `grand_type` is a
    typo.
    """
    return {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}


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
        """Renew with `exchange(refresh_token)` (the token endpoint's decoded answer)."""
        self.refresh_token = refresh_token
        self.exchange = exchange
        self.logger = logger
        self.clock = clock
        self.access_token: str | None = None
        self.renew_at = 0.0
        self.issued = 0
        self.rotations = 0
        self.lock = threading.RLock()

    def valid(self) -> bool:
        """Whether the current token is not about to expire."""
        return self.access_token is not None and self.clock() < self.renew_at

    def bearer(self) -> str:
        """A token that is not about to expire."""
        with self.lock:
            token = self.access_token
            if token is None or not self.valid():
                token = self.renew()
            return token

    def discard(self, refused: str | None = None) -> None:
        """Forget the token the API refused: the next call gets a new one.

        With several requests in flight, each that met the same dead token says so; only
        the first forgets it, the others find the token renewed already (one exchange).
        """
        with self.lock:
            if refused is None or refused == self.access_token:
                self.access_token = None

    def renew(self) -> str:
        """Exchange the refresh token for a new access token, and return it."""
        with self.lock:
            asked_at = self.clock()
            body = self.exchange(self.refresh_token)
            token = body.get("access_token")
            if not isinstance(token, str) or not token:
                raise ProviderError(
                    LABEL,
                    "the token endpoint answered without an access_token; check "
                    "socialboards.api_url",
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
            self._take_rotation(body.get("refresh_token"))
            return token

    def _take_rotation(self, rotated: object) -> None:
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


class RefreshTokenAuth(OAuthAuthenticator, QueryKept):
    """The SDK's OAuth authenticator over AccessTokens (see the module doc)."""

    def __init__(self, tokens: AccessTokens, auth_endpoint: str, client_id: str) -> None:
        """The SDK's authenticator, its tokens from `tokens`."""
        super().__init__(auth_endpoint=auth_endpoint, client_id=client_id)
        self.tokens = tokens
        #: the token request itself goes through the same send and carries no bearer
        self.token_url = requests.Request("POST", auth_endpoint).prepare().url

    @property
    def oauth_request_body(self) -> dict[str, str]:
        """The refresh-token grant, with the refresh token in use (rotated or not)."""
        return refresh_grant(self.tokens.refresh_token, str(self.client_id))

    def is_token_valid(self) -> bool:
        """Valid until a minute before it expires (AccessTokens)."""
        return self.tokens.valid()

    def update_access_token(self) -> None:
        """A new token through the stream's exchange (AccessTokens.renew)."""
        self.tokens.renew()
        self.access_token = self.tokens.access_token

    def discard(self, request: requests.PreparedRequest | None = None) -> None:
        """The API refused the token `request` carried: the next request gets a new one."""
        header = str((request.headers.get("Authorization") if request is not None else "") or "")
        refused = header.removeprefix("Bearer ") if header.startswith("Bearer ") else None
        self.tokens.discard(refused)

    def authenticate_request(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Put a valid bearer token on a resource request."""
        if request.url == self.token_url:
            return request
        with self.tokens.lock:
            return super().authenticate_request(request)


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


def redirect_target(response: requests.Response) -> str:
    """The host a 3xx answer points to (never its path or query: they may hold a token)."""
    location = response.headers.get("Location")
    if not location:
        return "nowhere (no Location header)"
    target = urlparse(urljoin(response.url or "", location))
    return target.netloc or location[:80]


__all__ = [
    "CREDENTIALS",
    "AccessTokenRefused",
    "AccessTokens",
    "RefreshTokenAuth",
    "oauth_error",
    "redirect_target",
    "refresh_grant",
]
