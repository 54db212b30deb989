"""Values the tap is handed, checked before they are used.

Records are cast to their stream's schema; the settings and state the user gives are
checked too (see the end of this module).

Providers send ids as text in one answer and as numbers in the next (`"4484636"`), or
flags as `"true"`. A target loads a column by the schema the SCHEMA message declared, so
each record is made to fit it: a value of an allowed type is left alone (one class check
per field), a lossless cast is applied (`"4484636"` -> 4484636, `"1.5"` -> 1.5, `"true"`
-> True, 7 -> "7"), and anything else raises UnreadableValue naming the field. The plan
of which fields to check is built once per schema.
"""

from __future__ import annotations

import difflib
import math
import re
import typing as t
import weakref
from datetime import timezone

from singer_sdk.helpers._util import load_json

from tap_helpdesk.errors import ProviderError, SettingsError, UnreadableValue
from tap_helpdesk.timestamps import parse_datetime

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

Cast = t.Callable[[object], object]
#: (field, classes it may hold as it is, cast for anything else, check of nested values)
Entry = tuple[str, frozenset[type], Cast, "Descend | None"]
Descend = t.Callable[[t.Any], None]

_INTEGER_TEXT = re.compile(r"[+-]?\d+")
_CLASSES: dict[str, tuple[type, ...]] = {
    "null": (type(None),),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "string": (str,),
    "object": (dict,),
    "array": (list,),
}
_BOOLEANS = {"true": True, "false": False, "1": True, "0": False}


def _to_integer(value: object) -> int:
    if type(value) is str and _INTEGER_TEXT.fullmatch(value.strip()):
        return int(value)
    if type(value) is float and value.is_integer():
        return int(value)
    raise UnreadableValue(value, "an integer")


def _to_number(value: object) -> float | int:
    if type(value) is str:
        try:
            number = float(value)
        except ValueError:
            pass
        else:
            if math.isfinite(number):
                return int(value) if _INTEGER_TEXT.fullmatch(value.strip()) else number
    raise UnreadableValue(value, "a number")


def _to_boolean(value: object) -> bool:
    if type(value) is str and value.strip().lower() in _BOOLEANS:
        return _BOOLEANS[value.strip().lower()]
    if type(value) is int and value in (0, 1):
        return bool(value)
    raise UnreadableValue(value, "a boolean")


def _to_string(value: object) -> str:
    if type(value) is int:
        return str(value)
    raise UnreadableValue(value, "a string")


_CASTS: dict[str, Cast] = {
    "integer": _to_integer,
    "number": _to_number,
    "boolean": _to_boolean,
    "string": _to_string,
}


def _types(schema: Mapping[str, t.Any]) -> list[str]:
    declared = schema.get("type")
    if isinstance(declared, str):
        return [declared]
    return list(declared) if isinstance(declared, list) else []


def _cast_for(types: list[str]) -> Cast:
    casts = [_CASTS[name] for name in types if name in _CASTS]
    expected = " or ".join(types)

    def cast(value: object) -> object:
        for one in casts:
            try:
                return one(value)
            except UnreadableValue:
                continue
        raise UnreadableValue(value, f"of type {expected}")

    return cast


def _entry(name: str, schema: Mapping[str, t.Any]) -> Entry | None:
    types = _types(schema)
    if not types or "anyOf" in schema or "oneOf" in schema:
        return None  # any value: nothing to check
    allowed = frozenset(cls for name_ in types for cls in _CLASSES.get(name_, ()))
    descend: Descend | None = None
    if "object" in types and schema.get("properties"):
        descend = compile_checks(plan(schema["properties"]))
    elif "array" in types and isinstance(schema.get("items"), dict):
        item = _entry("[]", schema["items"])
        if item is not None:
            descend = _ArrayCheck(item)
    return (name, allowed, _cast_for(types), descend)


def plan(properties: Mapping[str, t.Any]) -> tuple[Entry, ...]:
    """The checks of one level of a schema's properties."""
    entries = (_entry(name, schema) for name, schema in properties.items())
    return tuple(entry for entry in entries if entry is not None)


