"""The settings every provider block shares the shape of, and the top-level settings.

Each provider module declares its own block (`SETTINGS`) with these builders; tap.py
puts the blocks together (tap_helpdesk.providers.PROVIDERS) into the settings schema.
"""

from __future__ import annotations

import typing as t

from singer_sdk import typing as th


def rate_settings(per_second: float | None, per_minute: float | None, note: str) -> list[t.Any]:
    """requests_per_second and requests_per_minute, with the provider's defaults."""
    return [
        th.Property(
            "requests_per_second",
            th.NumberType,
            default=per_second,
            title="Requests per second",
            description=f"Most requests sent in any one second. {note}",
        ),
        th.Property(
            "requests_per_minute",
            th.NumberType,
            default=per_minute,
            title="Requests per minute",
            description=f"Most requests sent in any one minute. {note}",
        ),
    ]


def api_url(default: str | None, example: str) -> th.Property[t.Any]:
    """The provider's base URL."""
    return th.Property(
        "api_url",
        th.URIType,
        default=default,
        title="API URL",
        description=f"Base URL of the API, e.g. {example}. Point it at the sandbox to test.",
    )


def timezone(default: str, why: str) -> th.Property[t.Any]:
    """The zone of the provider's naive timestamps."""
    return th.Property(
        "timezone",
        th.StringType,
        default=default,
        title="Time zone",
        description=f"Zone of the provider's naive timestamps: an IANA name or UTC+7. {why}",
    )


def concurrency(default: int, why: str) -> th.Property[t.Any]:
    """Requests in flight at once (where the walk allows it), within the request budget."""
    return th.Property(
        "max_concurrent_requests",
        th.IntegerType,
        default=default,
        title="Requests in flight",
        description="Requests sent at once where the walk allows it (independent windows "
        "or slices), always within the request budget; 1 sends one at a time. " + why,
    )


#: Settings outside the provider blocks.
COMMON: tuple[th.Property[t.Any], ...] = (
    th.Property(
        "start_date",
        th.DateTimeType,
        required=True,
        title="Start date",
        description="Earliest data to extract on a first sync (ISO 8601).",
    ),
    th.Property(
        "end_date",
        th.DateTimeType,
        title="End date",
        description="Optional upper bound; default: now.",
    ),
    th.Property(
        "lookback_days",
        th.NumberType,
        default=1,
        title="Lookback days",
        description="Re-read this many days before the bookmark on each "
        "incremental run, to catch late updates.",
    ),
    th.Property(
        "max_retries",
        th.IntegerType,
        default=6,
        title="Max retries",
        description="Retries of a request after 429, 5xx, timeouts and dropped "
        "connections, with exponential backoff and jitter.",
    ),
    th.Property(
        "request_timeout",
        th.IntegerType,
        default=120,
        title="Request timeout",
        description="Seconds to wait for one response.",
    ),
    th.Property(
        "backoff_base_seconds",
        th.NumberType,
        default=1.0,
        title="Backoff base seconds",
        description="First retry delay; it doubles per retry (capped at 60 s) "
        "unless the server says how long to wait.",
    ),
)
