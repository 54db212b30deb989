"""Small hostile HTTP servers on 127.0.0.1, and checks of how the tap ended against them.

A `HostileServer` answers every request with what its `script` returns for it: a
`Reply` (status, body, headers, and misbehaviour: a body cut short, trickled, or a
dropped connection). Scripts are plain functions of the request, so each test states the
one way its server misbehaves. Every tap run is bounded in time: a hung tap fails the
test (subprocess timeout), it never hangs the suite.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import typing as t
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from sandbox.server import Request as Seen  # a request as the server received it
from tests.tap_runner import TapRun, run_tap

#: a tap run against a hostile server must end within this many seconds
RUN_SECONDS = 90


@dataclass
class Reply:
    """What to answer. `cut_at`: close after this many body bytes (Content-Length still
    announces all); `chunked_cut`: send the body chunked and stop before the final chunk;
    `trickle`: seconds between single bytes of the body; `drop`: close without answering."""

    status: int = 200
    body: bytes | str | t.Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    cut_at: int | None = None
    chunked_cut: bool = False
    trickle: float | None = None
    drop: bool = False
    content_length: bool = True

    def payload(self) -> bytes:
        """The body as bytes (objects and lists as JSON)."""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body).encode("utf-8")


def json_reply(value: t.Any, status: int = 200, **headers: str) -> Reply:
    """A JSON answer."""
    return Reply(status, value, {"Content-Type": "application/json", **headers})


Script = t.Callable[[Seen], Reply]


class HostileServer:
    """An HTTP server on 127.0.0.1 whose every answer comes from `script`."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: t.Any) -> None:  # quiet
                return

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                seen = Seen(
                    self.command,
                    parts.path,
                    parse_qs(parts.query, keep_blank_values=True),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                with server._lock:
                    server.seen.append(seen)
                reply = server.script(seen)
                server._answer(self, reply)

            do_GET = do_POST = do_PUT = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Base URL of the server."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def requests_to(self, path: str) -> list[Seen]:
        """Requests received for one path."""
        with self._lock:
            return [s for s in self.seen if s.path == path]

    @staticmethod
    def _answer(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        if reply.drop:
            handler.connection.shutdown(socket.SHUT_RDWR)
            handler.close_connection = True
            return
        payload = reply.payload()
        handler.send_response(reply.status)
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        if reply.chunked_cut:
            handler.send_header("Transfer-Encoding", "chunked")
        elif reply.content_length:
            handler.send_header("Content-Length", str(len(payload)))
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True
        out = handler.wfile
        try:
            if reply.chunked_cut:
                out.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
                out.flush()
            elif reply.trickle is not None:
                for byte in payload:
                    out.write(bytes([byte]))
                    out.flush()
                    time.sleep(reply.trickle)
            elif reply.cut_at is not None:
                out.write(payload[: reply.cut_at])
                out.flush()
            else:
                out.write(payload)
            out.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        if reply.chunked_cut or reply.cut_at is not None:
            handler.connection.shutdown(socket.SHUT_RDWR)


def run_bounded(config: dict[str, t.Any], **kwargs: t.Any) -> TapRun:
    """Run the tap to its end; a run that does not end in RUN_SECONDS fails the test."""
    kwargs.setdefault("timeout", RUN_SECONDS)
    return run_tap(config, **kwargs)


def assert_clear_failure(run: TapRun, *words: str, secrets: t.Iterable[str] = ()) -> str:
    """The run failed with exactly one error line, holding `words`, no traceback and no
    secret anywhere in its output; returns that line."""
    assert run.returncode not in (0, None), f"exit {run.returncode}, expected a failure"
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    lines = [line for line in run.stderr.splitlines() if "tap-helpdesk: error:" in line]
    assert len(lines) == 1, run.stderr[-3000:]
    for word in words:
        assert word.lower() in lines[0].lower(), lines[0]
    for secret in secrets:
        assert secret not in run.stdout, "a secret leaked into stdout"
        assert secret not in run.stderr, "a secret leaked into stderr"
    return lines[0]


def assert_no_secret(run: TapRun, secrets: t.Iterable[str]) -> None:
    """No secret, with or without surrounding whitespace, in any output or state."""
    text = run.stdout + run.stderr + json.dumps(run.states)
    for secret in secrets:
        for form in {secret, secret.strip()}:
            if form:
                assert form not in text, "a secret leaked"