def apply(entries: tuple[Entry, ...], record: dict[str, t.Any]) -> None:
    """Cast the values of `record` in place; UnreadableValue names the field.

    The plain loop over a schema's checks: `compile_checks` writes it out per schema (what
    records go through); tests compare the two.
    """
    for entry in entries:
        name, allowed, _cast, descend = entry
        value = record.get(name)
        if value.__class__ not in allowed:
            _cast_one(record, entry, value)
        elif descend is not None and value is not None:
            _descend_one(entry, value)


def _cast_one(record: dict[str, t.Any], entry: Entry, value: object) -> None:
    """What `apply` does for a value of a class its field does not allow."""
    name, _allowed, cast, _descend = entry
    if value is None and name not in record:
        return  # absent, not null
    try:
        record[name] = cast(value)
    except UnreadableValue as exc:
        raise exc.in_field(name) from None


def _descend_one(entry: Entry, value: object) -> None:
    """What `apply` does for a nested value of an allowed class."""
    name, _allowed, _cast, descend = entry
    try:
        t.cast("Descend", descend)(value)
    except UnreadableValue as exc:
        raise exc.in_field(name) from None


def _class_test(
    key: str, allowed: frozenset[type], namespace: dict[str, t.Any], first: str, rest: str
) -> str:
    """Source of a test that a value is of a class outside `allowed`.

    The value is written `first` where it is first read (an assignment expression, in a
    nested test) and `rest` after that.
    """
    classes = sorted((cls for cls in allowed if cls is not type(None)), key=lambda c: c.__name__)
    if len(classes) == 1:
        namespace[key] = classes[0]
        test = "{}.__class__ is not " + key
    else:
        namespace[key] = frozenset(classes)
        test = "{}.__class__ not in " + key
    if type(None) in allowed:
        return f"({first} is not None and {test.format(rest)})"
    return test.format(first)


class _Source:
    """Names for the generated check: a class set, a nested value, an item (numbered)."""

    def __init__(self, namespace: dict[str, t.Any]) -> None:
        self.namespace = namespace
        self._count = 0

    def name(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}{self._count}"

    def needs_work(self, entry: Entry, first: str, rest: str) -> str:
        """An expression, true when a value needs the reference path (`_cast_one`).

        That is a value of a class its entry does not allow, or a container holding one,
        however deep: the reference path casts it, or names it.
        """
        _name, allowed, _cast, descend = entry
        test = _class_test(self.name("c"), allowed, self.namespace, first, rest)
        nested = self.nested_work(descend, allowed, rest)
        return test if nested is None else f"({test} or ({rest} and {nested}))"

    def nested_work(
        self, descend: Descend | None, allowed: frozenset[type], value: str
    ) -> str | None:
        """An expression, true when a (non-empty) container `value` holds a value to cast."""
        if descend is None:
            return None
        kinds = allowed - {type(None)}
        entries = _OBJECT_ENTRIES.get(descend)
        if entries is not None and kinds == {dict}:
            if not entries:
                return "False"
            parts = []
            for entry in entries:
                nested = self.name("v")
                parts.append(
                    self.needs_work(entry, f"({nested} := {value}.get({entry[0]!r}))", nested)
                )
            return "(" + " or ".join(parts) + ")"
        if isinstance(descend, _ArrayCheck) and kinds == {list}:
            item = self.name("i")
            return f"any({self.needs_work(descend.item, item, item)} for {item} in {value})"
        return "True"  # a container of another kind: always the reference path


#: The entries of each compiled object check, for the checks of the objects around it.
_OBJECT_ENTRIES: weakref.WeakKeyDictionary[Descend, tuple[Entry, ...]] = weakref.WeakKeyDictionary()


