"""Prepared requests cut from a template (a measured fast path, see tap_helpdesk.fastpath)."""

from __future__ import annotations

import typing as t
from collections.abc import Mapping

import requests
from requests import sessions
from requests.cookies import RequestsCookieJar
from requests.hooks import default_hooks
from requests.structures import CaseInsensitiveDict
from requests.utils import requote_uri

#: the `requests.Request` arguments a template stands in for
_TEMPLATE_ARGUMENTS = frozenset({"method", "url", "params", "headers", "data", "json"})
_MAX_TEMPLATES = 64
#: methods for which requests' prepare_body of no data changes nothing (no Content-Length)
_NO_BODY_METHODS = frozenset({"GET", "HEAD"})
# requests' own merges, as Session.prepare_request calls them (untyped in requests)
_merge_setting = t.cast("t.Callable[..., t.Any]", sessions.merge_setting)
# the encoding prepare_url applies to parameters (private in requests, absent from its stubs)
_encode_params = t.cast(
    "t.Callable[[t.Any], str]",
    getattr(requests.PreparedRequest, "_encode_params"),  # noqa: B009
)


class RequestTemplates:
    """Prepared requests cut from a template: what `Session.prepare_request` builds.

    `prepare_request` merges two cookie jars, merges and validates the headers and builds a
    `Request` for every request, although a stream's method and headers are the same from
    page to page. Here they are prepared once per distinct method and headers; each request
    is a copy with its own URL, body and authentication, prepared by `PreparedRequest`'s
    own steps in `PreparedRequest.prepare`'s order. tests/test_fastpath.py compares the two
    for every request a sync of each provider makes.

    Three steps are done once rather than per request, where their result cannot differ:
    the URL (parsed, IDNA-checked and requoted once per URL without a query; a request's
    encoded parameters, requoted, are then appended), the empty body of a GET (no step to
    take), and the hooks (a session without hooks adds none).
    """

    def __init__(self) -> None:
        """No template yet."""
        self._templates: dict[tuple[t.Any, ...], requests.PreparedRequest] = {}
        #: URL without query or fragment -> as requests prepares it
        self._urls: dict[str, str] = {}

    def prepare(
        self, session: requests.Session, arguments: dict[str, t.Any]
    ) -> requests.PreparedRequest | None:
        """`session.prepare_request(requests.Request(**arguments))`, or None.

        None where a template cannot stand in: cookies or parameters on the session, a netrc
        lookup, hooks, or arguments other than method, url, params, headers, data and json.
        """
        if (
            not _TEMPLATE_ARGUMENTS.issuperset(arguments)
            or session.cookies
            or session.params
            or session.trust_env
            or any(session.hooks.values())
        ):
            return None
        headers = arguments.get("headers")
        headers = {} if headers is None else headers  # as requests.Request does
        try:
            method, url = str(arguments["method"]).upper(), arguments["url"]
            key = (method, tuple(headers.items()), tuple(session.headers.items()))
            template = self._templates.get(key)
        except (KeyError, TypeError, AttributeError):  # no method, or headers unhashable
            return None
        if template is None:
            template = self._template(session, method, url, headers)
            if len(self._templates) >= _MAX_TEMPLATES:
                self._templates.clear()
            self._templates[key] = template
        params = arguments.get("params")
        params = _merge_setting({} if params is None else params, session.params)
        data, body = arguments.get("data"), arguments.get("json")
        prepared = template.copy()
        prepared.hooks = default_hooks()  # what prepare_hooks makes of a session without hooks
        base = self._base_url(url) if isinstance(params, (str, Mapping)) else None
        if base is None:
            prepared.prepare_url(url, params)
        else:
            # requoting the whole URL is requoting its parts on either side of the `?`
            encoded = params if isinstance(params, str) else _encode_params(params)
            prepared.url = f"{base}?{requote_uri(encoded)}" if encoded else base
        if data is not None or body is not None or method not in _NO_BODY_METHODS:
            prepared.prepare_body([] if data is None else data, [], body)
        prepared.prepare_auth(session.auth, url)
        return prepared

    def _base_url(self, url: object) -> str | None:
        """`url` as requests prepares it without parameters, if parameters can be appended.

        That holds for http(s) text without a query or fragment: requests then puts the
        encoded parameters after a `?` and requotes the whole, which requotes each side of
        the `?` on its own (a `%XX` never spans it, the prepared side is requoted already).
        """
        if type(url) is not str or "?" in url or "#" in url or not url.lower().startswith("http"):
            return None
        base = self._urls.get(url)
        if base is None:
            scratch = requests.PreparedRequest()
            scratch.prepare_url(url, None)
            if len(self._urls) >= _MAX_TEMPLATES:
                self._urls.clear()
            base = self._urls[url] = str(scratch.url)
        return base

    @staticmethod
    def _template(
        session: requests.Session, method: str, url: str, headers: t.Mapping[str, t.Any]
    ) -> requests.PreparedRequest:
        template = requests.PreparedRequest()
        template.prepare_method(method)
        template.prepare_url(url, None)  # each copy gets its own; cookies need one to match
        template.prepare_headers(
            _merge_setting(headers, session.headers, dict_class=CaseInsensitiveDict)
        )
        template.prepare_cookies(RequestsCookieJar())  # the session has none
        return template


__all__ = ["RequestTemplates"]
