"""Run the tap the way a user does (its console script, a real process) and read its output."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import typing as t
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import jsonschema

TAP = [sys.executable, "-m", "tap_helpdesk"]


@dataclass
class TapRun:
    """What one tap process printed."""

    returncode: int
    stdout: str
    stderr: str
    records: dict[str, list[dict[str, t.Any]]] = field(default_factory=dict)
    states: list[dict[str, t.Any]] = field(default_factory=list)
    schemas: dict[str, dict[str, t.Any]] = field(default_factory=dict)
    #: run_tap_until: seconds from the stop signal to the process's exit
    exit_seconds: float | None = None

    @property
    def final_state(self) -> dict[str, t.Any] | None:
        """The last STATE message's value."""
        return self.states[-1] if self.states else None

    def ids(self, stream: str, key: str = "id") -> set[t.Any]:
        """Primary keys emitted for a stream."""
        return {record[key] for record in self.records.get(stream, [])}

    def metrics(self, stream: str) -> list[tuple[str, t.Any, str | None]]:
        """The SDK's METRIC points of a stream: (metric, value, status), in order."""
        points = []
        for line in self.stderr.splitlines():
            if "METRIC: " in line:
                point = json.loads(line.split("METRIC: ", 1)[1])
                if point["tags"].get("stream") == stream:
                    points.append((point["metric"], point["value"], point["tags"].get("status")))
        return points

    def error_lines(self) -> list[str]:
        """stderr lines that report an error: ours, the SDK's ERROR/CRITICAL logs, tracebacks."""
        markers = ("tap-helpdesk: error:", "| ERROR", "| CRITICAL", "Traceback")
        return [line for line in self.stderr.splitlines() if any(m in line for m in markers)]


def parse_messages(stdout: str, run: TapRun) -> None:
    """Fill a TapRun from Singer messages; every RECORD must validate against the SCHEMA
    its stream sent before it (types, and date-times in ISO 8601 UTC)."""
    records: dict[str, list[dict[str, t.Any]]] = defaultdict(list)
    validators: dict[str, tuple[t.Any, list[str]]] = {}
    # Messages end at "\n" only: str.splitlines() would also cut at a U+2028 inside a value.
    for line in stdout.split("\n"):
        if not line.strip():
            continue
        message = json.loads(line)
        kind = message["type"]
        if kind == "RECORD":
            stream, record = message["stream"], message["record"]
            assert stream in validators, f"a RECORD of {stream} before its SCHEMA"
            _check_record(stream, record, *validators[stream])
            records[stream].append(record)
        elif kind == "STATE":
            run.states.append(message["value"])
        elif kind == "SCHEMA":
            run.schemas[message["stream"]] = message["schema"]
            validators[message["stream"]] = (
                _validator(json.dumps(message["schema"], sort_keys=True)),
                list(message.get("key_properties") or []),
            )
    run.records = dict(records)


def _utc_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True  # the type check speaks for other values
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return False
    return moment.utcoffset() == timedelta(0)


_FORMATS = jsonschema.FormatChecker(formats=())
_FORMATS.checks("date-time")(_utc_date_time)


@functools.lru_cache(maxsize=256)
def _validator(schema_text: str) -> tuple[t.Any, Check | None]:
    """jsonschema's validator for a schema, and its fast equivalent when the schema uses
    only the keywords _compile knows (jsonschema then only explains a failure)."""
    schema = json.loads(schema_text)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
    return cls(schema, format_checker=_FORMATS), _compile(schema)


def _check_record(stream: str, record: dict[str, t.Any], validator: t.Any, keys: list[str]) -> None:
    full, fast = validator
    if fast is not None and fast(record):
        return
    error = next(full.iter_errors(record), None)
    if error is not None:
        where = ".".join(str(part) for part in error.absolute_path) or "(record)"
        ids = {key: record.get(key) for key in keys}
        raise AssertionError(
            f"{stream} record {ids} does not match its SCHEMA at {where}: {error.message}"
        )
    assert fast is None, f"the fast check of {stream} disagrees with jsonschema"


Check = t.Callable[[t.Any], bool]
_ANNOTATIONS = {"title", "description", "default", "examples", "$comment", "$schema"}
_KNOWN = {"type", "properties", "items", "required", "additionalProperties", "format"}
_CLASSES: dict[str, tuple[type, ...]] = {
    "null": (type(None),),
    "boolean": (bool,),
    "string": (str,),
    "object": (dict,),
    "array": (list,),
    "number": (int, float),
    "integer": (int,),  # and a float with an integral value, as jsonschema reads it
}


def _allowed(declared: str | list[str]) -> frozenset[type]:
    names = [declared] if isinstance(declared, str) else declared
    return frozenset(cls for name in names for cls in _CLASSES.get(name, ()))


def _always(_value: t.Any) -> bool:
    return True


