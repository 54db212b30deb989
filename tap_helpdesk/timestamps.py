"""Provider timestamps -> ISO 8601 UTC strings with an explicit offset.

Providers send three kinds of time: naive wall-clock strings in an account zone (Enneo,
ProProfs, Filum), offset-aware ISO strings (Socialboards with 7 fractional digits,
Teamwork Desk with `Z`), and dates. All of them leave the tap as
`2024-05-12T02:00:00+00:00` (microseconds kept when the provider sends them).
"""

from __future__ import annotations

import re
import typing as t
from datetime import date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pendulum

from tap_helpdesk.errors import SettingsError

_FIXED_OFFSET = re.compile(r"^(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?$", re.IGNORECASE)
# Python 3.10's fromisoformat rejects `Z` and more than 6 fractional digits (.NET sends 7).
_LONG_FRACTION = re.compile(r"(\.\d{6})\d+")
_ZERO = timedelta(0)


@lru_cache(maxsize=64)
def parse_zone(name: str, setting: str = "timezone") -> tzinfo:
    """Read a zone setting: an IANA name (`America/Chicago`), `UTC`, or an offset (`UTC+7`)."""
    text = name.strip()
    if text.upper() in {"UTC", "Z", "GMT"}:
        return timezone.utc
    match = _FIXED_OFFSET.match(text)
    if match:
        sign, hours, minutes = match.groups()
        offset = timedelta(hours=int(hours), minutes=int(minutes or 0))
        if offset > timedelta(hours=14):
            raise SettingsError(f"{setting}: offset {name!r} is out of range (at most 14 hours)")
        return timezone(-offset if sign == "-" else offset)
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(
            f"{setting}: unknown time zone {name!r}; use an IANA name such as "
            "'Europe/Berlin' or an offset such as 'UTC+7'"
        ) from None


def parse_datetime(value: str, zone: tzinfo) -> datetime:
    """Parse a provider timestamp; a naive one is read as wall-clock time in `zone`."""
    try:
        # The common forms parse in C on Python 3.11+ (the per-record hot path).
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = _parse_slow(value.strip())
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed


def _parse_slow(text: str) -> datetime:
    try:
        return datetime.fromisoformat(_LONG_FRACTION.sub(r"\1", text.replace("Z", "+00:00")))
    except ValueError:
        parsed = pendulum.parse(text, tz=None, strict=False)
    if isinstance(parsed, datetime):
        return parsed
    if isinstance(parsed, date):
        return datetime(parsed.year, parsed.month, parsed.day)
    raise ValueError(f"not a timestamp: {text!r}")


class NaiveToUtc:
    """Fast conversion of naive `YYYY-MM-DD HH:MM:SS` text in one zone to ISO 8601 UTC.

    Exports hold hundreds of thousands of such values; when the zone's offset is a whole
    number of hours and constant through the hour, only the date and hour change, so the
    UTC text of each local hour is computed once and the minutes and seconds are copied.
    Anything else (other forms, half-hour zones, an hour in which the offset changes) takes
    the general path.
    """

    def __init__(self, zone: tzinfo) -> None:
        self.zone = zone
        self._hours: dict[str, str | None] = {}

    def __call__(self, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if len(value) == 19 and value[10] in " T" and value[13] == ":":
            prefix = self._hours.get(value[:13], "")
            if prefix == "":
                prefix = self._hours[value[:13]] = self._utc_hour(value[:13])
            if prefix is not None:
                return f"{prefix}{value[13:19]}+00:00"
        return to_utc(value, self.zone)

    def convert_fields(self, record: dict[str, t.Any], fields: tuple[str, ...]) -> None:
        """Convert the text values of `fields` in place (the per-record hot path: the
        cached hour is looked up inline, without a call per value)."""
        hours = self._hours
        for name in fields:
            value = record.get(name)
            if value.__class__ is str:
                prefix = (
                    hours.get(value[:13])
                    if len(value) == 19 and value[13] == ":" and value[10] in " T"
                    else None
                )
                record[name] = f"{prefix}{value[13:]}+00:00" if prefix else self(value)

    def _utc_hour(self, local_hour: str) -> str | None:
        try:
            start = datetime.fromisoformat(f"{local_hour}:00:00").replace(tzinfo=self.zone)
        except ValueError:
            return None
        end = start.replace(minute=59, second=59)
        offset = start.utcoffset()
        if offset is None or offset != end.utcoffset() or offset % timedelta(hours=1):
            return None
        # fold=0 (the first of a repeated hour), as the general path reads it
        return start.astimezone(timezone.utc).isoformat()[:13]


def to_utc(value: str | None, zone: tzinfo = timezone.utc) -> str | None:
    """Normalise a provider timestamp to ISO 8601 UTC; empty values become None."""
    if value is None or value == "":
        return None
    parsed = parse_datetime(value, zone)
    if parsed.utcoffset() == _ZERO:
        return parsed.replace(tzinfo=timezone.utc).isoformat()
    return parsed.astimezone(timezone.utc).isoformat()


def utc_iso(moment: datetime) -> str:
    """Format an aware datetime as ISO 8601 UTC (a naive one is taken to be UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat()


def in_zone_naive(moment: datetime, zone: tzinfo, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """Write a moment as naive wall-clock text in `zone` (the form some APIs filter on)."""
    return moment.astimezone(zone).strftime(fmt)