def compile_checks(entries: tuple[Entry, ...]) -> Descend:
    """`apply(entries, record)` as one function, written out field by field.

    A record of 40 fields costs a loop, a tuple unpacking and a set lookup per field in
    `apply`; unrolled, a field is one dict lookup and one class comparison, nested objects
    and arrays are tested inline, and only a value to cast (or a container holding one)
    calls out, to the reference path. Same effect as `apply`, which stays the reference
    (tests/test_shared.py compares the two).
    """
    namespace: dict[str, t.Any] = {"_cast_one": _cast_one, "_descend_one": _descend_one}
    source = _Source(namespace)
    lines = ["def check(record):", "    get = record.get"]
    for index, entry in enumerate(entries):
        _name, allowed, _cast, descend = entry
        namespace[f"e{index}"] = entry  # field names stay data (repr), never code
        lines.append(f"    value = get({entry[0]!r})")
        lines.append(
            f"    if {_class_test(source.name('c'), allowed, namespace, 'value', 'value')}:"
        )
        lines.append(f"        _cast_one(record, e{index}, value)")
        if isinstance(descend, _ArrayCheck) and allowed - {type(None)} == {list}:
            # a loop (not any()): the item's test inline, a call only for one to cast
            lines.append("    elif value:")
            lines.append("        for item in value:")
            lines.append(f"            if {source.needs_work(descend.item, 'item', 'item')}:")
            lines.append(f"                _descend_one(e{index}, value)")
            lines.append("                break")
        elif descend is not None:
            # an empty object or array holds nothing to check
            lines.append(f"    elif value and {source.nested_work(descend, allowed, 'value')}:")
            lines.append(f"        _descend_one(e{index}, value)")
    lines.append("    return None")
    exec(compile("\n".join(lines), "<record checks>", "exec"), namespace)  # noqa: S102
    check = t.cast("Descend", namespace["check"])
    _OBJECT_ENTRIES[check] = entries
    return check


class _ArrayCheck:
    """The check of an array's items (`item`: their entry)."""

    def __init__(self, item: Entry) -> None:
        self.item = item

    def __call__(self, values: list[t.Any]) -> None:
        _name, allowed, cast, descend = self.item
        for index, value in enumerate(values):
            if value.__class__ in allowed:
                if descend is not None and value is not None:
                    descend(value)
            else:
                values[index] = cast(value)


class RecordCaster:
    """Casts records, in place, to the types of one stream's JSON schema."""

    def __init__(self, schema: Mapping[str, t.Any]) -> None:
        """Plan the checks of `schema` (a stream's JSON schema) once."""
        self.entries = plan(schema.get("properties") or {})
        self._check = compile_checks(self.entries)

    def __call__(self, record: dict[str, t.Any]) -> dict[str, t.Any]:
        """Cast `record` in place and hand it back."""
        self._check(record)
        return record


def record_error(
    provider_label: str,
    stream_name: str,
    record: Mapping[str, t.Any],
    primary_keys: Iterable[str],
    problem: UnreadableValue,
) -> ProviderError:
    """The one line for a value the stream cannot emit: stream, record id, field, value."""
    ids = ", ".join(f"{key}={record.get(key)!r}" for key in primary_keys) or "without an id"
    return ProviderError(
        provider_label,
        f"{stream_name} record {ids}: {problem}, and the stream's schema cannot hold it",
    )


# -- settings and state the user gives ---------------------------------------------------

#: numeric settings: (lowest, whether the lowest itself is allowed, highest)
NUMERIC_RANGES: dict[str, tuple[float, bool, float | None]] = {
    "request_timeout": (0, False, 3600),
    "max_retries": (0, True, 100),
    "lookback_days": (0, True, 3650),
    "backoff_base_seconds": (0, False, 600),
    "requests_per_second": (0, False, None),
    "requests_per_minute": (0, False, None),
    "max_concurrent_requests": (1, True, 16),
}
STATE_RESET = (
    "reset it with `meltano state clear <state id>` (`meltano state list` shows the ids), "
    "or, running the tap directly, fix or remove the file given to --state"
)


