"""The SDK's authenticators, leaving a request's URL as it was built.

The SDK's `APIAuthenticatorBase.authenticate_request` adds `auth_params` by rebuilding the
URL's query (urlsplit, parse_qs, urlencode) even when there are none. That re-encodes a
query the tap was given: ProProfs' next_page_link loses a blank value (`a=&page=2` becomes
`page=2`) and has repeated keys regrouped. It also runs twice a request (requests'
`prepare_auth` and the SDK's `_request`), each time about 20-40 us of CPU. None of the five
providers authenticates by query parameter, so the URL is left alone whenever there is
none to add; with auth_params, the SDK's own code runs.
"""

from __future__ import annotations

import sys
import typing as t

from singer_sdk.authenticators import APIAuthenticatorBase, BearerTokenAuthenticator

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override

if t.TYPE_CHECKING:
    import requests


class QueryKept(APIAuthenticatorBase):
    """The SDK's authentication, which rewrites the URL only to add `auth_params`.

    Put it last among an authenticator's bases, so that the SDK class's own steps (an
    OAuth token renewed before it expires) run first and reach it through `super()`.
    """

    @override
    def authenticate_request(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if self.auth_params:
            return super().authenticate_request(request)
        request.headers.update(self.auth_headers)
        return request


class NoCredentials(QueryKept):
    """For an API whose credentials travel in the request body (ProProfs).

    The SDK's default, a new `SimpleAuthenticator` each time the stream is asked for one
    (twice a request), adds nothing either.
    """


class BearerToken(BearerTokenAuthenticator, QueryKept):
    """`Authorization: Bearer <token>`: the SDK's BearerTokenAuthenticator."""


__all__ = ["BearerToken", "NoCredentials", "QueryKept"]
