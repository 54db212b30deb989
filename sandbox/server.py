"""One local HTTP server on 127.0.0.1 emulating the five helpdesk APIs.

Each provider emulator (sandbox/<provider>.py) registers its routes, its seeded data and
the quirks its docs describe. The server adds what is common to all of them: fault
injection (429 / 5xx / dropped connections / slow answers for a fraction of requests),
rate limits per provider, data that changes every K requests, and request statistics.

Control endpoints (not part of any provider API):
  GET  /_sandbox/truth    every stream's ids and count, as the sandbox holds them now
  GET  /_sandbox/stats    requests per provider and status, peak requests per second/minute
  POST /_sandbox/config   change knobs: fault_rate, fault_kinds, mutate_every, rate_limits
  POST /_sandbox/reset    forget statistics
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import random
import socket
import threading
import time
import typing as t
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from sandbox import data

#: transient faults a client must survive; "invalid-json" and "slow" can be asked for too
FAULT_KINDS = ("429", "429-retry-after", "500", "502-html", "503", "drop")
HTML_502 = (
    b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway"
    b"</h1></center><hr><center>nginx</center></body></html>"
)


@dataclass
class Request:
    """An incoming request, parsed once."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def arg(self, name: str, default: str | None = None) -> str | None:
        """First value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else default

    def args(self, name: str) -> list[str]:
        """Every value of a repeated query parameter (`a=1&a=2`)."""
        return list(self.query.get(name, []))

    def header(self, name: str) -> str | None:
        """A header, case-insensitively."""
        return self.headers.get(name.lower())

    # Any: the body as decoded; each emulator reads the shape its provider's docs give
    def json(self) -> t.Any:  # noqa: ANN401
        """The body as JSON (None when empty or invalid)."""
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None

    def form(self) -> dict[str, str]:
        """The body as application/x-www-form-urlencoded."""
        return {k: v[0] for k, v in parse_qs(self.body.decode("utf-8", "replace")).items()}


@dataclass
class Response:
    """What a handler answers; `drop` closes the connection without answering."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    delay: float = 0.0


def json_response(payload: object, status: int = 200, **headers: str) -> Response:
    """A JSON response with the usual content type."""
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return Response(status, data, {"Content-Type": "application/json; charset=utf-8", **headers})


Handler = t.Callable[[Request], Response]


class ProviderAPI:
    """Base of a provider emulator: routes, data, truth, faults and limits it answers with."""

    key: str = ""
    #: (requests per second, requests per minute) the real API enforces, None for unlimited.
    rate_limits: tuple[float | None, float | None] = (None, None)

    def __init__(self, seed: int, size: int) -> None:
        """An emulator of `size` tickets, its data drawn from a generator seeded by `seed`."""
        self.rng = random.Random(f"{self.key}-{seed}")
        self.size = size
        #: the provider's clock minus the machine's: the times its changes are stamped with
        self.clock = timedelta(0)

    def now(self, resolution: timedelta = timedelta(seconds=1)) -> datetime:
        """Now by the provider's clock, truncated to `resolution` like its storage."""
        return data.utc_now(resolution) + self.clock

    def routes(self) -> dict[tuple[str, str], Handler]:
        """(method, path) -> handler."""
        raise NotImplementedError

    def truth(self) -> dict[str, dict[str, t.Any]]:
        """Stream name -> {"count": n, "ids": [...]} for what the API holds now."""
        raise NotImplementedError

    def mutate(self) -> None:
        """Change the data as a live account would: create one ticket, update another."""

    def rate_limited(self, request: Request, retry_after: float) -> Response:
        """The provider's own 429 answer."""
        return json_response(
            {"detail": "Rate limit exceeded"}, 429, **{"Retry-After": f"{retry_after:.0f}"}
        )

    def rate_headers(self, limit: int, remaining: int, reset: float) -> dict[str, str]:
        """Headers a provider adds to every answer about its quota (none by default)."""
        return {}


class RateWindow:
    """Sliding-window request log of one provider: refuses what the real API would."""

    def __init__(self, per_second: float | None, per_minute: float | None) -> None:
        """The limits the real API enforces (None: no such limit)."""
        self.limits = [(1.0, int(n)) for n in [per_second] if n] + [
            (60.0, int(n)) for n in [per_minute] if n
        ]
        self.sent: deque[float] = deque()

    def admit(self, now: float) -> float:
        """0 when the request may pass (and is counted), else seconds until it could."""
        while self.sent and self.sent[0] <= now - 60.0:
            self.sent.popleft()
        for seconds, limit in self.limits:
            in_window = [s for s in self.sent if s > now - seconds] if seconds < 60 else self.sent
            if len(in_window) >= limit:
                return max(in_window[0] + seconds - now, 0.01)
        self.sent.append(now)
        return 0.0

    def quota(self, now: float) -> tuple[int, int, float]:
        """(limit, remaining, seconds until the oldest request leaves) of the minute window."""
        per_minute = [limit for seconds, limit in self.limits if seconds == 60.0]
        if not per_minute:
            return (0, 0, 0.0)
        recent = [s for s in self.sent if s > now - 60.0]
        reset = (recent[0] + 60.0 - now) if recent else 0.0
        return per_minute[0], max(per_minute[0] - len(recent), 0), reset


