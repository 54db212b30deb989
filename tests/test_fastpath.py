"""The fast record path writes byte for byte what the SDK's own writer writes."""

from __future__ import annotations

import contextlib
import copy
import functools
import gzip
import io
import json
import logging
import re
import signal
import subprocess
import sys
import threading
import time
import typing as t
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.helpers._typing import conform_record_data_types
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.logging import ConsoleFormatter
from singer_sdk.singerlib import RecordMessage
from singer_sdk.streams import RESTStream

from tap_helpdesk import fastpath
from tap_helpdesk.fastpath import StdoutWriter
from tap_helpdesk.metric_line import MetricLine, plain_console_handler
from tap_helpdesk.providers import PROVIDER_KEYS
from tap_helpdesk.tap import TapHelpdesk
from tests.conftest import tap_config
from tests.hostile.server import HostileServer, Reply

MOMENT = datetime(2024, 5, 12, 2, 0, 0, 123456, tzinfo=timezone.utc)
RECORDS: list[dict[str, t.Any]] = [
    {"id": 1, "subject": "plain"},
    {"id": 2, "subject": "é, ü, 漢字, emoji 🎫, a line\u2028separator", "score": 1.5},
    {"id": "ST007-007", "nested": {"a": [1, None, True], "b": {}}, "empty": []},
    {"id": 4, "big": 12345678901234567890, "negative": -0.0001, "none": None},
    {"id": 5, "quote": 'say "hi"\\ back\n\ttab', "createdAt": "2024-05-12T02:00:00+00:00"},
]


class FixedClock:
    @staticmethod
    def now(tz: t.Any = None) -> datetime:
        return MOMENT


@pytest.mark.parametrize("version", [None, 1715479200000])
def test_fast_records_are_the_sdks_bytes(
    monkeypatch: pytest.MonkeyPatch, version: int | None
) -> None:
    monkeypatch.setattr(fastpath, "datetime", FixedClock)
    out = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(out))
    writer = StdoutWriter()
    for record in RECORDS:
        writer.write_record("tickets", dict(record), version)
    writer.flush()
    sdk = MsgSpecWriter()
    expected = b"".join(
        bytes(
            sdk.format_message(
                RecordMessage(
                    stream="tickets", record=dict(r), version=version, time_extracted=MOMENT
                )
            )
        )
        for r in RECORDS
    )
    assert out.getvalue() == expected


def _in_a_process_of_its_own(script: str) -> subprocess.CompletedProcess[str]:
    """Run `script`: the collector's settings are the whole process's."""
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )


def test_the_cli_collects_garbage_less_often_and_leaves_start_up_out_of_the_scans() -> None:
    script = (
        "import gc, sys\n"
        "from tap_helpdesk import tap\n"
        "before = gc.get_threshold()[0]\n"
        "tap.TapHelpdesk.cli = staticmethod(lambda: None)\n"
        "tap.main()\n"
        "print(before, gc.get_threshold()[0], gc.get_freeze_count() > 1000)\n"
    )
    done = _in_a_process_of_its_own(script)
    assert done.stdout.split() == ["700", str(fastpath.GC_YOUNGEST_THRESHOLD), "True"]


def test_the_command_imports_the_tap_with_the_collector_off() -> None:
    # A collection while tap.py is imported (it is in sys.modules
    # but has no `main` yet) would scan what the import builds, for nothing.
    script = (
        "import gc, sys\n"
        "during = []\n"
        "def seen(phase, info):\n"
        "    module = sys.modules.get('tap_helpdesk.tap')\n"
        "    if phase == 'start' and module is not None and not hasattr(module, 'main'):\n"
        "        during.append(info['generation'])\n"
        "gc.callbacks.append(seen)\n"
        "sys.argv = ['tap-helpdesk', '--about', '--format=json']\n"
        "from tap_helpdesk import cli\n"
        "try:\n"
        "    cli.main()\n"
        "except SystemExit as stop:\n"
        "    code = stop.code\n"
        "print(len(during), gc.isenabled(), gc.get_threshold()[0], code, file=sys.stderr)\n"
    )
    done = _in_a_process_of_its_own(script)
    assert json.loads(done.stdout)["name"] == "tap-helpdesk"
    collections, enabled, threshold, code = done.stderr.split()[-4:]
    assert (collections, enabled, threshold, code) == (
        "0",
        "True",
        str(fastpath.GC_YOUNGEST_THRESHOLD),
        "0",
    )


