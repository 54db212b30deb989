"""Provider timestamps -> ISO 8601 UTC strings with an explicit offset.

Providers send three kinds of time: naive wall-clock strings in an account zone (Enneo,
ProProfs, Filum), offset-aware ISO strings (Socialboards with 7 fractional digits,
Teamwork Desk with `Z`), and dates. All of them leave the tap as
`2024-05-12T02:00:00+00:00` (microseconds kept when the provider sends them).

Three more forms are read as well: epoch seconds or milliseconds (numbers, or strings of
nine or more digits), and MySQL's zero date (`0000-00-00`, `0000-00-00 00:00:00`), which
means "no date" and becomes None, counted in `zero_dates` so the run can warn about it.
Anything else raises UnreadableValue (field and value), never a guess: odd forms are read
by pendulum's strict ISO 8601 parser only (`01/03/2024` is a day/month guess).
"""

from __future__ import annotations

import re
import typing as t
from collections import Counter
from datetime import date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tap_helpdesk.errors import SettingsError, UnreadableValue

_FIXED_OFFSET = re.compile(r"^(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?$", re.IGNORECASE)
# Python 3.10's fromisoformat rejects `Z` and more than 6 fractional digits (.NET sends 7).
_LONG_FRACTION = re.compile(r"(\.\d{6})\d+")
_ZERO = timedelta(0)
_EPOCH_DIGITS = re.compile(r"-?\d{9,}(?:\.\d+)?")
#: epoch values at least this large are milliseconds (as seconds: the year 5138)
_MILLISECONDS = 100_000_000_000
_ZERO_DATE = "0000-00-00"
_TIMESTAMP = "an ISO 8601 timestamp or epoch seconds"
_IN_RANGE = "a time within the years 1 to 9999 in UTC"
#: every valid `:MM:SS` of a naive time, for the cached-hour fast path (anything else, such
#: as `10:99:7x`, takes the general path, which says what is wrong with it)
_MINUTES_SECONDS = frozenset(f":{m:02}:{s:02}" for m in range(60) for s in range(60))

#: zero dates read as None, by field ("" where the caller did not name one)
zero_dates: Counter[str] = Counter()


def zero_dates_warning() -> str | None:
    """One line on the zero dates read as None so far, by field; None if there were none."""
    if not zero_dates:
        return None
    fields = ", ".join(f"{name or 'unnamed'} ({n})" for name, n in sorted(zero_dates.items()))
    return f"{sum(zero_dates.values())} zero dates (0000-00-00) were emitted as null: {fields}"


class ZeroDate(UnreadableValue):
    """MySQL's zero date: the provider means "no date"; to_utc reads it as None."""


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
    if text.startswith(_ZERO_DATE):
        raise ZeroDate(text, "a date (MySQL's zero date means none)")
    if _EPOCH_DIGITS.fullmatch(text):
        return from_epoch(float(text) if "." in text else int(text))
    try:
        return datetime.fromisoformat(_LONG_FRACTION.sub(r"\1", text.replace("Z", "+00:00")))
    except ValueError:
        pass
    import pendulum  # noqa: PLC0415  # 30-45 ms to import; needed only for the odd forms

    try:
        parsed = pendulum.parse(text, tz=None, strict=True)  # ISO 8601 only: no day/month guess
    except ValueError:
        raise UnreadableValue(text, _TIMESTAMP) from None
    if isinstance(parsed, datetime):
        return parsed
    if isinstance(parsed, date):
        return datetime(parsed.year, parsed.month, parsed.day)
    raise UnreadableValue(text, _TIMESTAMP)


