"""Run the tap the way a user does (its console script, a real process) and read its output."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import typing as t
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

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

    @property
    def final_state(self) -> dict[str, t.Any] | None:
        """The last STATE message's value."""
        return self.states[-1] if self.states else None

    def ids(self, stream: str, key: str = "id") -> set[t.Any]:
        """Primary keys emitted for a stream."""
        return {record[key] for record in self.records.get(stream, [])}

    def error_lines(self) -> list[str]:
        """stderr lines that report an error: ours, the SDK's ERROR/CRITICAL logs, tracebacks."""
        markers = ("tap-helpdesk: error:", "| ERROR", "| CRITICAL", "Traceback")
        return [line for line in self.stderr.splitlines() if any(m in line for m in markers)]


def parse_messages(stdout: str, run: TapRun) -> None:
    """Fill a TapRun from Singer messages."""
    records: dict[str, list[dict[str, t.Any]]] = defaultdict(list)
    # Messages end at "\n" only: str.splitlines() would also cut at a U+2028 inside a value.
    for line in stdout.split("\n"):
        if not line.strip():
            continue
        message = json.loads(line)
        kind = message["type"]
        if kind == "RECORD":
            records[message["stream"]].append(message["record"])
        elif kind == "STATE":
            run.states.append(message["value"])
        elif kind == "SCHEMA":
            run.schemas[message["stream"]] = message["schema"]
    run.records = dict(records)


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
) -> TapRun:
    """Run the tap and SIGKILL it mid-sync.

    It is killed after `stop_after_states` STATE messages, or, with `stop_after_records`
    = (stream, n), at the first STATE message after n records of that stream.
    """
    command = [*TAP, "--config", str(write_json(config))]
    if state is not None:
        command += ["--state", str(write_json(state))]
    lines: list[str] = []
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as process:
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
                    process.send_signal(signal.SIGKILL)
                    break
        process.wait(timeout=60)
        returncode = process.returncode
    run = TapRun(returncode, "".join(lines), "")
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