def range_problems(settings: Mapping[str, t.Any], prefix: str = "") -> list[str]:
    """A line per numeric setting out of its range (NUMERIC_RANGES)."""
    problems = []
    for name, (low, low_allowed, high) in NUMERIC_RANGES.items():
        value = settings.get(name)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue  # unset, or a type error the schema reports
        too_low = value < low or (value == low and not low_allowed)
        if too_low or (high is not None and value > high) or not math.isfinite(value):
            floor = f"at least {low}" if low_allowed else f"more than {low}"
            bound = f"{floor} and at most {high}" if high is not None else floor
            problems.append(f"{prefix}{name}: must be {bound}, got {value!r}")
    return problems


def unknown_settings(
    config: Mapping[str, t.Any], known: Iterable[str], blocks: Mapping[str, Iterable[str]]
) -> list[str]:
    """A warning per setting name the tap does not know, naming the closest one it does.

    `known`: the top-level names; `blocks`: each provider block's names.
    """
    top = set(known)
    nested = {f"{key}.{name}" for key, names in blocks.items() for name in names}
    unknown = [name for name in config if name not in top]
    for key in blocks:
        block = config.get(key)
        if isinstance(block, dict):
            unknown += [f"{key}.{name}" for name in block if f"{key}.{name}" not in nested]
    warnings = []
    for name in unknown:
        close = difflib.get_close_matches(name, sorted(top | nested), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else "see tap-helpdesk --about"
        warnings.append(f"unknown setting {name!r} is ignored; {hint}")
    return warnings


def read_state(text: str) -> dict[str, t.Any]:
    """The --state file's JSON (read as the SDK reads it), or one line saying it is not."""
    try:
        state = load_json(text)
    except ValueError as exc:
        raise SettingsError(f"state: the file is not JSON ({exc}); {STATE_RESET}") from None
    problem = state_problem(state, {})  # its shape; the streams' bookmarks are checked later
    if problem:
        raise SettingsError(f"state: {problem}; {STATE_RESET}")
    return t.cast("dict[str, t.Any]", state)  # state_problem found it an object


def state_problem(
    state: object, replication_keys: Mapping[str, tuple[str | None, ...]]
) -> str | None:
    """What is wrong with a state for streams with these replication keys, if anything.

    The keys are the ones each stream accepts; bookmarks of other streams are left alone.
    """
    if not isinstance(state, dict):
        return f"the state is {_kind(state)}, not a JSON object"
    if "singer_state" in state and "bookmarks" not in state:
        return "the state is wrapped in 'singer_state': pass the object inside it"
    bookmarks = state.get("bookmarks", {})
    if not isinstance(bookmarks, dict):
        return f"'bookmarks' is {_kind(bookmarks)}, not an object of streams"
    for name, entry in bookmarks.items():
        if name in replication_keys:
            problem = _bookmark_problem(entry, replication_keys[name])
            if problem:
                return f"{name}: {problem}"
    return None


def _kind(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", type(None): "null"}
    return names.get(type(value), f"a {type(value).__name__}")


def _bookmark_problem(entry: object, accepted: tuple[str | None, ...]) -> str | None:
    """What is wrong with one stream's state (its partitions included), if anything."""
    if not isinstance(entry, dict):
        return f"its state is {_kind(entry)}, not an object"
    partitions = entry.get("partitions", [])
    if not isinstance(partitions, list) or not all(isinstance(p, dict) for p in partitions):
        return "its 'partitions' is not a list of objects"
    for part in (entry, *partitions):
        recorded, value = part.get("replication_key"), part.get("replication_key_value")
        if recorded is None and value is None:
            continue
        if recorded is not None and recorded not in accepted:
            keys = " or ".join(repr(key) for key in accepted)
            return f"the bookmark is on {recorded!r}, but the stream's replication key is {keys}"
        if value is None or value == "":
            return "the bookmark has no value"
        try:
            parse_datetime(str(value), timezone.utc)
        except ValueError:
            return f"the bookmark {value!r} is not a timestamp"
    return None
