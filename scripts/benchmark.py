"""Throughput and memory benchmark: the tap against a plain requests + json loop.

    .venv/bin/python scripts/benchmark.py                      # every ticket stream, N=200000
    .venv/bin/python scripts/benchmark.py --streams enneo_tickets --n 50000 --rounds 5
    .venv/bin/python scripts/benchmark.py --memory-mode        # peak RSS at 10k against 200k
    .venv/bin/python scripts/benchmark.py --profile --streams enneo_tickets   # cProfile top 10

Per stream, a sandbox with N tickets and no rate limits runs in a process of its own. The tap
runs as a real process (`python -m tap_helpdesk --config .. --catalog ..`, only that stream
selected, request budgets set far above anything reachable, one request at a time as the
plain loop sends them: `--cpu-concurrency`, stdout to /dev/null) and the
sandbox logs every request it makes. The plain loop, also a process of its own, replays that
exact request sequence with `requests` and decodes each answer with the standard `json`
module (`csv` for Filum's UTF-16LE TSV), writing every row as one JSON line to /dev/null:
the floor for fetching the same pages and emitting the same rows. Tap and plain runs
alternate (`--rounds`, the first of each pair swapped every round); medians are printed.

Answers are cached. The sandbox filters and sorts its whole data set on every request (about
a second per request at 200k tickets), which would swamp what is measured, so the sandbox
process keeps every answer it gave, keyed by method, path, query, body and Accept header,
and serves a repeated request from memory; both sides are then fed the same bytes by the same
HTTP server code. The cache is saved under --cache-dir (keyed by provider, N, seed and a hash
of sandbox/*.py), so only the first run of a data set pays for the sandbox; a tap run that
still met uncached requests is repeated. `--live` serves every request from the sandbox.

Measured per run with os.wait4: wall time (process start to exit, so the tap's start-up
counts), CPU seconds (user + system) and peak RSS (VmHWM, polled). Requests are counted by the
sandbox; the tap's record count is read from its record_count metrics and checked against N.
"Fewest" is the least requests any client could make with the API's largest page, knowing
the data (see fewest_requests). The script is not a test; it exits 1 only when a run fails.
"""

from __future__ import annotations

import argparse
import base64
import compileall
import contextlib
import csv
import hashlib
import io
import json
import math
import os
import pickle
import pstats
import re
import site
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import typing as t
import urllib.request
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from urllib.parse import urlencode

if t.TYPE_CHECKING:
    import requests

    from sandbox.filum import FilumAPI
    from sandbox.proprofs import ProProfsAPI
    from sandbox.server import ProviderAPI

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: The ticket streams, in the order they are benchmarked.
TICKET_STREAMS = (
    "enneo_tickets",
    "enneo_reporting_tickets",
    "teamwork_desk_tickets",
    "filum_tickets",
    "socialboards_tickets",
    "proprofs_tickets",
)
#: The sync range: the sandbox's data lies in 2024 (in every provider's zone).
START_DATE = "2024-01-01T00:00:00Z"
END_DATE = "2025-01-01T00:00:00Z"
#: Request budgets no run can reach, so the tap never waits.
UNTHROTTLED = {"requests_per_second": 1_000_000, "requests_per_minute": 60_000_000}
#: Requests always answered by the sandbox itself (an access token is only valid there).
LIVE_ROUTES = frozenset({("POST", "/token")})
#: Request headers the plain loop does not copy (requests sets its own).
SKIPPED_HEADERS = frozenset(
    {"host", "content-length", "connection", "accept-encoding", "user-agent"}
)
MEMORY_SMALL_N = 10_000
RUN_TIMEOUT = 3600.0
PROFILE_TOP = 10


