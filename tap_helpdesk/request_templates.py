"""Prepared requests cut from a template (a measured fast path, see tap_helpdesk.fastpath)."""

from __future__ import annotations

import typing as t

import requests
from requests import sessions
from requests.cookies import RequestsCookieJar
from requests.hooks import default_hooks
from requests.structures import CaseInsensitiveDict

#: the `requests.Request` arguments a template stands in for
_TEMPLATE_ARGUMENTS = frozenset({"method", "url", "params", "headers", "data", "json"})
_MAX_TEMPLATES = 64
# requests' own merges, as Session.prepare_request calls them (untyped in requests)
_merge_setting = t.cast("t.Callable[..., t.Any]", sessions.merge_setting)
_merge_hooks = t.cast("t.Callable[..., dict[str, list[t.Any]]]", sessions.merge_hooks)


class RequestTemplates:
    """Prepared requests cut from a template: what `Session.prepare_request` builds.

    `prepare_request` merges two cookie jars, merges and validates the headers and builds a
    `Request` for every request, although a stream's method and headers are the same from
    page to page. Here they are prepared once per distinct method and headers; each request
    is a copy with its own URL, body and authentication, prepared by `PreparedRequest`'s
    own steps in `PreparedRequest.prepare`'s order. tests/test_fastpath.py compares the two
    for every request a sync of each provider makes.
    """

    def __init__(self) -> None:
        """No template yet."""
        self._templates: dict[tuple[t.Any, ...], requests.PreparedRequest] = {}

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
        data = arguments.get("data")
        prepared = template.copy()
        prepared.hooks = default_hooks()
        prepared.prepare_url(url, _merge_setting({} if params is None else params, session.params))
        prepared.prepare_body([] if data is None else data, [], arguments.get("json"))
        prepared.prepare_auth(session.auth, url)
        prepared.prepare_hooks(_merge_hooks(default_hooks(), session.hooks))
        return prepared

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
