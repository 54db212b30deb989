"""Proxy settings from the environment: read once per run, and still honoured."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests

from tap_helpdesk.fastpath import settle_environment
from tests.conftest import assert_no_secret, tap_config
from tests.tap_runner import run_tap

CLOSED_PORT_PROXY = "http://127.0.0.1:9"  # the discard port: nothing listens there


def proxy_env(proxy: str, no_proxy: str = "") -> dict[str, str]:
    """Both spellings, so a proxy set on the machine running the tests cannot interfere."""
    return {
        "HTTP_PROXY": proxy,
        "http_proxy": proxy,
        "HTTPS_PROXY": proxy,
        "https_proxy": proxy,
        "NO_PROXY": no_proxy,
        "no_proxy": no_proxy,
    }


def test_requests_go_through_the_proxy_the_environment_names(make_sandbox):
    sandbox = make_sandbox("enneo", sizes={"enneo": 120})
    config = tap_config(sandbox, "enneo")
    # A host that does not resolve: the records can only arrive through the proxy.
    port = urlsplit(sandbox.url).port
    config["enneo"]["api_url"] = sandbox.url.replace(f"127.0.0.1:{port}", "enneo.invalid")
    run = run_tap(config, env=proxy_env(sandbox.url))
    assert run.returncode == 0, run.stderr
    truth = sandbox.truth()
    assert sorted(run.ids("enneo_tickets")) == truth["enneo_tickets"]["ids"]
    assert len(run.records["enneo_reporting_tickets"]) == 120
    # one page per stream, and the request confirming that the short page was the last
    paths = sandbox.stats()["paths"]
    assert paths["/api/mind/export/ticket"] + paths["/api/mind/export/reporting_tickets"] == 4
    assert sum(paths.values()) == 8, "the messages and worklog streams went through it too"


def test_no_proxy_bypasses_the_proxy_and_a_dead_proxy_is_one_line(make_sandbox):
    sandbox = make_sandbox("enneo", sizes={"enneo": 80})
    config = tap_config(sandbox, "enneo", max_retries=0)
    bypassed = run_tap(config, env=proxy_env(CLOSED_PORT_PROXY, no_proxy="127.0.0.1"))
    assert bypassed.returncode == 0, bypassed.stderr
    assert len(bypassed.records["enneo_tickets"]) == 80

    dead = run_tap(config, env=proxy_env(CLOSED_PORT_PROXY))
    assert dead.returncode == 1
    lines = dead.error_lines()
    assert len(lines) == 1, dead.stderr
    assert lines[0].startswith("tap-helpdesk: error: Enneo: cannot reach"), lines
    assert "Traceback" not in dead.stderr
    assert_no_secret(dead.stdout, dead.stderr)


def test_environment_is_resolved_once_into_the_session(monkeypatch):
    for name, value in proxy_env("http://proxy.example:3128", no_proxy="internal.example").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/company.pem")
    session = settle_environment(requests.Session(), "https://api.example.com/v1")
    assert session.trust_env is False
    assert session.proxies == {
        "http": "http://proxy.example:3128",
        "https": "http://proxy.example:3128",
    }
    assert session.verify == "/etc/ssl/company.pem"

    bypass = settle_environment(requests.Session(), "https://internal.example/v1")
    assert bypass.proxies == {}
    assert bypass.verify == "/etc/ssl/company.pem"
