r"""JSON that names half a UTF-16 pair (`"\ud83d"` alone), read with U+FFFD in its place.

RFC 8259 (section 8.2) lets a string escape name a lone surrogate, and servers that hold
text as UTF-16 (.NET, JavaScript, Python) send one when they cut a string inside an
emoji. Such a string has no UTF-8 form: msgspec refuses the whole answer, no target could
store it, and a run would stop at that ticket on every rerun. So an answer msgspec
refuses is read again, only when it holds such an escape, with the standard decoder
(NaN, Infinity and numbers out of range still refused); each lone half becomes U+FFFD,
as browsers read it, and the run ends with a warning that counts them by provider, in
the answers read: an answer read twice (peeked at ahead of its turn, then read when its
rows go out) counts once; a row that two answers bring (pages that overlap) counts in each.
"""

from __future__ import annotations

import json
import math
import re
import typing as t
import weakref
from collections import Counter

_ESCAPE = r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}"  # a JSON escape naming either half of a pair
_SURROGATE_ESCAPE = re.compile(_ESCAPE.encode())
_SURROGATE_TEXT = re.compile(_ESCAPE)
_LONE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"

#: lone surrogates read as U+FFFD so far, by provider label
replaced: Counter[str] = Counter()
#: the answers (responses) whose lone surrogates are counted already
_counted: weakref.WeakSet[object] = weakref.WeakSet()


class _NotRead(Exception):
    """The body is not JSON the fallback reads either."""


def holds_surrogate_escape(text: str) -> bool:
    """`text` (JSON) has an escape naming a surrogate, paired or not."""
    return _SURROGATE_TEXT.search(text) is not None


def counts(answer: object | None) -> bool:
    """Whether the lone surrogates read from `answer` count: not when it was read before.

    None (a value that is not an answer of its own, such as a field holding JSON text):
    always.
    """
    if answer is None:
        return True
    if answer in _counted:
        return False
    _counted.add(answer)
    return True


def decode_replacing(body: bytes, label: str, answer: object = None) -> tuple[bool, t.Any]:
    """(True, the JSON of `body` with lone surrogates replaced), or (False, None).

    False when the body holds no surrogate escape or is not JSON for this reading
    either: the caller's own error line then says what it is. `answer`: the response
    the body is of, counted once however often it is read (see `counts`).
    """
    if _SURROGATE_ESCAPE.search(body) is None:
        return False, None
    try:
        value = json.loads(body, parse_constant=_refuse, parse_float=_finite)
        return True, replace_lone(value, label, counted=counts(answer))
    except (ValueError, RecursionError, _NotRead):  # JSONDecodeError is a ValueError
        return False, None


# Any: any decoded JSON
def replace_lone(value: t.Any, label: str, *, counted: bool = True) -> t.Any:  # noqa: ANN401
    """`value` with every lone surrogate in its text (keys too) replaced.

    Each is counted for `label`, unless `counted` is False (an answer read before).
    """
    if isinstance(value, str):
        if _LONE.search(value) is None:
            return value
        text, count = _LONE.subn(REPLACEMENT, value)
        if counted:
            replaced[label] += count
        return text
    if isinstance(value, list):
        return [replace_lone(item, label, counted=counted) for item in value]
    if isinstance(value, dict):
        return {
            replace_lone(k, label, counted=counted): replace_lone(v, label, counted=counted)
            for k, v in value.items()
        }
    return value


def replaced_warning() -> str | None:
    """One line on the lone surrogates replaced so far; None if there were none."""
    if not replaced:
        return None
    where = ", ".join(f"{label} ({n})" for label, n in sorted(replaced.items()))
    return (
        f"{sum(replaced.values())} lone UTF-16 surrogates (half of a character, as a string "
        f"cut inside an emoji leaves) were read as U+FFFD: {where}"
    )


def _refuse(constant: str) -> t.NoReturn:
    raise _NotRead(constant)  # NaN, Infinity: not JSON


def _finite(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise _NotRead(text)  # 1e400: msgspec's "Number out of range"
    return number