def _compile(schema: t.Any) -> Check | None:
    """A check equal to jsonschema's for type / properties / items / required /
    additionalProperties / format date-time; None for a schema using anything else."""
    if schema is True or schema == {}:
        return _always
    if not isinstance(schema, dict) or set(schema) - _ANNOTATIONS - _KNOWN:
        return None
    if schema.get("format", "date-time") != "date-time":
        return None
    declared = schema.get("type")
    names = [declared] if isinstance(declared, str) else list(declared or [])
    if any(name not in _CLASSES for name in names):
        return None
    allowed = _allowed(names) if names else None
    integral_float = "integer" in names and "number" not in names
    stamp = "format" in schema
    properties: dict[str, Check] = {}
    #: classes that settle a plain typed property at once (the per-field hot path)
    leaves: dict[str, frozenset[type]] = {}
    for name, sub in (schema.get("properties") or {}).items():
        compiled = _compile(sub)
        if compiled is None:
            return None
        properties[name] = compiled
        if isinstance(sub, dict) and set(sub) - _ANNOTATIONS == {"type"}:
            leaves[name] = _allowed(sub["type"])
    required = tuple(schema.get("required") or ())
    extra = schema.get("additionalProperties", True)
    others = extra if isinstance(extra, bool) else _compile(extra)
    item = _compile(schema["items"]) if "items" in schema else _always
    if others is None or item is None:
        return None
    objects = bool(properties or required or others is not True)

    def check(value: t.Any) -> bool:
        kind = value.__class__
        if (
            allowed is not None
            and kind not in allowed
            and not (integral_float and kind is float and value.is_integer())
        ):
            return False
        if stamp and kind is str and not _utc_date_time(value):
            return False
        if kind is dict and objects:
            for key, inner in value.items():
                leaf = leaves.get(key)
                if leaf is not None and inner.__class__ in leaf:
                    continue
                known = properties.get(key)
                if known is not None:
                    if not known(inner):
                        return False
                elif others is False or (others is not True and not others(inner)):
                    return False
            return all(key in value for key in required)
        if kind is list and item is not _always:
            return all(item(inner) for inner in value)
        return True

    return check


def write_json(data: t.Any, directory: Path | None = None) -> Path:
    """Write JSON to a temporary file and return its path."""
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115
        "w", suffix=".json", delete=False, dir=directory, encoding="utf-8"
    )
    with handle:
        json.dump(data, handle)
    return Path(handle.name)


def run_tap(
    config: dict[str, t.Any],
    *,
    state: dict[str, t.Any] | None = None,
    catalog: dict[str, t.Any] | None = None,
    args: t.Sequence[str] = (),
    timeout: float = 600,
    env: dict[str, str] | None = None,
) -> TapRun:
    """Run `python -m tap_helpdesk --config ...` to the end."""
    command = [*TAP, "--config", str(write_json(config))]
    if state is not None:
        command += ["--state", str(write_json(state))]
    if catalog is not None:
        command += ["--catalog", str(write_json(catalog))]
    command += list(args)
    completed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )
    run = TapRun(completed.returncode, completed.stdout, completed.stderr)
    if completed.returncode == 0 and not args:
        parse_messages(completed.stdout, run)
    else:
        with contextlib.suppress(json.JSONDecodeError):
            parse_messages(completed.stdout, run)
    return run


def run_tap_until(
    config: dict[str, t.Any],
    *,
    stop_after_states: int = 0,
    stop_after_records: tuple[str, int] | None = None,
    state: dict[str, t.Any] | None = None,
    stop_signal: int = signal.SIGKILL,
    before_stop: t.Callable[[], None] | None = None,
) -> TapRun:
    """Run the tap and SIGKILL it (or send it `stop_signal`) mid-sync.

    It is stopped after `stop_after_states` STATE messages, or, with `stop_after_records`
    = (stream, n), at the first STATE message after n records of that stream;
    `before_stop` runs just before the signal. The run's `exit_seconds` is the time from
    the signal to the process's exit; what it printed after the signal is read too.
    """
    command = [*TAP, "--config", str(write_json(config))]
    if state is not None:
        command += ["--state", str(write_json(state))]
    lines: list[str] = []
    stopped_at: float | None = None
    with (
        tempfile.TemporaryFile("w+") as errors,
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True) as process,
    ):
        assert process.stdout is not None
        seen = 0
        records = 0
        stream_marker = (
            f'{{"type":"RECORD","stream":"{stop_after_records[0]}"' if stop_after_records else None
        )
        for line in process.stdout:
            lines.append(line)
            if stream_marker and line.startswith(stream_marker):
                records += 1
            if line.startswith('{"type":"STATE"'):
                seen += 1
                enough_records = stop_after_records is not None and (
                    records >= stop_after_records[1]
                )
                if enough_records or (stop_after_states and seen >= stop_after_states):
                    if before_stop is not None:
                        before_stop()
                    stopped_at = time.monotonic()
                    process.send_signal(stop_signal)
                    break
        if stop_signal != signal.SIGKILL:
            lines += process.stdout.readlines()  # what it wrote on its way out
        process.wait(timeout=60)
        exit_seconds = time.monotonic() - stopped_at if stopped_at is not None else None
        returncode = process.returncode
        errors.seek(0)
        stderr = errors.read()
    run = TapRun(returncode, "".join(lines), stderr, exit_seconds=exit_seconds)
    parse_messages(run.stdout, run)
    return run


def peak_memory_mb(config: dict[str, t.Any], records: int) -> float:
    """Peak resident memory of one tap run, read inside the tap process at exit (VmHWM;
    unlike ru_maxrss it does not count the parent's pages from before exec)."""
    report = (
        "import atexit, re, runpy, sys; atexit.register(lambda: sys.stderr.write("
        "'VmHWM ' + re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)"
        " + '\\n')); sys.argv[0] = 'tap-helpdesk'; runpy.run_module('tap_helpdesk', "
        "run_name='__main__')"
    )
    done = subprocess.run(
        [sys.executable, "-c", report, "--config", str(write_json(config))],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count('"type":"RECORD"') == records
    found = re.search(r"VmHWM (\d+)", done.stderr)
    assert found, done.stderr[-500:]
    return int(found.group(1)) / 1024
