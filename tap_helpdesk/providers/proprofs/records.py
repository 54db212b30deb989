"""Record values as the ProProfs list sends them, made regular."""

from __future__ import annotations

import typing as t
from urllib.parse import urlsplit

_TRUE = frozenset({"1", "true", "yes"})
_FALSE = frozenset({"0", "false", "no"})


def as_bool(value: object) -> bool | None:
    """`deleted` is "0"/"1" in the API; None for anything unrecognised."""
    if value in ("0", "1"):
        return bool(value == "1")
    if isinstance(value, bool) or value is None:
        return value
    text = str(value).strip().lower()
    return True if text in _TRUE else False if text in _FALSE else None


def as_list(value: object) -> list[t.Any]:
    """A custom_fields or labels value as an array of objects, whatever form empty takes."""
    if value in (None, "", {}):
        return []
    if isinstance(value, dict):
        return [value]
    return value if isinstance(value, list) else [value]


def as_object(value: object) -> object:
    """Staff or inbox: an empty value becomes null."""
    return None if value in ("", [], {}) else value


def as_integer(value: object) -> int | None:
    """The total_tickets value, a string in the API ("1"), as an integer."""
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def link_query(link: str) -> str:
    """The query of a page link (`page=2`): the only part of it we use."""
    return urlsplit(link.strip()).query


def message_rows(tickets: list[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
    """Each nested message as its own row, keyed by ticket_id and position (1 = first)."""
    rows = []
    for ticket in tickets:
        messages = ticket.get("messages")
        if not isinstance(messages, list):
            continue
        for position, message in enumerate(messages, start=1):
            if isinstance(message, dict):
                rows.append(
                    {"ticket_id": str(ticket.get("ticket_id")), "position": position, **message}
                )
    return rows
