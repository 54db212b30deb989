"""The guard against answers that cannot be trusted: a walk that does not advance.

`WalkGuard` checks every request before it is sent and every answer once it is read, and
stops the run with one line naming the provider, the request and what repeated:

- a request the walk already sent (a cursor, a link or a skip that did not move),
- an answer holding the same rows as an earlier one to another request (a server that
  ignores skip/page, links that cycle),
- answers that keep bringing only rows already met,
- more requests than the walk's own upper bound (from totals, windows, page sizes).

The STATE written before it is a point from which a rerun loses nothing (bookmarks move
only once an answer's rows are written, engine.py).
"""

from __future__ import annotations

import typing as t

from tap_helpdesk.errors import ProviderError
from tap_helpdesk.walk import Step, Token, Walk

if t.TYPE_CHECKING:
    from collections.abc import Hashable

#: Consecutive answers with rows but none the walk had not met before: the walk is stuck.
MAX_IDLE_ANSWERS = 5
#: The last answers whose requests are kept, to name the one a later answer repeats (an
#: older one is named by its number). A request is described only for an error line.
NAMED_ANSWERS = 64


class WalkGuard(t.Generic[Token]):
    """Stops a walk that does not advance (see the module doc)."""

    def __init__(self, label: str, walk: Walk[Token]) -> None:
        """Guard `walk`; `label` names the provider in error lines."""
        self.label = label
        self.walk = walk
        # Requests and answers are remembered by a 64-bit hash of their text (`_digest`),
        # not as the objects (a run of 8000 ProProfs pages kept 3 MB of tokens and
        # fingerprints): two different ones of a run share one by chance, about n^2/2^64.
        self.sent: set[int] = set()
        #: an answer's fingerprint -> its number in the walk (1 for the first)
        self.answers: dict[int, int] = {}
        #: answer number -> its request, for the last NAMED_ANSWERS answers
        self._named: dict[int, Token] = {}
        self.answered = 0
        self.idle = 0
        self.requests = 0

    def before(self, token: Token) -> None:
        """Check a request before it is sent."""
        key = _digest(self.walk.identity(token))
        if key in self.sent:
            raise ProviderError(
                self.label,
                f"the walk asked for {self.walk.describe(token)} a second time: the "
                "server's answers did not move it on (a cursor, page or skip that repeats)",
            )
        self.sent.add(key)
        limit = self.walk.request_limit()
        if limit is not None and self.requests >= limit:
            raise ProviderError(
                self.label,
                f"more requests than the answers allow ({self.requests} sent, at most "
                f"{limit} expected, next {self.walk.describe(token)}): the server's totals, "
                "page sizes or links do not add up",
            )
        self.requests += 1

    def withdraw(self, key: Hashable) -> None:
        """A request (by its identity) was dropped unanswered: it may be sent again."""
        self.sent.discard(_digest(key))
        self.requests -= 1

    def after(self, token: Token, step: Step) -> None:
        """Check what an answer said."""
        self.answered += 1
        number = self.answered
        if step.fingerprint is not None and step.rows:
            fingerprint = _digest(step.fingerprint)
            earlier = self.answers.get(fingerprint)
            if earlier is not None:
                raise ProviderError(
                    self.label,
                    f"the answer to {self.walk.describe(token)} holds the same rows as "
                    f"{self._name(earlier)}: the server ignored what changed between them",
                )
            self.answers[fingerprint] = number
        self._named[number] = token
        self._named.pop(number - NAMED_ANSWERS, None)
        if step.rows and not step.new:
            self.idle += 1
            if self.idle >= MAX_IDLE_ANSWERS:
                raise ProviderError(
                    self.label,
                    f"{self.idle} answers in a row brought only rows already read (the last "
                    f"to {self.walk.describe(token)}): the walk does not advance",
                )
        elif step.new:
            self.idle = 0

    def _name(self, number: int) -> str:
        """An earlier answer, for an error line: its request, or its number when older."""
        token = self._named.get(number)
        if token is not None:
            return f"the answer to {self.walk.describe(token)}"
        return f"answer {number} of this walk ({self.answered - number} answers before this one)"


def _digest(value: Hashable) -> int:
    """A 64-bit hash of a request's identity or an answer's fingerprint, by its text.

    Python's own hash of numbers is no digest (-1 and -2 hash alike); the repr of the
    tokens and fingerprints walks use (dataclasses, tuples of text and numbers) tells any
    two apart, and a string's hash is SipHash.
    """
    return hash(repr(value))


__all__ = ["MAX_IDLE_ANSWERS", "NAMED_ANSWERS", "WalkGuard"]
