"""What a Filum export answer holds: its limits and fields, its tally, tickets emitted.

An answer (POST /external/tickets/export, provider-docs/filum-tickets-export) is every
ticket of a day range at once, at most ROW_CAP rows. `ExportAnswer` keeps, of each row
read, only what tells how to split a capped answer and which date the range applies to;
`RecentTickets` drops a ticket version already emitted when the parts of a capped window,
or the retry of an answer cut off mid-way, bring it again (walk.py reads the answers).
"""

from __future__ import annotations

import typing as t
from collections import Counter
from dataclasses import dataclass, field

if t.TYPE_CHECKING:
    from collections.abc import Hashable, Sequence


ROW_CAP = 5000  # "Each export request can include up to 5000 rows of data."
STATUSES = ("open", "pending", "closed", "deleted")
PRIORITIES = ("low", "medium", "high", "urgent")
#: The fields one of which is the (undocumented) date the export range filters on.
DAY_FIELDS = ("created_at", "updated_at")
#: What the bookmark holds until the answers show which date the range applies to.
DEFAULT_BOOKMARK_FIELD = "created_at"

Record = dict[str, t.Any]


@dataclass
class ExportAnswer:
    """What one export answer held: its row count, and what tells how to split it if capped.

    The records themselves are emitted as they are read, never held; of each, only its
    status, priority and two times are kept (references to strings it already has), and
    counted only if the answer turns out capped.
    """

    rows: int = 0
    _statuses: list[str | None] = field(default_factory=list)
    _priorities: list[str | None] = field(default_factory=list)
    _times: dict[str, list[str | None]] = field(
        default_factory=lambda: {name: [] for name in DAY_FIELDS}
    )

    def count(self, record: dict[str, t.Any]) -> None:
        """Note a record's status, priority and times."""
        self.rows += 1
        self._statuses.append(record["status"])
        self._priorities.append(record["priority"])
        for name, times in self._times.items():
            times.append(record[name])

    def reset(self) -> None:
        """Forget what was noted (an answer cut off mid-way is read again)."""
        self.rows = 0
        for values in (self._statuses, self._priorities, *self._times.values()):
            values.clear()

    @property
    def statuses(self) -> Counter[str]:
        """Rows per status (lower case)."""
        return Counter(value.lower() for value in self._statuses if value)

    @property
    def priorities(self) -> Counter[str]:
        """Rows per priority (lower case)."""
        return Counter(value.lower() for value in self._priorities if value)

    @property
    def without_priority(self) -> int:
        """Rows with no priority (which no priority filter selects)."""
        return sum(1 for value in self._priorities if not value)

    def latest(self, name: str) -> str | None:
        """The latest value of one of DAY_FIELDS (ISO 8601 UTC text), None without any."""
        return max((value for value in self._times[name] if value), default=None)

    def earliest(self, name: str) -> str | None:
        """The earliest value of one of DAY_FIELDS (ISO 8601 UTC text), None without any."""
        return min((value for value in self._times[name] if value), default=None)

    def hours(self, name: str) -> Counter[str]:
        """Rows per UTC hour ("2024-03-05T07") of one of DAY_FIELDS."""
        return Counter(value[:13] for value in self._times[name] if value)


class RecentTickets:
    """Tickets emitted whose day may still come up in the walk, to emit each version once.

    A ticket comes back unchanged when the parts of a capped window, or the retry of an
    answer cut off mid-way, are read after the rows already emitted. The walk goes forward
    in time and a ticket's export day is that of the date the API filters on (created_at
    or updated_at), so once the walk has passed it the ticket cannot come back and is
    forgotten: memory stays within about one answer. While that date is not known, a
    ticket is kept until the walk has passed both.
    """

    def __init__(self) -> None:
        """No ticket emitted yet."""
        #: ticket_id -> (updated_at, created_at) of the version emitted
        self._versions: dict[t.Any, tuple[t.Any, t.Any]] = {}

    def is_new(self, record: dict[str, t.Any]) -> bool:
        """Whether this version of the ticket has not been emitted (and note it as emitted)."""
        key, version = record["ticket_id"], record["updated_at"]
        known = self._versions.get(key)
        if known is not None and known[0] == version:
            return False
        self._versions[key] = (version, record["created_at"])
        return True

    def forget_before(self, moment: str, filter_field: str | None = None) -> None:
        """Forget tickets whose export day is before `moment` (ISO 8601 UTC)."""
        versions = self._versions
        if filter_field == "created_at":
            old = [key for key, (_u, created) in versions.items() if (created or "") < moment]
        elif filter_field == "updated_at":
            old = [key for key, (updated, _c) in versions.items() if (updated or "") < moment]
        else:
            old = [
                key
                for key, (updated, created) in versions.items()
                if max(created or "", updated or "") < moment
            ]
        for key in old:
            del versions[key]

    def __len__(self) -> int:
        """Tickets remembered (those the walk may still meet again)."""
        return len(self._versions)


def answer_fingerprint(
    answer: ExportAnswer, first: Record | None, last: Record | None
) -> Hashable | None:
    """An answer's size and its first and last tickets (id and version)."""
    if first is None or last is None:
        return None
    return (
        answer.rows,
        first["ticket_id"],
        first["updated_at"],
        last["ticket_id"],
        last["updated_at"],
    )


def filter_values(documented: Sequence[str], seen: Counter[str]) -> list[str]:
    """The documented filter values plus any other value the answer showed."""
    return list(dict.fromkeys([*documented, *seen]))