def note(message: str) -> None:
    """Progress, on stderr (stdout is kept for the table or the --json document)."""
    sys.stderr.write(f"[benchmark {time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


# -- the sandbox process ---------------------------------------------------------------


def sandbox_fingerprint(provider: str) -> str:
    """A hash of the sandbox code that answers a provider's requests.

    Its modules (a module, its helper modules `provider_*.py`, or a package) and the shared
    ones: cached answers are only reused for the same code.
    """
    folder = ROOT / "sandbox"
    paths = [folder / name for name in ("__init__.py", "server.py", "data.py")]
    paths += sorted(folder.glob(f"{provider}.py")) + sorted(folder.glob(f"{provider}_*.py"))
    paths += sorted((folder / provider).glob("*.py"))
    digest = hashlib.sha256()
    for path in paths:
        digest.update(str(path.relative_to(folder)).encode())
        digest.update(path.read_bytes() if path.exists() else b"")
    return digest.hexdigest()[:12]


#: The sandbox's field behind a stream's bookmark, where its data reach past the benchmark's
#: end_date: Enneo's messages move a ticket's modifiedAt, 0.3% of them into 2025. A record
#: the end_date leaves out is not one the tap should have emitted.
BOOKMARK_FIELDS = {"enneo_tickets": "modifiedAt", "enneo_reporting_tickets": "modifiedAt"}


def in_range(stream: str, api: ProviderAPI, ids: list[t.Any]) -> int:
    """How many of a stream's records the benchmark's range holds (its end_date)."""
    field_name = BOOKMARK_FIELDS.get(stream)
    if field_name is None:
        return len(ids)
    end = datetime.fromisoformat(END_DATE.replace("Z", "+00:00"))
    utc = t.cast("t.Any", api).utc  # each emulator's, for the tests' value checks
    times = (utc(key, field_name) for key in ids)
    return sum(1 for value in times if value is None or datetime.fromisoformat(value) <= end)


def cache_file(cache_dir: Path, provider: str, n: int, seed: int) -> Path:
    """Where the answers of one data set are kept."""
    return cache_dir / f"{provider}-n{n}-seed{seed}-{sandbox_fingerprint(provider)}.pickle"


CacheKey = tuple[str, str, tuple[tuple[str, tuple[str, ...]], ...], bytes, str]


def serve(options: dict[str, t.Any]) -> None:
    """Run the caching sandbox for one provider until killed (the `_serve` sub-command)."""
    # Imported here, as in prepare_tap and plain_main: the plain loop runs this file too and
    # must not pay for importing the sandbox or the tap.
    from sandbox import build_sandbox  # noqa: PLC0415
    from sandbox.server import Knobs, Request, Response, Sandbox, json_response  # noqa: PLC0415

    provider: str = options["provider"]
    n: int = options["n"]
    seed: int = options["seed"]
    path = Path(options["cache"]) if options.get("cache") else None

    latency = options.get("latency")  # latency mode: (per answer, per Filum export) seconds

    class CachingSandbox(Sandbox):
        """The sandbox's own HTTP server; answers come from memory when asked before.

        In latency mode every answer, cached or not, also waits its latency and goes
        through the provider's documented rate limits (a 429 when over), as in the sandbox.
        """

        def __init__(self) -> None:
            super().__init__([], knobs=Knobs(rate_limits=False))
            if latency is not None:
                self.knobs = Knobs(latency=latency[0], export_latency=latency[1])
            #: latency and limits on (off for warm-up runs; no limits for the replay)
            self.slow = latency is not None
            self.limited = True
            self.answers: dict[CacheKey, tuple[int, bytes, dict[str, str]]] = {}
            self.meta: dict[str, t.Any] = {}
            self.real: Sandbox | None = None
            self.dirty = False
            self.guard = threading.Lock()
            self.log: list[dict[str, t.Any]] = []
            self.counts: Counter[str] = Counter()
            self.sandbox_seconds = 0.0
            self.built_in_run = False
            if path is not None and path.exists():
                started = time.perf_counter()
                with path.open("rb") as handle:
                    # this script's own cache, written by the save below
                    stored = pickle.load(handle)  # noqa: S301 (our own file, see above)
                self.answers, self.meta = stored["answers"], stored["meta"]
                note(
                    f"{provider}: {len(self.answers)} cached answers loaded from {path.name} "
                    f"in {time.perf_counter() - started:.1f} s"
                )

        def _handler_class(self) -> type[BaseHTTPRequestHandler]:
            # An answer goes out in two writes (headers, body): with Nagle's algorithm on,
            # the client's delayed ACK holds the body back ~40 ms, which would add 40 ms to
            # every request of both sides and dwarf what is measured.
            handler = super()._handler_class()
            handler.disable_nagle_algorithm = True
            return handler

        def sandbox(self) -> Sandbox:
            if self.real is None:
                note(f"{provider}: building the sandbox with {n} tickets...")
                started = time.perf_counter()
                self.real = build_sandbox(
                    seed=seed, sizes={provider: n}, providers=[provider], knobs=self.knobs
                )
                note(f"{provider}: sandbox built in {time.perf_counter() - started:.1f} s")
                self.built_in_run = True
            return self.real

        def handle(self, request: Request) -> Response:
            if request.path.startswith("/_bench/"):
                return self.control(request)
            live = options.get("live") or (request.method, request.path) in LIVE_ROUTES
            key: CacheKey = (
                request.method,
                request.path,
                tuple(sorted((k, tuple(v)) for k, v in request.query.items())),
                request.body,
                request.header("accept") or "",
            )
            with self.guard:
                self.log.append(
                    {
                        "at": time.monotonic(),
                        "method": request.method,
                        "path": request.path,
                        "query": urlencode([(k, v) for k, vs in request.query.items() for v in vs]),
                        "headers": {
                            k: v for k, v in request.headers.items() if k not in SKIPPED_HEADERS
                        },
                        "body": base64.b64encode(request.body).decode(),
                    }
                )
                self.counts["requests"] += 1
                cached = None if live else self.answers.get(key)
                if cached is not None:
                    self.counts["hits"] += 1
                    status, body, headers = cached
                    if self.slow:
                        return self.slowed(request, Response(status, body, dict(headers)))
                    return Response(status, body, dict(headers))
                self.counts["live" if live else "misses"] += 1
                started = time.perf_counter()
                real = self.sandbox()
                real.knobs.rate_limits = self.slow and self.limited
                response = real.handle(request)
                if not self.slow:
                    response.delay = 0.0
                self.sandbox_seconds += time.perf_counter() - started
                if response.status == 429:
                    self.counts["429"] += 1
                elif not live and response.status < 500 and not response.drop:
                    self.answers[key] = (response.status, response.body, dict(response.headers))
                    self.dirty = True
                    if len(self.answers) % 100 == 0:
                        note(
                            f"{provider}: {len(self.answers)} answers recorded "
                            f"({self.sandbox_seconds:.0f} s spent in the sandbox)"
                        )
                return response

        def slowed(self, request: Request, response: Response) -> Response:
            """A cached answer as the sandbox gives it: within the limits, late by its latency."""
            real = self.sandbox()
            api = real.apis[provider]
            with real._lock:  # the sandbox's own rate window (private: a benchmark's peek)
                now = time.monotonic()
                window = real._windows[provider]
                wait = window.admit(now) if self.limited else 0.0
                if wait:
                    self.counts["429"] += 1
                    return api.rate_limited(request, wait)
                response.headers.update(api.rate_headers(*window.quota(now)))
            response.delay = real._latency(provider, request.path)
            return response

        def control(self, request: Request) -> Response:
            if request.path == "/_bench/begin":
                with self.guard:
                    self.slow = latency is not None and request.arg("fast") != "1"
                    self.limited = request.arg("limits") != "0"
                    self.log, self.counts, self.sandbox_seconds = [], Counter(), 0.0
                    self.built_in_run = False
                return json_response({"ok": True})
            if request.path == "/_bench/end":
                with self.guard:
                    return json_response(
                        {
                            **self.counts,
                            "sandbox_seconds": self.sandbox_seconds,
                            "built_in_run": self.built_in_run,
                            "log": self.log,
                        }
                    )
            if request.path == "/_bench/facts":
                stream = request.arg("stream") or ""
                facts = self.meta.get(stream)
                if facts is None or "in_range" not in facts:
                    api = self.sandbox().apis[provider]
                    truth = api.truth()[stream]
                    count = truth["count"]
                    facts = {
                        "count": count,
                        "in_range": in_range(stream, api, truth["ids"]),
                        **fewest_requests(stream, api, count),
                    }
                    self.meta[stream] = facts
                    self.dirty = True
                return json_response(facts)
            if request.path == "/_bench/save":
                saved = False
                if path is not None and self.dirty:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    partial = path.with_suffix(".partial")
                    with partial.open("wb") as handle:
                        pickle.dump(
                            {"answers": self.answers, "meta": self.meta},
                            handle,
                            protocol=pickle.HIGHEST_PROTOCOL,
                        )
                    partial.replace(path)
                    self.dirty, saved = False, True
                return json_response({"saved": saved})
            return json_response({"detail": "unknown benchmark endpoint"}, 404)

    server = CachingSandbox()
    print(f"READY {server.url}", flush=True)
    server.serve_forever()


class SandboxProcess:
    """The caching sandbox of one provider and data size, in a process of its own."""

    def __init__(self, provider: str, n: int, args: argparse.Namespace) -> None:
        """Start the sandbox of `provider` with `n` tickets, as `args` ask."""
        self.provider = provider
        self.n = n
        self.live = bool(args.live)
        self.latency = bool(args.latency_mode)
        options = {
            "provider": provider,
            "n": n,
            "seed": args.seed,
            "live": args.live,
            "cache": None if args.live else str(cache_file(args.cache_dir, provider, n, args.seed)),
            "latency": [args.latency, args.export_latency] if args.latency_mode else None,
        }
        if options["cache"] and not Path(options["cache"]).exists():
            note(
                f"{provider}: no cached answers for N={n} on this sandbox code; the first tap "
                "run records them from the sandbox, which can take long at large N "
                "(see docs/performance.md; --n-for STREAM=N lowers N for one stream)"
            )
        self.process = subprocess.Popen(  # noqa: S603 (argv: this interpreter, this script)
            [sys.executable, __file__, "_serve", json.dumps(options)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        if self.process.stdout is None:  # pragma: no cover - stdout=PIPE
            raise RuntimeError(f"the sandbox process for {provider} has no stdout")
        line = self.process.stdout.readline().strip()
        if not line.startswith("READY "):
            self.process.kill()
            raise RuntimeError(f"the sandbox process for {provider} did not start: {line!r}")
        self.url = line.removeprefix("READY ")

    def call(self, endpoint: str, timeout: float = 3600.0) -> dict[str, t.Any]:
        """GET (POST for save) a /_bench/ control endpoint: its JSON object."""
        method = "POST" if endpoint.startswith("save") else "GET"
        # self.url is the http:// address our own sandbox process printed
        url = f"{self.url}/_bench/{endpoint}"
        request = urllib.request.Request(url, method=method)  # noqa: S310 (see above)
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return json.load(response)

    def close(self) -> None:
        """Save new answers, then stop the process."""
        try:
            if self.call("save")["saved"]:
                note(f"{self.provider}: new answers saved to the cache")
        finally:
            self.process.terminate()
            self.process.wait(timeout=30)


# -- fewest requests -------------------------------------------------------------------


def ceil_div(a: int, b: int) -> int:
    """ceil(a / b) for non-negative integers."""
    return -(-a // b)


def fewest_requests(stream: str, api: ProviderAPI, n: int) -> dict[str, t.Any]:
    """The fewest requests any client could read `n` tickets with, knowing the data.

    Keyset and page walks: the API's largest page, plus the short (or empty) page that tells
    the end where the answer has no other end marker. Windowed APIs: the fewest windows the
    API's rules allow times pages, found from the sandbox's own data (an oracle: a real
    client cannot know the density in advance, so it is a lower bound).
    """
    try:
        if stream.startswith("enneo_"):  # bare JSON array, no total: a short page ends it
            return {"fewest": n // 1000 + 1, "fewest_rule": "N // 1000 + 1"}
        if stream == "teamwork_desk_tickets":  # hasMore marks the last page
            return {"fewest": max(ceil_div(n, 100), 1), "fewest_rule": "ceil(N / 100)"}
        if stream == "socialboards_tickets":  # one /token, then take=50 until a short page
            return {"fewest": 1 + n // 50 + 1, "fewest_rule": "1 token + N // 50 + 1"}
        if stream == "filum_tickets":
            filum = t.cast("FilumAPI", api)  # the filum provider's sandbox
            return {"fewest": _fewest_filum(filum), "fewest_rule": "oracle day windows"}
        if stream == "proprofs_tickets":
            proprofs = t.cast("ProProfsAPI", api)  # the proprofs provider's sandbox
            return {"fewest": _fewest_proprofs(proprofs), "fewest_rule": "oracle 3-month windows"}
    except Exception as exc:  # the sandbox's internals changed: say so, keep benchmarking
        return {"fewest": None, "fewest_rule": f"unknown ({type(exc).__name__}: {exc})"}
    return {"fewest": None, "fewest_rule": "unknown stream"}


def _fewest_filum(api: FilumAPI) -> int:
    """Consecutive day windows of at most 90 days and at most 4999 rows each.

    An answer of 5000 may have been cut, so it cannot be trusted; a day of 5000 rows or
    more needs ceil(rows / 4999) filtered requests. Greedy from the first day is optimal
    here.
    """
    zone = timezone(timedelta(hours=7))
    per_day = Counter(api.day_of(ticket) for ticket in api.tickets.values())
    first = datetime.fromisoformat(START_DATE.replace("Z", "+00:00")).astimezone(zone).date()
    last = datetime.fromisoformat(END_DATE.replace("Z", "+00:00")).astimezone(zone).date()
    requests_, day = 0, first
    while day <= last:
        rows = per_day.get(day, 0)
        if rows >= 5000:
            requests_ += ceil_div(rows, 4999)
            day += timedelta(days=1)
            continue
        start, total = day, 0
        while day <= last and (day - start).days < 90 and total + per_day.get(day, 0) <= 4999:
            total += per_day.get(day, 0)
            day += timedelta(days=1)
        requests_ += 1
    return requests_


def _fewest_proprofs(api: ProProfsAPI) -> int:
    """3-month last-modified windows from start_date to end_date (account zone).

    Each is read in pages of 25 (an empty window still costs one request).
    """
    zone = api.zone
    start = datetime.fromisoformat(START_DATE.replace("Z", "+00:00")).astimezone(zone)
    end = datetime.fromisoformat(END_DATE.replace("Z", "+00:00")).astimezone(zone)
    edges = [start.replace(tzinfo=None)]
    while edges[-1] < end.replace(tzinfo=None):
        moment = edges[-1]
        month = moment.month - 1 + 3
        year, month = moment.year + month // 12, month % 12 + 1
        nxt = moment.replace(year=year, month=month, day=min(moment.day, 28))
        edges.append(min(nxt, end.replace(tzinfo=None)))
    counts: Counter[int] = Counter()
    for ticket in api.tickets.values():
        local = ticket["modified"].astimezone(zone).replace(tzinfo=None)
        for index in range(len(edges) - 1):
            if edges[index] <= local < edges[index + 1]:
                counts[index] += 1
                break
    return sum(max(ceil_div(counts[i], 25), 1) for i in range(len(edges) - 1))


# -- one run ---------------------------------------------------------------------------


@dataclass
class Run:
    """One measured process."""

    kind: str  # "tap", "plain" or "baseline"
    wall: float
    cpu: float
    peak_rss_mb: float
    requests: int
    misses: int
    records: int | None
    sandbox_seconds: float = 0.0
    sandbox_built: bool = False  # the sandbox was built while this run waited


def measured(
    command: list[str],
    stderr_path: Path,
    env: dict[str, str] | None = None,
    stdout_path: Path | None = None,
    cwd: Path = ROOT,
) -> tuple[float, float, float, int]:
    """Run a command with stdout to /dev/null (or a file).

    Returns:
        Wall seconds, CPU seconds, peak RSS in MB and the exit status.
    """
    with stderr_path.open("wb") as err, contextlib.ExitStack() as stack:
        out = stack.enter_context(stdout_path.open("wb")) if stdout_path else subprocess.DEVNULL
        started = time.perf_counter()
        # argv: this interpreter running the tap or this script, built by the caller
        process = subprocess.Popen(command, stdout=out, stderr=err, cwd=cwd, env=env)  # noqa: S603
        deadline = started + RUN_TIMEOUT
        peak = None
        while True:
            peak = own_peak_rss_mb(process.pid) or peak
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.005)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return wall, cpu, peak or usage.ru_maxrss / 1024, process.returncode


def own_peak_rss_mb(pid: int) -> float | None:
    """The process's own peak RSS (VmHWM, Linux), None once it has exited or elsewhere.

    Not ru_maxrss: Python starts children with vfork, and Linux carries the parent's peak
    into the child's ru_maxrss at exec, so a benchmark process holding request logs would
    show its own size as the tap's. VmHWM belongs to the memory of the program exec'd.
    """
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        return None
    return None


_METRIC = re.compile(r"METRIC: (\{.*\})")


def tap_record_count(stderr_text: str, stream: str) -> int | None:
    """Records the tap reports for a stream (its record_count metric points, summed)."""
    total, seen = 0, False
    for match in _METRIC.finditer(stderr_text):
        try:
            point = json.loads(match.group(1))
        except ValueError:
            continue
        if point.get("metric") == "record_count" and point.get("tags", {}).get("stream") == stream:
            total += int(point.get("value") or 0)
            seen = True
    return total if seen else None


@dataclass
class StreamSetup:
    """Files a stream's tap runs use."""

    stream: str
    config: Path
    catalog: Path
    #: the source tree whose tap runs (`-m tap_helpdesk` from there): this one or --baseline
    root: Path = ROOT


def prepare_tap(
    stream: str,
    provider: str,
    url: str,
    workdir: Path,
    width: int | None = None,
    *,
    root: Path = ROOT,
) -> StreamSetup:
    """A config for the sandbox at `url` and a catalog selecting only `stream`.

    `width`: max_concurrent_requests (None: the provider's default). `root`: the source
    tree whose tap discovers the catalog and runs.
    """
    from sandbox import tap_settings  # noqa: PLC0415

    block = {**tap_settings(provider, url), **UNTHROTTLED}
    if width is not None:
        block["max_concurrent_requests"] = width
    config = {"start_date": START_DATE, "end_date": END_DATE, provider: block}
    tag = "" if root == ROOT else ".baseline"
    config_path = workdir / f"{stream}{tag}.config.json"
    config_path.write_text(json.dumps(config, indent=2))
    discovered = subprocess.run(  # noqa: S603 (argv: this interpreter, the tap, fixed arguments)
        [sys.executable, "-m", "tap_helpdesk", "--config", str(config_path), "--discover"],
        capture_output=True,
        check=True,
        cwd=root,
    )
    catalog = json.loads(discovered.stdout)
    names = [entry["tap_stream_id"] for entry in catalog["streams"]]
    if stream not in names:
        raise RuntimeError(f"the tap does not discover {stream} (it has {names})")
    for entry in catalog["streams"]:
        for item in entry.get("metadata", []):
            if item.get("breadcrumb") == []:
                item.setdefault("metadata", {})["selected"] = entry["tap_stream_id"] == stream
    catalog_path = workdir / f"{stream}{tag}.catalog.json"
    catalog_path.write_text(json.dumps(catalog))
    return StreamSetup(stream, config_path, catalog_path, root)


def run_tap(
    setup: StreamSetup, server: SandboxProcess, workdir: Path, profile: Path | None = None
) -> tuple[Run, list[dict[str, t.Any]]]:
    """One tap run: its measurements and the requests it made."""
    command = [sys.executable]
    if profile is not None:
        command += ["-m", "cProfile", "-o", str(profile)]
    command += [
        "-m",
        "tap_helpdesk",
        "--config",
        str(setup.config),
        "--catalog",
        str(setup.catalog),
    ]
    server.call("begin")
    stderr_path = workdir / f"{setup.stream}.tap.stderr"
    wall, cpu, rss, status = measured(command, stderr_path, cwd=setup.root)
    seen = server.call("end")
    text = stderr_path.read_text(errors="replace")
    if status != 0:
        raise RuntimeError(
            f"the tap failed on {setup.stream} (exit {status}); last lines:\n"
            + "\n".join(text.splitlines()[-15:])
        )
    run = Run(
        "tap",
        wall,
        cpu,
        rss,
        int(seen.get("requests", 0)),
        int(seen.get("misses", 0)),
        tap_record_count(text, setup.stream),
        float(seen.get("sandbox_seconds", 0.0)),
        bool(seen.get("built_in_run", False)),
    )
    return run, seen["log"]


def run_plain(
    stream: str,
    log: list[dict[str, t.Any]],
    server: SandboxProcess,
    workdir: Path,
    *,
    slow: bool = False,
) -> Run:
    """One plain-loop run replaying the tap's requests.

    In latency mode, `slow`: each answer late by its latency, without rate limits (the
    one-at-a-time floor).
    """
    replay = workdir / f"{stream}.replay.json"
    replay.write_text(json.dumps({"url": server.url, "stream": stream, "requests": log}))
    stderr_path = workdir / f"{stream}.plain.stderr"
    server.call("begin?limits=0" if slow else "begin?fast=1" if server.latency else "begin")
    wall, cpu, rss, status = measured(
        [sys.executable, __file__, "_plain", str(replay)], stderr_path
    )
    seen = server.call("end")
    text = stderr_path.read_text(errors="replace")
    if status != 0:
        raise RuntimeError(f"the plain loop failed on {stream} (exit {status}):\n{text[-2000:]}")
    match = re.search(r"PLAIN_RECORDS (\d+)", text)
    return Run(
        "plain",
        wall,
        cpu,
        rss,
        int(seen.get("requests", 0)),
        int(seen.get("misses", 0)),
        int(match.group(1)) if match else None,
        float(seen.get("sandbox_seconds", 0.0)),
    )


# -- the plain loop --------------------------------------------------------------------


def plain_rows(response: requests.Response) -> list[t.Any]:
    """The rows of one answer.

    A JSON array, the first list of objects in a JSON object (`tickets`, `data`,
    `ticket_data.tickets`), or the rows of a UTF-16 TSV export.
    """
    kind = response.headers.get("Content-Type", "")
    if "csv" in kind or "tab-separated" in kind:
        text = response.content.decode("utf-16")
        reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t")
        header = next(reader, [])
        return [dict(zip(header, row, strict=False)) for row in reader if row]
    return _first_list(json.loads(response.content))


def _first_list(value: object, depth: int = 0) -> list[t.Any]:
    if isinstance(value, list):
        return value
    if isinstance(value, dict) and depth < 2:
        for item in value.values():
            if isinstance(item, list) and (not item or isinstance(item[0], dict)):
                return item
        for item in value.values():
            if isinstance(item, dict):
                found = _first_list(item, depth + 1)
                if found:
                    return found
    return []


def plain_main(replay_path: str) -> None:
    """The `_plain` sub-command: replay requests, decode, write each row as a JSON line."""
    import requests  # noqa: PLC0415

    replay = json.loads(Path(replay_path).read_text())
    url, stream = replay["url"], replay["stream"]
    session = requests.Session()
    out = sys.stdout
    count = 0
    for item in replay["requests"]:
        target = url + item["path"] + (f"?{item['query']}" if item["query"] else "")
        body = base64.b64decode(item["body"]) or None
        response = session.request(item["method"], target, headers=item["headers"], data=body)
        response.raise_for_status()
        for row in plain_rows(response):
            out.write(json.dumps({"type": "RECORD", "stream": stream, "record": row}) + "\n")
            count += 1
    out.flush()
    sys.stderr.write(f"PLAIN_RECORDS {count}\n")


# -- the benchmark ---------------------------------------------------------------------


@dataclass
class StreamResult:
    """Everything measured for one stream."""

    stream: str
    n: int
    #: the records the tap should emit: those of the n the benchmark's end_date holds
    expected: int | None = None
    tap_runs: list[Run] = field(default_factory=list)
    plain_runs: list[Run] = field(default_factory=list)
    #: runs of the --baseline tree's tap, in the same rounds
    baseline_runs: list[Run] = field(default_factory=list)
    fewest: int | None = None
    fewest_rule: str = ""
    warnings: list[str] = field(default_factory=list)

    def median(self, kind: str, attribute: str) -> float:
        """The median of a run `attribute` over the runs of `kind` (tap, plain, baseline)."""
        kinds = {"tap": self.tap_runs, "plain": self.plain_runs, "baseline": self.baseline_runs}
        runs = kinds[kind]
        return statistics.median(getattr(run, attribute) for run in runs) if runs else math.nan

    def ratio(self, attribute: str = "wall", against: str = "plain") -> float:
        """Median over rounds of tap / plain (or baseline) wall time (or CPU time)."""
        other = self.baseline_runs if against == "baseline" else self.plain_runs
        pairs = zip(self.tap_runs, other, strict=False)
        ratios = [
            getattr(tap, attribute) / getattr(plain, attribute)
            for tap, plain in pairs
            if getattr(plain, attribute) > 0
        ]
        return statistics.median(ratios) if ratios else math.nan

    def summary(self) -> dict[str, t.Any]:
        """The stream's figures, as the --json document and the table show them."""
        tap_wall, plain_wall = self.median("tap", "wall"), self.median("plain", "wall")
        return {
            "stream": self.stream,
            "n": self.n,
            "tap_records_per_s": self.n / tap_wall if tap_wall else None,
            "plain_records_per_s": self.n / plain_wall if plain_wall else None,
            "ratio": self.ratio(),
            "cpu_ratio": self.ratio("cpu"),
            "tap_wall_s": tap_wall,
            "plain_wall_s": plain_wall,
            "tap_cpu_s": self.median("tap", "cpu"),
            "plain_cpu_s": self.median("plain", "cpu"),
            "tap_peak_rss_mb": max((r.peak_rss_mb for r in self.tap_runs), default=None),
            "plain_peak_rss_mb": max((r.peak_rss_mb for r in self.plain_runs), default=None),
            "requests": self.tap_runs[-1].requests if self.tap_runs else None,
            "fewest": self.fewest,
            "fewest_rule": self.fewest_rule,
            "tap_records": self.tap_runs[-1].records if self.tap_runs else None,
            "baseline_ratio": self.ratio(against="baseline") if self.baseline_runs else None,
            "baseline_cpu_ratio": (
                self.ratio("cpu", against="baseline") if self.baseline_runs else None
            ),
            "baseline_plain_ratio": (
                statistics.median(
                    b.wall / p.wall
                    for b, p in zip(self.baseline_runs, self.plain_runs, strict=False)
                )
                if self.baseline_runs
                else None
            ),
            "warnings": self.warnings,
            "runs": [asdict(run) for run in self.tap_runs + self.plain_runs + self.baseline_runs],
        }


def stream_providers() -> tuple[dict[str, str], list[str]]:
    """Stream -> provider for the ticket streams that have a tap module and a sandbox."""
    notes: list[str] = []
    try:
        from tap_helpdesk.providers import PROVIDERS  # noqa: PLC0415
    except Exception as exc:
        raise SystemExit(f"cannot import the tap's providers: {exc}") from exc
    from sandbox import PROVIDER_APIS  # noqa: PLC0415

    owner = {s.name: key for key, p in PROVIDERS.items() for s in p.stream_types}
    found: dict[str, str] = {}
    for stream in TICKET_STREAMS:
        provider = owner.get(stream)
        if provider is None:
            notes.append(f"{stream}: skipped, the tap has no such stream yet")
        elif provider not in PROVIDER_APIS:
            notes.append(f"{stream}: skipped, the sandbox has no {provider} emulator yet")
        else:
            found[stream] = provider
    return found, notes


def tap_run_cached(
    setup: StreamSetup,
    server: SandboxProcess,
    workdir: Path,
    result: StreamResult,
    profile: Path | None = None,
) -> tuple[Run, list[dict[str, t.Any]]]:
    """A tap run fed only from the cache: one that met uncached requests is done again."""
    for _attempt in range(3):
        run, log = run_tap(setup, server, workdir, profile)
        if run.sandbox_built and not run.misses:
            note(f"{setup.stream}: the run waited for the sandbox to be built; running again")
            continue
        if not run.misses or server.live:
            return run, log
        note(
            f"{setup.stream}: {run.misses} of {run.requests} answers came from the sandbox "
            f"({run.sandbox_seconds:.0f} s in it, run took {run.wall:.0f} s); now cached, "
            "running again"
        )
        server.call("save")
    result.warnings.append("tap runs kept meeting uncached requests (is the walk deterministic?)")
    return run, log


def check_records(result: StreamResult, run: Run) -> None:
    """Warn when the tap did not emit N records."""
    expected = result.n if result.expected is None else result.expected
    if run.records is not None and run.records != expected:
        message = (
            f"the {'baseline ' if run.kind == 'baseline' else ''}tap emitted {run.records} "
            f"records, the sandbox holds {expected} modified "
            f"by the benchmark's end_date ({result.n} in all)"
        )
        if message not in result.warnings:
            result.warnings.append(message)
            note(f"{result.stream}: WARNING {message}")


def bench_stream(
    stream: str, provider: str, server: SandboxProcess, args: argparse.Namespace, workdir: Path
) -> StreamResult:
    """Alternate tap and plain runs of one stream."""
    facts = server.call("facts?stream=" + stream)
    result = StreamResult(
        stream, int(facts["count"]), expected=facts.get("in_range"), fewest=facts.get("fewest")
    )
    result.fewest_rule = str(facts.get("fewest_rule", ""))
    setup = prepare_tap(stream, provider, server.url, workdir, cpu_width(args))
    baseline = (
        prepare_tap(stream, provider, server.url, workdir, cpu_width(args), root=args.baseline)
        if args.baseline
        else None
    )
    log: list[dict[str, t.Any]] = []
    for round_ in range(args.rounds):
        order: tuple[str, ...] = ("tap", "plain") if round_ % 2 == 0 else ("plain", "tap")
        if not log:  # the plain loop replays what a tap run asked for
            order = ("tap", "plain")
        if baseline is not None:  # its place moves round by round too
            order = (*order[: round_ % 3], "baseline", *order[round_ % 3 :])
        for kind in order:
            if kind == "baseline" and baseline is not None:
                run, _log = tap_run_cached(baseline, server, workdir, result)
                run.kind = "baseline"
                check_records(result, run)
                result.baseline_runs.append(run)
            elif kind == "tap":
                run, new_log = tap_run_cached(setup, server, workdir, result)
                if log and len(new_log) != len(log):
                    result.warnings.append(
                        f"request count changed between tap runs ({len(log)} -> {len(new_log)})"
                    )
                log = new_log
                check_records(result, run)
                result.tap_runs.append(run)
            else:
                run = run_plain(stream, log, server, workdir)
                result.plain_runs.append(run)
            note(
                f"{stream} round {round_ + 1}/{args.rounds} {kind}: {run.wall:.2f} s wall, "
                f"{run.cpu:.2f} s CPU, {run.peak_rss_mb:.0f} MB, {run.requests} requests, "
                f"{result.n / run.wall:,.0f} records/s"
            )
    return result


def profile_stream(
    stream: str,
    provider: str,
    server: SandboxProcess,
    workdir: Path,
    out_dir: Path,
    *,
    width: int | None,
) -> dict[str, t.Any]:
    """One tap run under cProfile: the functions it spends the most time in."""
    facts = server.call("facts?stream=" + stream)
    n = int(facts["count"])
    setup = prepare_tap(stream, provider, server.url, workdir, width)
    scratch = StreamResult(stream, n)
    tap_run_cached(setup, server, workdir, scratch)  # warm the cache outside the profile
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{stream}-n{n}.prof"
    run, _log = tap_run_cached(setup, server, workdir, scratch, profile=path)
    stats = pstats.Stats(str(path))
    rows = []
    entries = t.cast("dict[t.Any, t.Any]", stats.stats)  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in entries.values())
    for (filename, line, name), (_cc, calls, tottime, cumtime, _callers) in sorted(
        entries.items(), key=lambda item: item[1][2], reverse=True
    )[:PROFILE_TOP]:
        rows.append(
            {
                "function": f"{_short(filename)}:{line}({name})" if line else name,
                "calls": calls,
                "tottime_s": tottime,
                "share": tottime / total if total else 0.0,
                "us_per_record": tottime / n * 1e6,
                "cumtime_s": cumtime,
            }
        )
    return {"stream": stream, "n": n, "wall_s": run.wall, "profile": str(path), "top": rows}


def _short(filename: str) -> str:
    if filename == "~":
        return "(built-in)"
    for marker in ("site-packages/", f"{ROOT}/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    stdlib = re.search(r"lib/python3\.\d+/(.*)", filename)
    return stdlib.group(1) if stdlib else filename


# -- output ----------------------------------------------------------------------------


def _fmt(value: object, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return format(value, spec)


def print_table(results: list[dict[str, t.Any]]) -> None:
    """The per-stream table."""
    header = (
        f"{'stream':<25}{'N':>8}  {'tap rec/s':>10} {'plain rec/s':>11} {'ratio':>6} "
        f"{'tap CPU s':>9} {'CPU ratio':>9} {'tap peak RSS MB':>15} {'requests':>8} "
        f"{'fewest':>7}"
    )
    print(header)
    for r in results:
        print(
            f"{r['stream']:<25}{r['n']:>8}  {_fmt(r['tap_records_per_s'], ',.0f'):>10} "
            f"{_fmt(r['plain_records_per_s'], ',.0f'):>11} {_fmt(r['ratio'], '.2f'):>6} "
            f"{_fmt(r['tap_cpu_s'], '.2f'):>9} {_fmt(r['cpu_ratio'], '.2f'):>9} "
            f"{_fmt(r['tap_peak_rss_mb'], '.0f'):>15} "
            f"{_fmt(r['requests'], 'd'):>8} {_fmt(r['fewest'], 'd'):>7}"
        )
    if any(r.get("baseline_ratio") is not None for r in results):
        print(f"\n{'stream':<25}{'tap / baseline':>15} {'CPU':>6} {'baseline / plain':>17}")
        for r in results:
            print(
                f"{r['stream']:<25}{_fmt(r.get('baseline_ratio'), '.2f'):>15} "
                f"{_fmt(r.get('baseline_cpu_ratio'), '.2f'):>6} "
                f"{_fmt(r.get('baseline_plain_ratio'), '.2f'):>17}"
            )
    for r in results:
        for warning in r["warnings"]:
            print(f"  {r['stream']}: {warning}")


def print_memory(results: list[dict[str, t.Any]]) -> None:
    """The --memory-mode table."""
    print(f"{'stream':<25}{'N small':>8} {'RSS MB':>7} {'N large':>8} {'RSS MB':>7} {'ratio':>6}")
    for r in results:
        print(
            f"{r['stream']:<25}{r['small_n']:>8} {r['small_rss_mb']:>7.0f} {r['large_n']:>8} "
            f"{r['large_rss_mb']:>7.0f} {r['rss_ratio']:>6.2f}"
        )


def print_profile(results: list[dict[str, t.Any]]) -> None:
    """The --profile tables."""
    for r in results:
        print(f"{r['stream']}  N={r['n']}  wall {r['wall_s']:.1f} s  (profile: {r['profile']})")
        print(f"  {'tottime s':>9} {'share':>6} {'us/rec':>7} {'calls':>10}  function")
        for row in r["top"]:
            print(
                f"  {row['tottime_s']:>9.2f} {row['share']:>6.1%} {row['us_per_record']:>7.2f} "
                f"{row['calls']:>10}  {row['function']}"
            )


# -- latency mode ----------------------------------------------------------------------

#: Tickets per stream in latency mode: enough requests for a minute or two of budget.
LATENCY_N = {
    "enneo_tickets": 100_000,
    "enneo_reporting_tickets": 100_000,
    "teamwork_desk_tickets": 30_000,
    "filum_tickets": 200_000,
    "socialboards_tickets": 15_000,
    "proprofs_tickets": 8_000,
}


def default_budget(provider: str) -> float | None:
    """The provider's default requests per minute (the tighter of its two settings)."""
    from tap_helpdesk.providers import PROVIDERS  # noqa: PLC0415

    properties = PROVIDERS[provider].settings.to_dict()["properties"]
    per_second = properties.get("requests_per_second", {}).get("default")
    per_minute = properties.get("requests_per_minute", {}).get("default")
    limits = [v for v in (per_minute, per_second and per_second * 60) if v]
    return float(min(limits)) if limits else None


def default_width(provider: str) -> int:
    """The provider's default max_concurrent_requests."""
    from tap_helpdesk.providers import PROVIDERS  # noqa: PLC0415

    properties = PROVIDERS[provider].settings.to_dict()["properties"]
    return int(properties["max_concurrent_requests"]["default"])


def cpu_width(args: argparse.Namespace) -> int | None:
    """max_concurrent_requests in CPU, memory and profile modes (None: the default)."""
    return args.cpu_concurrency or None


def latency_config(setup: StreamSetup, provider: str, width: int, workdir: Path) -> Path:
    """The stream's config with the provider's default rate settings and `width` in flight."""
    config = json.loads(setup.config.read_text())
    block = config[provider]
    for name in UNTHROTTLED:
        block.pop(name, None)
    block["max_concurrent_requests"] = width
    path = workdir / f"{setup.stream}.w{width}.config.json"
    path.write_text(json.dumps(config, indent=2))
    return path


def records_digest(path: Path, stream: str) -> tuple[int, str]:
    """(records, a digest of their contents as a multiset) of a tap's stdout."""
    digests = []
    with path.open("rb") as handle:
        for line in handle:
            if b'"RECORD"' not in line:
                continue
            message = json.loads(line)
            if message.get("type") == "RECORD" and message.get("stream") == stream:
                text = json.dumps(message["record"], sort_keys=True, default=str)
                digests.append(hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest())
    digests.sort()
    return len(digests), hashlib.sha256("".join(digests).encode()).hexdigest()[:16]


@dataclass
class LatencyRun:
    """One tap run against answers that take time."""

    width: int
    wall: float
    peak_rss_mb: float
    requests: int
    too_many: int
    records: int
    digest: str
    per_minute: float
    peak_minute: int


def _rates(log: list[dict[str, t.Any]]) -> tuple[float, int]:
    """Requests per minute from the first to the last, and the most in any 60 s."""
    times = sorted(float(item["at"]) for item in log)
    if len(times) < 2:
        return math.nan, len(times)
    span = times[-1] - times[0]
    peak, low = 0, 0
    for high, moment in enumerate(times):
        while times[low] <= moment - 60.0:
            low += 1
        peak = max(peak, high - low + 1)
    return (len(times) - 1) / span * 60.0 if span > 0 else math.nan, peak


def latency_tap_run(
    setup: StreamSetup, config: Path, width: int, server: SandboxProcess, workdir: Path
) -> tuple[LatencyRun, list[dict[str, t.Any]]]:
    """The tap at `width` against the slow sandbox (after a fast run fills the cache)."""
    command = [sys.executable, "-m", "tap_helpdesk", "--config", str(config)]
    command += ["--catalog", str(setup.catalog)]
    stderr_path = workdir / f"{setup.stream}.w{width}.stderr"
    stdout_path = workdir / f"{setup.stream}.w{width}.out"
    server.call("begin?fast=1")  # answers recorded, so the timed run meets no sandbox work
    measured(command, stderr_path, stdout_path=stdout_path)
    server.call("end")
    server.call("begin")
    wall, _cpu, rss, status = measured(command, stderr_path, stdout_path=stdout_path)
    seen = server.call("end")
    if status != 0:
        text = stderr_path.read_text(errors="replace")
        raise RuntimeError(
            f"the tap failed on {setup.stream} at width {width} (exit {status}):\n"
            + "\n".join(text.splitlines()[-15:])
        )
    records, digest = records_digest(stdout_path, setup.stream)
    stdout_path.unlink()
    per_minute, peak = _rates(seen["log"])
    run = LatencyRun(
        width,
        wall,
        rss,
        int(seen.get("requests", 0)),
        int(seen.get("429", 0)),
        records,
        digest,
        per_minute,
        peak,
    )
    return run, seen["log"]


def bench_latency(
    stream: str,
    provider: str,
    server: SandboxProcess,
    width: int,
    workdir: Path,
) -> dict[str, t.Any]:
    """One stream at `width` and at 1, and a one-at-a-time replay of the first's requests."""
    facts = server.call("facts?stream=" + stream)
    setup = prepare_tap(stream, provider, server.url, workdir)
    budget = default_budget(provider)
    runs = {}
    log: list[dict[str, t.Any]] = []
    for each in dict.fromkeys((width, 1)):
        run, each_log = latency_tap_run(
            setup, latency_config(setup, provider, each, workdir), each, server, workdir
        )
        log = log or each_log
        runs[each] = run
        note(
            f"{stream} width {each}: {run.wall:.1f} s, {run.requests} requests "
            f"({run.per_minute:.0f}/min, at most {run.peak_minute} in 60 s, budget {budget}), "
            f"{run.too_many} 429s, {run.peak_rss_mb:.0f} MB, {run.records} records"
        )
    server.call("begin?fast=1")  # record what the replay asks, then replay it slowed
    server.call("end")
    replay = run_plain(stream, log, server, workdir, slow=True)
    wide, one = runs[width], runs[1]
    return {
        "stream": stream,
        "n": int(facts["count"]),
        "width": width,
        "budget_per_minute": budget,
        "per_minute": wide.per_minute,
        "budget_share": wide.per_minute / budget if budget else None,
        "peak_minute": wide.peak_minute,
        "too_many": wide.too_many + one.too_many,
        "wall_s": wide.wall,
        "sequential_wall_s": one.wall,
        "replay_wall_s": replay.wall,
        "replay_ratio": wide.wall / replay.wall,
        "records_per_s": wide.records / wide.wall,
        "rss_mb": wide.peak_rss_mb,
        "sequential_rss_mb": one.peak_rss_mb,
        "rss_ratio": wide.peak_rss_mb / one.peak_rss_mb,
        "requests": wide.requests,
        "sequential_requests": one.requests,
        "fewest": facts.get("fewest"),
        "same_records": (wide.records, wide.digest) == (one.records, one.digest),
        "records": wide.records,
        "runs": [asdict(run) for run in runs.values()],
    }


def print_latency(results: list[dict[str, t.Any]]) -> None:
    """The latency-mode table."""
    header = (
        f"{'stream':<24}{'width':>6}{'req/min':>9}{'budget':>8}{'share':>7}{'429s':>6}"
        f"{'wall s':>8}{'1-by-1 s':>9}{'ratio':>7}{'width 1 s':>10}{'rec/s':>8}"
        f"{'RSS MB':>8}{'x seq':>7}{'requests':>9}{'fewest':>7}  same"
    )
    print(header)
    for r in results:
        print(
            f"{r['stream']:<24}{r['width']:>6}{_fmt(r['per_minute'], '.0f'):>9}"
            f"{_fmt(r['budget_per_minute'], '.0f'):>8}{_fmt(r['budget_share'], '.0%'):>7}"
            f"{r['too_many']:>6}{r['wall_s']:>8.1f}{r['replay_wall_s']:>9.1f}"
            f"{r['replay_ratio']:>7.2f}{r['sequential_wall_s']:>10.1f}"
            f"{r['records_per_s']:>8,.0f}{r['rss_mb']:>8.0f}{r['rss_ratio']:>7.2f}"
            f"{r['requests']:>9}{_fmt(r['fewest'], 'd'):>7}  {'yes' if r['same_records'] else 'NO'}"
        )


# -- entry point -----------------------------------------------------------------------


def _stream_size(text: str) -> tuple[str, int]:
    stream, _, number = text.partition("=")
    if stream not in TICKET_STREAMS or not number.isdigit() or int(number) < 1:
        raise argparse.ArgumentTypeError(f"expected STREAM=N with STREAM in {TICKET_STREAMS}")
    return stream, int(number)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (`argv`, None: sys.argv's)."""
    parser = argparse.ArgumentParser(
        prog="scripts/benchmark.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--n", type=int, default=200_000, help="tickets per stream")
    parser.add_argument(
        "--n-for",
        type=_stream_size,
        action="append",
        default=[],
        metavar="STREAM=N",
        help="another N for one stream (repeatable), e.g. proprofs_tickets=50000",
    )
    parser.add_argument(
        "--streams",
        default=",".join(TICKET_STREAMS),
        help="comma-separated ticket streams (default: all that exist)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="tap/plain pairs per stream")
    parser.add_argument(
        "--memory-mode",
        action="store_true",
        help=f"one tap run at N={MEMORY_SMALL_N} and one at --n; print the peak RSS ratio",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help=f"one tap run per stream under cProfile; print the top {PROFILE_TOP} functions",
    )
    parser.add_argument(
        "--latency-mode",
        action="store_true",
        help="answers that take time, default rate settings: requests/min against the budget "
        "at --concurrency in flight, against one at a time (N per stream: LATENCY_N)",
    )
    parser.add_argument("--latency", type=float, default=0.25, help="seconds per answer")
    parser.add_argument(
        "--export-latency", type=float, default=2.5, help="seconds per Filum export"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=0,
        help="max_concurrent_requests in latency mode (default: each provider's default)",
    )
    parser.add_argument(
        "--cpu-concurrency",
        type=int,
        default=1,
        help="max_concurrent_requests in CPU, memory and profile modes: 1 (the default) "
        "sends one request at a time, as the plain loop does; 0 the provider's default",
    )
    parser.add_argument(
        "--concurrency-for",
        type=_stream_size,
        action="append",
        default=[],
        metavar="STREAM=W",
        help="another max_concurrent_requests for one stream (repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document instead")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="CPU mode: the source tree of an earlier commit (`git worktree add DIR REV`); "
        "its tap runs in the same rounds, against the same answers, and the table adds "
        "tap / baseline",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=ROOT / "output" / "benchmark-cache",
        help="where recorded sandbox answers are kept between runs",
    )
    parser.add_argument(
        "--live", action="store_true", help="no answer cache: the sandbox answers every request"
    )
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.n < 1:
        parser.error("--rounds and --n must be positive")
    return args


def bench_one(
    stream: str,
    provider: str,
    server: SandboxProcess,
    *,
    args: argparse.Namespace,
    workdir: Path,
    document: dict[str, t.Any],
    memory: dict[tuple[str, int], tuple[int, float]],
) -> None:
    """Whatever the mode asks for, for one stream on one sandbox."""
    if args.latency_mode:
        width = dict(args.concurrency_for).get(stream, args.concurrency) or default_width(provider)
        document["results"].append(bench_latency(stream, provider, server, width, workdir))
    elif args.memory_mode:
        facts = server.call("facts?stream=" + stream)
        setup = prepare_tap(stream, provider, server.url, workdir, cpu_width(args))
        scratch = StreamResult(stream, int(facts["count"]))
        run, _log = tap_run_cached(setup, server, workdir, scratch)
        check_records(scratch, run)
        memory[(stream, server.n)] = (scratch.n, run.peak_rss_mb)
        note(f"{stream} N={scratch.n}: peak RSS {run.peak_rss_mb:.0f} MB")
    elif args.profile:
        out_dir = args.cache_dir.parent / "benchmark-profiles"
        document["results"].append(
            profile_stream(stream, provider, server, workdir, out_dir, width=cpu_width(args))
        )
    else:
        document["results"].append(bench_stream(stream, provider, server, args, workdir).summary())


def memory_row(stream: str, small: tuple[int, float], large: tuple[int, float]) -> dict[str, t.Any]:
    """Peak RSS of one tap run at each size, and their ratio."""
    return {
        "stream": stream,
        "small_n": small[0],
        "small_rss_mb": small[1],
        "large_n": large[0],
        "large_rss_mb": large[1],
        "rss_ratio": large[1] / small[1],
    }


def compile_bytecode() -> None:
    """Write the bytecode of the tap and of what it imports, as `pip install` does.

    Where PYTHONDONTWRITEBYTECODE is set (or uv installed without compiling), every tap run
    would compile some 60 modules from source (about 0.09 s of its start-up) that an
    installed tap never compiles; the plain loop's few imports would be compiled already.
    """
    for path in [ROOT / "tap_helpdesk", *map(Path, site.getsitepackages())]:
        if path.is_dir():
            compileall.compile_dir(path, quiet=2, workers=0)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (or one of its sub-commands); the process's exit status."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_serve"]:
        serve(json.loads(argv[1]))
        return 0
    if argv[:1] == ["_plain"]:
        plain_main(argv[1])
        return 0
    args = parse_args(argv)
    available, notes = stream_providers()
    wanted = [s.strip() for s in args.streams.split(",") if s.strip()]
    for stream in wanted:
        if stream not in TICKET_STREAMS:
            notes.append(f"{stream}: skipped, not a ticket stream ({', '.join(TICKET_STREAMS)})")
    chosen = [s for s in wanted if s in available]
    for line in notes:
        if any(line.startswith(f"{s}:") for s in wanted):
            note(line)
    note("writing the bytecode of the tap and its dependencies (as an install does)")
    compile_bytecode()
    load = os.getloadavg()[0]
    if load > (os.cpu_count() or 1) - 0.5:
        note(
            f"the machine is busy (load {load:.1f} on {os.cpu_count()} CPUs): wall times and "
            "their ratio are noisy; CPU seconds and the CPU ratio hold up better"
        )
    document: dict[str, t.Any] = {
        "mode": "latency"
        if args.latency_mode
        else "memory"
        if args.memory_mode
        else "profile"
        if args.profile
        else "throughput",
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "load_average": load,
        "started": date.today().isoformat(),
        "skipped": [line for line in notes if any(line.startswith(f"{s}:") for s in wanted)],
        "results": [],
    }
    sizes = {**(LATENCY_N if args.latency_mode else {}), **dict(args.n_for)}
    groups: dict[tuple[str, int], list[str]] = {}  # one sandbox per provider and size
    for stream in chosen:
        large = sizes.get(stream, args.n)
        for n in [MEMORY_SMALL_N, large] if args.memory_mode else [large]:
            groups.setdefault((available[stream], n), []).append(stream)
    memory: dict[tuple[str, int], tuple[int, float]] = {}
    with tempfile.TemporaryDirectory(prefix="tap-helpdesk-bench-") as tmp:
        for (provider, n), streams in groups.items():
            note(f"{provider}: starting the sandbox process (N={n})")
            server = SandboxProcess(provider, n, args)
            try:
                for stream in streams:
                    bench_one(
                        stream,
                        provider,
                        server,
                        args=args,
                        workdir=Path(tmp),
                        document=document,
                        memory=memory,
                    )
            finally:
                server.close()
    if args.memory_mode:
        document["results"] = [
            memory_row(
                stream,
                memory[(stream, MEMORY_SMALL_N)],
                memory[(stream, sizes.get(stream, args.n))],
            )
            for stream in chosen
        ]
    if args.json:
        json.dump(document, sys.stdout, indent=2, default=str)
        print()
    elif args.latency_mode:
        print_latency(document["results"])
    elif args.memory_mode:
        print_memory(document["results"])
    elif args.profile:
        print_profile(document["results"])
    else:
        print_table(document["results"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
