"""Enneo's export protocol, the same on its four export endpoints (provider-docs/enneo).

The data behind it: sandbox/enneo.py (tickets) and sandbox/enneo_activity.py (messages,
worklog). Every export takes filters[N][key|comparator|value|from|to|values][],
orderByField, orderByDirection (default desc), limit (1..1000) and offset; an order column
the table does not have is a 400 (the docs: "must be a column from the ... table"). Times,
in filters as in rows, are naive `YYYY-MM-DD HH:MM:SS` text in the instance zone
(Europe/Berlin here). /export/ticket filters on prefixed keys (`t.modifiedAt`), the
reporting exports on bare ones.
"""

from __future__ import annotations

import bisect
import typing as t
from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from sandbox.server import Request

ZONE = ZoneInfo("Europe/Berlin")
MAX_LIMIT = 1000
Row = dict[str, t.Any]
#: a row value a filter compares with (bool and float are ints and floats too)
Cell = datetime | int | float | str | None
#: a table's rows with a value in the order field, as (value, id) sorted, and then every
#: row in that order, those without a value last (by id)
SortedRows = tuple[list[tuple[t.Any, int]], list[Row]]


@dataclass(frozen=True)
class Export:
    """One export endpoint: the table it reads, the row's id, its filter-key prefix."""

    table: str
    id_field: str
    prefix: str
    default_order: str


EXPORTS = {
    "/api/mind/export/ticket": Export("tickets", "id", "t.", "createdAt"),
    "/api/mind/export/reporting_tickets": Export("tickets", "id", "", "createdAt"),
    "/api/mind/export/reporting_messages": Export("messages", "conversationId", "", "createdAt"),
    "/api/mind/export/reporting_worklog": Export("worklog", "userWorklogId", "", "date"),
}


def local(moment: datetime | None) -> str | None:
    """UTC moment -> Enneo's naive instance-zone text."""
    return None if moment is None else moment.astimezone(ZONE).strftime("%Y-%m-%d %H:%M:%S")


def parse_local(text: str) -> datetime:
    """Enneo filter value (naive instance-zone text or a date) -> UTC moment."""
    value = datetime.fromisoformat(text.strip())
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZONE)
    return value.astimezone(timezone.utc)


def sort_rows(rows: t.Collection[Row], order: str, identity: str) -> SortedRows:
    """The rows sorted by `order` then `identity`, those without an `order` value last."""
    present = [r for r in rows if r[order] is not None]
    present.sort(key=lambda r: (r[order], r[identity]))
    missing = [r for r in rows if r[order] is None]
    return (
        [(r[order], r[identity]) for r in present],
        present + sorted(missing, key=lambda r: r[identity]),
    )


def select(
    request: Request,
    view: Export,
    order: str,
    ordered: SortedRows,
    table: t.Collection[Row],
    *,
    descending: bool,
) -> list[Row]:
    """The filtered rows of `table` in the asked order.

    Range filters on the order field cut `ordered` by bisection; any other filter is
    applied to the whole table and the result intersected.
    """
    prefix = view.prefix
    keys, rows = ordered
    low, high = 0, len(rows)
    index = 0
    residual = False
    while f"filters[{index}][key]" in request.query:
        key = (request.arg(f"filters[{index}][key]") or "").removeprefix(prefix)
        comparator = request.arg(f"filters[{index}][comparator]") or "="
        value = request.arg(f"filters[{index}][value]")
        if key == order and comparator in {">=", ">", "<=", "<"} and value is not None:
            target = parse_local(value) if keys and isinstance(keys[0][0], datetime) else value
            if comparator == ">=":
                low = max(low, bisect.bisect_left(keys, (target, -1)))
            elif comparator == ">":
                low = max(low, bisect.bisect_right(keys, (target, 1 << 62)))
            elif comparator == "<=":
                high = min(high, bisect.bisect_right(keys, (target, 1 << 62)))
            else:
                high = min(high, bisect.bisect_left(keys, (target, -1)))
            high = min(high, len(keys))  # rows without a value never match a range
        else:
            residual = True
        index += 1
    selected = rows[low:high] if low < high else []
    if residual:
        identity = view.id_field
        allowed = {row[identity] for row in filtered(request, view, table)}
        selected = [row for row in selected if row[identity] in allowed]
    return selected[::-1] if descending else selected


def filtered(request: Request, view: Export, table: t.Iterable[Row]) -> list[Row]:
    """The rows of `table` every filter of the request selects.

    Raises:
        ValueError: a filter key without the prefix the export needs, or a value that does
            not parse as the field's type.
        KeyError: a filter on a column the table does not have.
    """
    prefix = view.prefix
    rows = list(table)
    index = 0
    while f"filters[{index}][key]" in request.query:
        key = request.arg(f"filters[{index}][key]") or ""
        if prefix and not key.startswith(prefix):
            raise ValueError(f"key {key} needs the {prefix} prefix on this export")
        field = key.removeprefix(prefix)
        comparator = request.arg(f"filters[{index}][comparator]") or "="
        value = request.arg(f"filters[{index}][value]")
        rows = [r for r in rows if matches(r[field], comparator, value, request, index)]
        index += 1
    return rows


def matches(actual: Cell, comparator: str, value: str | None, request: Request, index: int) -> bool:
    """Whether a row's value passes filter number `index` (a missing value only `!=`)."""
    if isinstance(actual, datetime) or actual is None:
        convert: t.Callable[[str], t.Any] = parse_local
    else:
        convert = type(actual)
    if comparator == "between":
        low = convert(request.arg(f"filters[{index}][from]") or "")
        high = convert(request.arg(f"filters[{index}][to]") or "")
        return actual is not None and low <= actual <= high
    if comparator == "in":
        return str(actual) in request.args(f"filters[{index}][values][]")
    if actual is None:
        return comparator == "!="
    target = convert(value or "")
    return {
        "=": actual == target,
        "!=": actual != target,
        ">": actual > target,
        "<": actual < target,
        ">=": actual >= target,
        "<=": actual <= target,
    }[comparator]
