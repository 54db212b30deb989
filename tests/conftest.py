"""Shared fixtures: a fresh sandbox per test, and tap settings pointing at it."""

from __future__ import annotations

import typing as t

import pytest

from sandbox import SECRETS, build_sandbox, tap_settings
from sandbox.server import Knobs, Sandbox

START_DATE = "2024-01-01T00:00:00Z"


#: settings that keep retries quick against the sandbox
FAST_RETRIES = {"max_retries": 8, "backoff_base_seconds": 0.05, "request_timeout": 10}


def provider_settings(sandbox: Sandbox, provider: str, **overrides: t.Any) -> dict[str, t.Any]:
    """Settings block for one provider, pointing at the sandbox with its valid credentials."""
    return {**tap_settings(provider, sandbox.url), **overrides}


def tap_config(sandbox: Sandbox, *providers: str, **top: t.Any) -> dict[str, t.Any]:
    """Tap settings for the given providers against the sandbox."""
    config: dict[str, t.Any] = {"start_date": START_DATE, **FAST_RETRIES}
    for provider in providers:
        config[provider] = provider_settings(sandbox, provider)
    config.update(top)
    return config


@pytest.fixture
def make_sandbox() -> t.Iterator[t.Callable[..., Sandbox]]:
    """Start sandboxes on free ports; all are stopped after the test."""
    started: list[Sandbox] = []

    def factory(
        *providers: str,
        sizes: dict[str, int] | None = None,
        seed: int = 7,
        **knobs: t.Any,
    ) -> Sandbox:
        sandbox = build_sandbox(
            seed=seed, sizes=sizes, providers=providers or None, knobs=Knobs(**knobs)
        ).start()
        started.append(sandbox)
        return sandbox

    yield factory
    for sandbox in started:
        sandbox.stop()


def assert_no_secret(*texts: str, secrets: t.Iterable[str] = SECRETS) -> None:
    """Fail if any secret value appears in any of the texts."""
    for text in texts:
        for secret in secrets:
            assert secret not in text, "a secret leaked into the tap's output"


def walk_leaves(walk: t.Any, fetch: t.Callable[[t.Any], t.Any]) -> t.Iterator[tuple[t.Any, ...]]:
    """Drive a WindowWalk the way Filum's walk does (the first window `ready()` hands out,
    answered, then settled): (window, page, complete) for every leaf."""
    while ready := walk.ready():
        window = ready[0]
        page = fetch(window)
        complete = walk.settle(window, page)
        if complete is not None:
            yield window, page, complete