# -- the body read in one call ---------------------------------------------------------

BODY = json.dumps({"tickets": [{"id": n, "subject": "é" * 40} for n in range(600)]}).encode()
CHUNKED = (
    b"".join(
        f"{len(part):x}\r\n".encode() + part + b"\r\n"
        for part in (BODY[:7000], BODY[7000:20000], BODY[20000:])
    )
    + b"0\r\n\r\n"
)
ANSWERS = {
    "length": Reply(body=BODY),
    "no length, ends at close": Reply(body=BODY, content_length=False),
    "chunked": Reply(body=CHUNKED, headers={"Transfer-Encoding": "chunked"}, content_length=False),
    "gzip": Reply(body=gzip.compress(BODY), headers={"Content-Encoding": "gzip"}),
    "empty": Reply(body=b""),
    "no content": Reply(status=204),
    "cut short": Reply(body=BODY, cut_at=9000),
    "chunked, cut before its last chunk": Reply(body=BODY, chunked_cut=True),
    "not gzip although it says so": Reply(body=BODY, headers={"Content-Encoding": "gzip"}),
}


def _outcome(read: t.Callable[[requests.Response], bytes], url: str) -> tuple[str, object]:
    response = requests.get(url, stream=True, timeout=10)
    try:
        body = read(response)
    except requests.exceptions.RequestException as exc:
        return "raised", type(exc)
    assert response.content == body  # what every later reader of the answer sees
    return "read", body


@pytest.mark.parametrize("name", list(ANSWERS))
def test_a_body_read_in_one_call_is_what_requests_reads(name: str) -> None:
    reply = ANSWERS[name]
    with HostileServer(lambda seen: reply) as server:
        fast = _outcome(fastpath.read_whole, server.url + "/tickets")
        sdk = _outcome(lambda response: response.content, server.url + "/tickets")
    assert fast == sdk
    if reply.cut_at is None and not reply.chunked_cut and name != "not gzip although it says so":
        assert fast == ("read", BODY if name != "empty" and reply.status == 200 else b"")


def test_a_body_read_in_one_call_gives_its_connection_back_to_the_pool(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def chunked_reading(*args: t.Any, **kwargs: t.Any) -> t.NoReturn:
        raise AssertionError("read through iter_content, not in one call")

    monkeypatch.setattr(requests.Response, "iter_content", chunked_reading)

    class KeepAlive(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)

        def log_message(self, *args: t.Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), KeepAlive)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        session = requests.Session()
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        pools = set()
        for _ in range(5):
            response = session.get(url, stream=True, timeout=10)
            pools.add(response.raw._pool)
            assert fastpath.read_whole(response) == BODY
            assert response.raw._connection is None  # released, as after `content`
        (pool,) = pools
        assert pool.num_connections == 1  # one connection, reused by every request
        assert pool.num_requests == 5
    finally:
        server.shutdown()
        server.server_close()


# -- requests cut from a template --------------------------------------------------------


def _sent(prepared: requests.PreparedRequest) -> tuple[t.Any, ...]:
    """Everything of a prepared request that reaches the server or the session's send."""
    return (
        prepared.method,
        prepared.url,
        list(prepared.headers.items()),
        prepared.body,
        {event: list(hooks) for event, hooks in prepared.hooks.items()},
        prepared._cookies.get_dict() if prepared._cookies is not None else None,
        prepared._body_position,
    )