@dataclass
class Knobs:
    """Behaviour that tests and the CLI can change at run time."""

    fault_rate: float = 0.0
    fault_kinds: tuple[str, ...] = FAULT_KINDS
    slow_seconds: float = 3.0
    mutate_every: int = 0
    rate_limits: bool = True
    #: seconds every answer takes (a real API answers in 150-500 ms), plus up to
    #: `latency_jitter` more at random; `provider_latency` overrides it per provider
    latency: float = 0.0
    latency_jitter: float = 0.0
    provider_latency: dict[str, float] = field(default_factory=dict)
    #: seconds a Filum export takes to generate (None: `latency`)
    export_latency: float | None = None


class Sandbox:
    """The emulator: start() it, point the tap at .url, read .truth() and .stats()."""

    def __init__(
        self,
        apis: t.Iterable[ProviderAPI],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 7,
        knobs: Knobs | None = None,
    ) -> None:
        """Serve `apis` on `host`:`port` (0: a free one); faults drawn from `seed`."""
        self.apis = {api.key: api for api in apis}
        self.knobs = knobs or Knobs()
        self.rng = random.Random(f"faults-{seed}")
        self._lock = threading.RLock()
        self._routes: dict[tuple[str, str], tuple[ProviderAPI, Handler]] = {}
        for api in self.apis.values():
            for route, handler in api.routes().items():
                self._routes[route] = (api, handler)
        self._windows = {key: RateWindow(*api.rate_limits) for key, api in self.apis.items()}
        self._reset_stats()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL of the server, e.g. http://127.0.0.1:8765."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Sandbox:
        """Serve in a background thread."""
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted."""
        self._server.serve_forever()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Sandbox:
        """Start serving."""
        return self.start()

    def __exit__(self, *exc: object) -> None:
        """Stop serving."""
        self.stop()

    # -- truth and statistics --------------------------------------------------------------

    def truth(self) -> dict[str, dict[str, t.Any]]:
        """Every stream's count and ids, as held now."""
        with self._lock:
            result: dict[str, dict[str, t.Any]] = {}
            for api in self.apis.values():
                result.update(api.truth())
            return result

    def _reset_stats(self) -> None:
        self._requests: Counter[str] = Counter()
        self._statuses: Counter[str] = Counter()
        self._paths: Counter[str] = Counter()
        self._times: dict[str, list[float]] = {}
        self._answering = 0
        self._peak_answering = 0

    def reset_stats(self) -> None:
        """Forget the statistics (requests, statuses, peaks)."""
        with self._lock:
            self._reset_stats()

    @contextlib.contextmanager
    def answering(self) -> t.Iterator[None]:
        """An answer being delayed and written: counts the answers in flight at once."""
        with self._lock:
            self._answering += 1
            self._peak_answering = max(self._peak_answering, self._answering)
        try:
            yield
        finally:
            with self._lock:
                self._answering -= 1

    def stats(self) -> dict[str, t.Any]:
        """Requests per provider, statuses, and the peak requests per second / minute."""
        with self._lock:
            peaks = {key: _peaks(times) for key, times in self._times.items()}
            return {
                "requests": dict(self._requests),
                "statuses": dict(self._statuses),
                "paths": dict(self._paths),
                "peak_per_second": {k: v[0] for k, v in peaks.items()},
                "peak_per_minute": {k: v[1] for k, v in peaks.items()},
                "first_last": {k: (v[0], v[-1]) for k, v in self._times.items() if v},
                "peak_in_flight": self._peak_answering,
            }

    def configure(self, **changes: t.Any) -> None:
        """Change knobs at run time (fault_rate, fault_kinds, mutate_every, rate_limits...)."""
        with self._lock:
            for name, value in changes.items():
                if not hasattr(self.knobs, name):
                    raise ValueError(f"unknown knob {name!r}")
                setattr(self.knobs, name, tuple(value) if name == "fault_kinds" else value)

    # -- request handling ------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Answer one request (fault injection, limits, mutation, then the provider)."""
        if request.path.startswith("/_sandbox/"):
            return self._control(request)
        route = self._routes.get((request.method, request.path))
        if route is None:
            known = [p for (_m, p) in self._routes if p == request.path]
            status = 405 if known else 404
            return json_response({"detail": f"Not Found: {request.method} {request.path}"}, status)
        api, handler = route
        with self._lock:
            now = time.monotonic()
            self._requests[api.key] += 1
            self._paths[request.path] += 1
            fault = self._pick_fault()
            if fault is None and self.knobs.rate_limits:
                wait = self._windows[api.key].admit(now)
                if wait:
                    self._statuses[f"{api.key}:429"] += 1
                    return api.rate_limited(request, wait)
            self._times.setdefault(api.key, []).append(now)
            if fault is not None:
                self._statuses[f"{api.key}:fault-{fault}"] += 1
                return self._fault_response(api, fault)
            if self.knobs.mutate_every and self._requests[api.key] % self.knobs.mutate_every == 0:
                api.mutate()
            response = handler(request)
            if self.knobs.rate_limits:
                response.headers.update(api.rate_headers(*self._windows[api.key].quota(now)))
            self._statuses[f"{api.key}:{response.status}"] += 1
            response.delay = max(response.delay, self._latency(api.key, request.path))
            if api.clock:
                response.headers["Date"] = email.utils.format_datetime(api.now(), usegmt=True)
            return response

    def _latency(self, provider: str, path: str) -> float:
        """How long this answer takes (slept outside the lock: answers overlap)."""
        knobs = self.knobs
        if knobs.export_latency is not None and path.endswith("/tickets/export"):
            base = knobs.export_latency
        else:
            base = knobs.provider_latency.get(provider, knobs.latency)
        if knobs.latency_jitter > 0:
            base += self.rng.uniform(0, knobs.latency_jitter)
        return base

    def _pick_fault(self) -> str | None:
        if self.knobs.fault_rate <= 0 or self.rng.random() >= self.knobs.fault_rate:
            return None
        return self.rng.choice(self.knobs.fault_kinds)

    def _fault_response(self, api: ProviderAPI, kind: str) -> Response:
        if kind == "429":
            return api.rate_limited(Request("GET", "", {}, {}, b""), 0)
        if kind == "429-retry-after":
            return api.rate_limited(Request("GET", "", {}, {}, b""), 1)
        if kind == "502-html":
            return Response(502, HTML_502, {"Content-Type": "text/html"})
        if kind == "drop":
            return Response(drop=True)
        if kind == "invalid-json":  # a 200 whose body is cut off mid-document
            return Response(200, b'[{"id": 1, "status": "op', {"Content-Type": "application/json"})
        if kind == "slow":
            return Response(503, b"", delay=self.knobs.slow_seconds)
        return json_response({"detail": "internal error"}, int(kind))

    def _control(self, request: Request) -> Response:
        if request.path == "/_sandbox/truth":
            return json_response(self.truth())
        if request.path == "/_sandbox/stats":
            return json_response(self.stats())
        if request.path == "/_sandbox/reset" and request.method == "POST":
            with self._lock:
                self._reset_stats()
            return json_response({"ok": True})
        if request.path == "/_sandbox/config" and request.method == "POST":
            try:
                self.configure(**(request.json() or {}))
            except (TypeError, ValueError) as exc:
                return json_response({"detail": str(exc)}, 400)
            return json_response({"ok": True})
        return json_response({"detail": "unknown control endpoint"}, 404)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        sandbox = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes; with Nagle's algorithm on, the client's
            # delayed ACK would hold every answer back about 40 ms.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: t.Any) -> None:
                return

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query, keep_blank_values=True),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                response = sandbox.handle(request)
                with sandbox.answering():
                    self._answer(response)

            def _answer(self, response: Response) -> None:
                if response.delay:
                    time.sleep(response.delay)
                if response.drop:
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)
                    return
                # the Date header by the provider's clock (see ProviderAPI.clock)
                self.send_response_only(response.status)
                self.send_header("Server", self.version_string())
                self.send_header("Date", response.headers.pop("Date", self.date_time_string()))
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                self.wfile.write(response.body)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        return _Handler


def _peaks(times: list[float]) -> tuple[int, int]:
    """Most requests in any 1-second and any 60-second window."""
    best = [0, 0]
    for index, (seconds, start) in enumerate(((1.0, 0), (60.0, 0))):
        left = start
        for right, moment in enumerate(times):
            while times[left] <= moment - seconds:
                left += 1
            best[index] = max(best[index], right - left + 1)
    return best[0], best[1]
