"""What an answer says besides its rows, for error lines and waits.

A short view of it for error lines, where a redirect pointed, and how long a rate-limit
header says to wait.
"""

from __future__ import annotations

import email.utils
import math
import re
import time
import typing as t
from urllib.parse import urlparse

if t.TYPE_CHECKING:
    import requests

_TAGS = re.compile(r"<[^>]+>")
_SPACES = re.compile(r"\s+")


def response_snippet(response: requests.Response, limit: int = 160) -> str:
    """A short, single-line view of a response body (HTML tags stripped) for error lines."""
    text = _SPACES.sub(" ", _TAGS.sub(" ", response.text or "")).strip()
    return text[:limit] + ("..." if len(text) > limit else "") if text else "(empty body)"


def describe_redirect(provider: str, response: requests.Response) -> str:
    """One line for a redirect, which is never followed: the credentials would go along.

    Only the target's scheme, host and path are shown (its query may hold anything).
    """
    target = urlparse(response.headers.get("Location") or "")
    where = f"{target.scheme}://{target.netloc}{target.path}" if target.netloc else target.path
    return (
        f"HTTP {response.status_code} redirect from {urlparse(response.url).path} to "
        f"{where or '(no location)'}, not followed (the credentials would go with it): "
        f"check {provider}.api_url"
    )


def seconds_until_reset(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After or X-Rate-Limit-Reset header.

    Retry-After is seconds or an HTTP date; Teamwork documents X-Rate-Limit-Reset as the
    "remaining window, UTC epoch seconds", which reads either way, so a value large enough
    to be an epoch is taken as one and anything smaller as a number of seconds.
    """
    if not value:
        return None
    now = time.time() if now is None else now
    try:
        number = float(value)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        wait = moment.timestamp() - now
        return wait if wait > 0 else None  # a date in the past says nothing: back off
    if not math.isfinite(number) or number < 0:
        return None  # NaN, infinity or a negative wait: back off instead
    if number > 1_000_000_000:
        wait = number - now
        return wait if wait > 0 else None
    return number


__all__ = ["describe_redirect", "response_snippet", "seconds_until_reset"]