def from_epoch(number: float) -> datetime:
    """Epoch seconds, or milliseconds when the number is too large to be seconds."""
    seconds = number / 1000 if abs(number) >= _MILLISECONDS else number
    try:
        return datetime.fromtimestamp(seconds, timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise UnreadableValue(number, "epoch seconds or milliseconds in range") from None


class NaiveToUtc:
    """Fast conversion of naive `YYYY-MM-DD HH:MM:SS` text in one zone to ISO 8601 UTC.

    Exports hold hundreds of thousands of such values; when the zone's offset is a whole
    number of hours and constant through the hour, only the date and hour change, so the
    UTC text of each local hour is computed once and the minutes and seconds are copied
    (once checked to be a valid `:MM:SS`).
    Anything else (other forms, half-hour zones, an hour in which the offset changes) takes
    the general path. The hours are cleared when they hold a year of them, so memory stays
    flat however many years a backfill reads.
    """

    limit = 9000

    def __init__(self, zone: tzinfo) -> None:
        """A converter for timestamps written in `zone` (the provider's time zone)."""
        self.zone = zone
        self._hours: dict[str, str | None] = {}

    def __call__(self, value: object, field: str = "") -> str | None:
        """`value` (text in the zone, or epoch seconds) as ISO 8601 UTC; see to_utc."""
        if value is None or value == "":
            return None
        if type(value) is str and len(value) == 19 and value[10] in " T" and value[13] == ":":
            prefix = self._hours.get(value[:13], "")
            if prefix == "":
                if len(self._hours) >= self.limit:
                    self._hours.clear()
                prefix = self._hours[value[:13]] = self._utc_hour(value[:13])
            if prefix is not None and value[13:] in _MINUTES_SECONDS:
                return f"{prefix}{value[13:]}+00:00"
        return to_utc(value, self.zone, field)

    def convert_fields(self, record: dict[str, t.Any], fields: tuple[str, ...]) -> None:
        """Convert the text values of `fields` in place.

        The per-record hot path: the cached hour is looked up inline, without a call per
        value.
        """
        hours = self._hours
        for name in fields:
            value = record.get(name)
            if value.__class__ is str:
                size = len(value)
                if size == 19 and value[13] == ":" and value[10] in " T":
                    prefix = hours.get(value[:13])
                    if prefix and value[13:] in _MINUTES_SECONDS:
                        record[name] = f"{prefix}{value[13:]}+00:00"
                        continue
                elif size > 19:  # with an offset: to_utc's own first step, called directly
                    text = _aware_to_utc(value)
                    if text is not None:
                        record[name] = text
                        continue
                record[name] = self(value, name)
            elif value is not None:
                record[name] = self(value, name)  # epoch numbers (or an error naming the field)

    def _utc_hour(self, local_hour: str) -> str | None:
        try:
            start = datetime.fromisoformat(f"{local_hour}:00:00").replace(tzinfo=self.zone)
        except ValueError:
            return None
        end = start.replace(minute=59, second=59)
        offset = start.utcoffset()
        if offset is None or offset != end.utcoffset() or offset % timedelta(hours=1):
            return None
        try:  # fold=0 (the first of a repeated hour), as the general path reads it
            return start.astimezone(timezone.utc).isoformat()[:13]
        except OverflowError:  # past the years 1-9999 in UTC: the general path says so
            return None


def to_utc(value: object, zone: tzinfo = timezone.utc, field: str = "") -> str | None:
    """Normalise a provider timestamp to ISO 8601 UTC.

    Empty values and zero dates become None; what does not read as a time raises
    UnreadableValue naming `field`.
    """
    if value is None or value == "":
        return None
    try:
        if type(value) is str:
            text = _aware_to_utc(value)
            if text is not None:
                return text
            parsed = parse_datetime(value, zone)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            parsed = from_epoch(value)
        else:
            raise UnreadableValue(value, _TIMESTAMP)
    except ZeroDate:
        zero_dates[field] += 1
        return None
    except UnreadableValue as exc:
        raise exc.in_field(field) if field else exc from None
    try:
        if parsed.utcoffset() == _ZERO:
            return parsed.replace(tzinfo=timezone.utc).isoformat()
        return parsed.astimezone(timezone.utc).isoformat()
    except OverflowError:  # 0001-01-01T01:00+03:00 is a year before the first
        raise UnreadableValue(value, _IN_RANGE, field) from None
    except ValueError:  # an offset of a day or more (+24:00), which pendulum reads
        raise UnreadableValue(value, _TIMESTAMP, field) from None


class _UtcHours(dict[str, str]):
    """The UTC date and hour (`2024-05-12T02`) of a local hour and offset, computed once.

    Keyed by the text's `YYYY-MM-DDTHH` and its `+HH:MM`; cleared when it holds a year of
    hours, so memory stays flat however many tickets a run reads.
    """

    limit = 9000

    def __missing__(self, key: str) -> str:
        local = datetime.fromisoformat(f"{key[:13]}:00:00{key[13:]}")
        if len(self) >= self.limit:
            self.clear()
        hour = self[key] = local.astimezone(timezone.utc).isoformat()[:13]
        return hour


_utc_hours = _UtcHours()


def _aware_to_utc(value: str) -> str | None:
    """to_utc's fast path: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:00)`, as text.

    Socialboards and Teamwork Desk send every timestamp in this form, and `replace`,
    `astimezone` and `isoformat` on the parsed datetime cost three quarters of the 3 us
    the general path takes per value. fromisoformat still checks the text; then, as the
    offset is whole hours, only the date and hour change and the rest is copied
    (isoformat's six fraction digits, cut like fromisoformat cuts, none when they are
    all zero). None for any other form: the general path reads it.
    """
    if (
        len(value) < 20
        or value[4] != "-"
        or value[7] != "-"
        or value[10] != "T"
        or value[13] != ":"
        or value[16] != ":"
    ):
        return None
    if value[-1] == "Z":
        zone = ""
        fraction = value[20:-1]
    elif value[-6] in "+-" and value[-3:] == ":00":
        zone = value[-6:]
        fraction = value[20:-6]
    else:
        return None
    if value[19] == "." and fraction:
        fraction = (fraction + "00000")[:6]
    elif len(value) == 19 + len(zone) + (not zone):
        fraction = "000000"
    else:
        return None
    rest = f"{value[13:19]}+00:00" if fraction == "000000" else f"{value[13:19]}.{fraction}+00:00"
    try:
        datetime.fromisoformat(value)  # the text is a valid time (not 2024-02-30)
        if not zone or zone[1:3] == "00":
            return f"{value[:13]}{rest}"
        return f"{_utc_hours[value[:13] + zone]}{rest}"
    except (ValueError, OverflowError):
        return None


def utc_iso(moment: datetime) -> str:
    """Format an aware datetime as ISO 8601 UTC (a naive one is taken to be UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat()


def in_zone_naive(moment: datetime, zone: tzinfo, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """Write a moment as naive wall-clock text in `zone` (the form some APIs filter on)."""
    return moment.astimezone(zone).strftime(fmt)