class StampingAuth(requests.auth.AuthBase):
    """An authenticator that reads the prepared request, as SDK authenticators may."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer t-{len(request.url or '')}"
        return request


URL = "http://127.0.0.1:9/api/v1/tickets"
ARGUMENTS: dict[str, dict[str, t.Any]] = {
    "GET, parameters": {
        "method": "GET",
        "url": URL,
        "params": {"page": 2, "per_page": 100, "gone": None, "q": "a b&c/é"},
        "headers": {"Accept": "application/json"},
    },
    "GET, parameters already encoded": {
        "method": "get",
        "url": URL + "?fixed=1",
        "params": "updatedAfter=2024-01-01T00%3A00%3A00Z&page=3",
        "headers": {},
    },
    "POST, JSON": {
        "method": "POST",
        "url": URL,
        "params": {"api_key": "k"},
        "headers": {"Content-Type": "application/json", "X-Client": b"bytes"},
        "json": {"from": "2024-01-01", "to": None, "ids": [1, 2]},
    },
    "POST, form": {
        "method": "POST",
        "url": URL,
        "headers": {"User-Agent": "mine"},
        "data": {"grant_type": "refresh_token", "refresh_token": "r"},
    },
    "GET, lists, bytes and reserved characters": {
        "method": "GET",
        "url": URL,
        "params": {"ids": [1, 2, "~x y"], "b": b"\xc3\xa9", "k~": "v/?#&=%7e", "page": 1},
        "headers": {},
    },
    "GET, no parameters": {"method": "GET", "url": URL, "headers": {}},
    "GET, parameters encoded with characters to requote": {
        "method": "GET",
        "url": URL,
        "params": "q=a b|c&since=2024-01-01T00:00:00Z&x=%7e%41%2F&page=2",
        "headers": {},
    },
    "POST, JSON, parameters encoded to nothing": {
        "method": "POST",
        "url": URL,
        "params": "",
        "headers": {},
        "json": {"page": 1},
    },
    "GET, a path to requote": {
        "method": "GET",
        "url": "http://127.0.0.1:9/api/a b/%7e/é",
        "params": {"page": 1},
        "headers": {},
    },
    "GET, a fragment": {"method": "GET", "url": URL + "#top", "params": {"page": 1}, "headers": {}},
    "GET, an IDNA host": {
        "method": "GET",
        "url": "http://bücher.example/api",
        "params": {"page": 1},
        "headers": {},
    },
    "HEAD": {"method": "HEAD", "url": URL, "params": {"page": 1}, "headers": {}},
    "POST, no body": {"method": "POST", "url": URL, "headers": {}},
    "POST, empty JSON": {"method": "POST", "url": URL, "headers": {}, "json": {}},
}


@pytest.mark.parametrize("name", list(ARGUMENTS))
@pytest.mark.parametrize("session_headers", [False, True])
def test_a_request_cut_from_a_template_is_what_the_session_prepares(
    name: str, session_headers: bool
) -> None:
    session = requests.Session()
    session.trust_env = False
    session.auth = StampingAuth()
    if session_headers:
        session.headers["X-Session"] = "s"
        session.headers["Accept"] = "text/plain"
    templates = fastpath.RequestTemplates()
    for round_ in range(3):  # the first builds the template, the others copy it
        arguments = json.loads(json.dumps(ARGUMENTS[name], default=bytes.decode))
        arguments["headers"] = dict(ARGUMENTS[name]["headers"])
        if isinstance(arguments.get("params"), dict):
            arguments["params"]["page"] = round_
        expected = session.prepare_request(requests.Request(**arguments))
        got = templates.prepare(session, arguments)
        assert got is not None
        assert _sent(got) == _sent(expected)


@pytest.mark.parametrize(
    "setup",
    ["a cookie on the session", "session parameters", "netrc lookup", "a response hook"],
)
def test_the_sessions_own_path_is_taken_where_a_template_cannot_stand_in(setup: str) -> None:
    session = requests.Session()
    session.trust_env = setup == "netrc lookup"
    if setup == "a cookie on the session":
        session.cookies.set("sid", "1", domain="127.0.0.1")
    if setup == "session parameters":
        session.params = {"fixed": "1"}
    if setup == "a response hook":
        session.hooks["response"].append(lambda response, **kwargs: response)
    arguments = {"method": "GET", "url": URL, "params": {"page": 1}, "headers": {}}
    assert fastpath.RequestTemplates().prepare(session, arguments) is None
    assert (
        fastpath.RequestTemplates().prepare(requests.Session(), {**arguments, "files": {}}) is None
    )


def test_every_request_of_a_sync_is_what_the_sdk_would_have_prepared(
    make_sandbox: t.Callable[..., t.Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every provider, every stream: each request the tap builds from a template is compared
    # with the one the SDK's own build_prepared_request makes of the same arguments.
    sandbox = make_sandbox(sizes=dict.fromkeys(PROVIDER_KEYS, 60))
    compared: dict[str, int] = {}
    fast_build = fastpath.FastRecordStream.build_prepared_request
    cut = fastpath.RequestTemplates.prepare
    templated: list[requests.PreparedRequest] = []

    def counted(templates: t.Any, *args: t.Any) -> requests.PreparedRequest | None:
        prepared = cut(templates, *args)
        if prepared is not None:
            templated.append(prepared)
        return prepared

    def both(stream: t.Any, *args: t.Any, **kwargs: t.Any) -> requests.PreparedRequest:
        sdk_kwargs = {**kwargs, "headers": dict(kwargs["headers"])}
        got = fast_build(stream, *args, **kwargs)
        assert templated, "the SDK's path, not a template"
        assert got is templated[-1], "the SDK's path, not a template"
        expected = RESTStream.build_prepared_request(stream, *args, **sdk_kwargs)
        assert _sent(got) == _sent(expected), stream.name
        compared[stream.name] = compared.get(stream.name, 0) + 1
        return got

    monkeypatch.setattr(fastpath.RequestTemplates, "prepare", counted)
    monkeypatch.setattr(fastpath.FastRecordStream, "build_prepared_request", both)
    out = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(out))
    tap = TapHelpdesk(config=tap_config(sandbox, *PROVIDER_KEYS))
    tap.sync_all()
    sys.stdout.flush()
    records = [json.loads(line) for line in out.getvalue().splitlines() if b'"RECORD"' in line]
    assert len(records) > 60 * len(PROVIDER_KEYS)
    http_streams = {name for name, stream in tap.streams.items() if isinstance(stream, RESTStream)}
    assert set(compared) == http_streams  # every stream that sends went through both
    assert sum(compared.values()) > 2 * len(http_streams)


def test_the_sdks_type_conformance_would_change_no_record_of_a_sync(
    make_sandbox: t.Callable[..., t.Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fast record path skips the SDK's conformance (TYPE_CONFORMANCE_LEVEL NONE), for
    # the streams that send and for the page-fed ones (messages, sideloads): every record
    # of a sync of each provider is what the SDK's recursive conformance would make of it,
    # type for type (compared as JSON, so that 1 and True differ).
    sandbox = make_sandbox(sizes=dict.fromkeys(PROVIDER_KEYS, 60))
    checked: dict[str, int] = {}
    fast_write = fastpath.FastRecords._write_record_message

    def both(stream: t.Any, record: dict[str, t.Any]) -> None:
        fast_write(stream, record)  # cast in place, then written
        conformed = conform_record_data_types(
            stream.name,
            copy.deepcopy(record),
            stream.effective_schema,
            TypeConformanceLevel.RECURSIVE,
            stream.logger,
        )
        assert json.dumps(conformed, sort_keys=True) == json.dumps(record, sort_keys=True)
        checked[stream.name] = checked.get(stream.name, 0) + 1

    monkeypatch.setattr(fastpath.FastRecords, "_write_record_message", both)
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BytesIO()))
    tap = TapHelpdesk(config=tap_config(sandbox, *PROVIDER_KEYS))
    tap.sync_all()
    page_fed = {"proprofs_ticket_messages", "teamwork_desk_messages", "teamwork_desk_users"}
    assert page_fed <= set(checked)
    assert {name for name, s in tap.streams.items() if s.selected} == set(checked)
    assert sum(checked.values()) > 60 * len(PROVIDER_KEYS)


def test_a_signal_during_a_write_blocked_on_a_full_pipe_loses_no_byte() -> None:
    # A target reading slower than the tap writes: the pipe is full, the write blocks, a
    # signal lands (its handler returns, as the tap's does while it writes). CPython's
    # BufferedWriter.write then returns after the part written; the writer must go on.
    script = (
        "import signal, sys\n"
        "from tap_helpdesk.fastpath import StdoutWriter\n"
        "signal.signal(signal.SIGTERM, lambda *a: sys.stderr.write('signal\\n'))\n"
        "writer = StdoutWriter()\n"
        "for n in range(4000):\n"
        "    writer.write_record('tickets', {'id': n, 'text': 'x' * 90}, None)\n"
        "sys.stderr.write('writing\\n'); sys.stderr.flush()\n"
        "writer.flush()\n"
        "sys.stderr.write('written\\n')\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as process:
        assert process.stderr is not None
        assert process.stdout is not None
        assert process.stderr.readline() == b"writing\n"
        time.sleep(0.3)  # the pipe fills up and the write blocks
        process.send_signal(signal.SIGTERM)
        out = process.stdout.read()
        errors = process.stderr.read()
        assert process.wait(timeout=30) == 0
    assert errors == b"signal\nwritten\n"
    lines = out.split(b"\n")
    assert lines[-1] == b""
    assert [json.loads(line)["record"]["id"] for line in lines[:-1]] == list(range(4000))


# -- the METRIC line of each request (metric_line.py) ------------------------------------

_STAMP = re.compile(rb"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}$")


def _proprofs_stream() -> t.Any:
    config = {
        "start_date": "2024-01-01T00:00:00Z",
        "proprofs": {"account_email": "a@example.com", "token": "tok-123456", "api_url": URL},
    }
    return TapHelpdesk(config=config).streams["proprofs_tickets"]


URL = "http://127.0.0.1:9"


def _answer(code: int, seconds: float) -> requests.Response:
    response = requests.Response()
    response.status_code = code
    response.elapsed = timedelta(seconds=seconds)
    return response


@contextlib.contextmanager
def sdk_console() -> t.Iterator[io.BytesIO]:
    """Logging as the SDK sets it up for a CLI run, writing to a buffer.

    Entered in the test's body: pytest adds its capture handlers to the root logger after
    the fixtures are set up; they are set aside while the block runs.
    """
    out = io.BytesIO()
    handler = logging.StreamHandler(io.TextIOWrapper(out, encoding="utf-8", write_through=True))
    handler.setFormatter(ConsoleFormatter())
    root = logging.getLogger()
    handlers, level = root.handlers, root.level
    root.handlers, root.level = [handler], logging.INFO
    try:
        yield out
    finally:
        root.handlers, root.level = handlers, level


def _lines_both_ways(
    stream: t.Any, console: io.BytesIO, endpoint: str, response: requests.Response, **kw: t.Any
) -> tuple[list[bytes], list[bytes]]:
    args = {"endpoint": endpoint, "response": response, "context": None, "extra_tags": None}
    args.update(kw)
    start = console.tell()
    stream._write_request_duration_log(**args)
    fast = console.getvalue()[start:].splitlines()
    start = console.tell()
    RESTStream._write_request_duration_log(stream, **args)
    sdk = console.getvalue()[start:].splitlines()
    return fast, sdk


@pytest.mark.parametrize(
    ("name", "endpoint", "code", "seconds"),
    [
        ("proprofs_tickets", "/app/api/v1/list/ticket/", 200, 0.001234),
        ("tickets", "/tickets/list", 404, 12.5),
        ("tickets", "/x", 503, 0.0),
        ("tickets", "/x", 400, 0.5),  # "failed" from 400 on
        ("tickets", "/x", 399, 0.5),
        ("tickets", "/x", 302, 1e-05),
        ('odd "name" é', "/p\\a\tth/漢字", 200, 123456.789),
        ("tickets", "/secret/tok-123456/list", 200, 0.25),  # a secret in a path is masked
    ],
)
def test_a_metric_line_is_the_sdks_bytes(
    monkeypatch: pytest.MonkeyPatch, name: str, endpoint: str, code: int, seconds: float
) -> None:
    stream = _proprofs_stream()
    monkeypatch.setattr(stream, "name", name)
    monkeypatch.delattr(stream, "_metric_line", raising=False)
    taken = []
    write = MetricLine.write

    def counted(line: MetricLine, *args: t.Any) -> bool:
        taken.append(write(line, *args))
        return taken[-1]

    monkeypatch.setattr(MetricLine, "write", counted)
    before = datetime.now()  # the line's time is local, as logging's
    with sdk_console() as console:
        fast, sdk = _lines_both_ways(stream, console, endpoint, _answer(code, seconds))
        written_out = console.getvalue()
    assert taken == [True], "the line was written by the fast path"
    assert len(fast) == len(sdk) == 1
    assert fast[0][23:] == sdk[0][23:]  # everything but the time
    assert b"METRIC: " in fast[0]
    assert b"tok-123456" not in written_out
    assert _STAMP.match(fast[0][:23])
    written = datetime.strptime(fast[0][:19].decode(), "%Y-%m-%d %H:%M:%S")
    assert before.replace(microsecond=0) <= written <= datetime.now()


def _extra_handler() -> None:
    logging.getLogger().addHandler(logging.StreamHandler(io.StringIO()))


def _metrics_filter() -> None:
    logging.getLogger("singer_sdk.metrics").addFilter(lambda record: True)


def _metrics_handler() -> None:
    logging.getLogger("singer_sdk.metrics").addHandler(logging.NullHandler())


def _other_format() -> None:
    logging.getLogger().handlers[0].setFormatter(logging.Formatter("%(message)s"))


def _record_factory() -> None:
    previous = logging.getLogRecordFactory()
    logging.setLogRecordFactory(functools.partial(previous))


def _renamed_level() -> None:
    logging.addLevelName(logging.INFO, "INFORMATION")


@pytest.mark.parametrize(
    "setup",
    [
        _extra_handler,
        _metrics_filter,
        _metrics_handler,
        _other_format,
        _record_factory,
        _renamed_level,
    ],
)
def test_the_sdks_metric_path_is_taken_where_logging_is_set_up_otherwise(
    monkeypatch: pytest.MonkeyPatch, setup: t.Callable[[], None]
) -> None:
    stream = _proprofs_stream()
    metrics_logger = logging.getLogger("singer_sdk.metrics")
    monkeypatch.setattr(metrics_logger, "filters", [])
    monkeypatch.setattr(metrics_logger, "handlers", [])
    monkeypatch.setattr(logging, "_levelToName", dict(logging._levelToName))
    factory = logging.getLogRecordFactory()
    with sdk_console() as console:
        assert plain_console_handler(metrics_logger) is not None
        try:
            setup()
            assert plain_console_handler(metrics_logger) is None
            assert stream._metric_line.write("/x", _answer(200, 0.5)) is False
            fast, sdk = _lines_both_ways(stream, console, "/x", _answer(200, 0.5))
        finally:
            logging.setLogRecordFactory(factory)
    if setup is _other_format:
        assert fast == sdk
    else:
        assert [line[23:] for line in fast] == [line[23:] for line in sdk]
        assert len(fast) == 1


def test_no_metric_line_where_the_sdk_writes_none(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = _proprofs_stream()
    metrics_logger = logging.getLogger("singer_sdk.metrics")
    with sdk_console() as console:
        assert len(_lines_both_ways(stream, console, "/x", _answer(200, 0.5))[0]) == 1
        monkeypatch.setattr(metrics_logger, "level", logging.WARNING)
        metrics_logger.manager._clear_cache()
        assert _lines_both_ways(stream, console, "/x", _answer(200, 0.5)) == ([], [])
        monkeypatch.setattr(metrics_logger, "level", logging.INFO)
        metrics_logger.manager._clear_cache()
        monkeypatch.setattr(stream, "_LOG_REQUEST_METRICS", False)
        assert _lines_both_ways(stream, console, "/x", _answer(200, 0.5)) == ([], [])


def test_a_metric_line_with_a_context_is_the_sdks_own(monkeypatch: pytest.MonkeyPatch) -> None:
    stream = _proprofs_stream()
    monkeypatch.setattr(MetricLine, "write", lambda *_a: pytest.fail("the fast path"))
    with sdk_console() as console:
        fast, sdk = _lines_both_ways(
            stream, console, "/x", _answer(200, 0.5), context={"tickets_page": 3}
        )
    assert [line[23:] for line in fast] == [line[23:] for line in sdk]
    assert b'"context":{"tickets_page":3}' in fast[0]
