"""Local emulator of the five helpdesk APIs, for the tests and the demo (see server.py).

Each provider lives in sandbox/<key>.py and defines:
  API            its ProviderAPI subclass (routes, seeded data, quirks, truth)
  DEFAULT_SIZE   tickets in the demo data set
  SECRETS        the fake credentials it accepts (the tests scan output for them)
  tap_settings(url) -> the tap's settings block that authenticates against it
"""

from __future__ import annotations

import importlib
import typing as t
from types import ModuleType

from sandbox.server import Knobs, ProviderAPI, Sandbox

PROVIDER_KEYS = ("filum", "socialboards", "teamwork_desk", "proprofs", "enneo")


def _modules() -> dict[str, ModuleType]:
    found: dict[str, ModuleType] = {}
    for key in PROVIDER_KEYS:
        try:
            found[key] = importlib.import_module(f"{__name__}.{key}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{key}":
                raise
    return found


MODULES = _modules()
PROVIDER_APIS: dict[str, type[ProviderAPI]] = {key: m.API for key, m in MODULES.items()}
DEFAULT_SIZES: dict[str, int] = {key: m.DEFAULT_SIZE for key, m in MODULES.items()}
SECRETS: tuple[str, ...] = tuple(s for m in MODULES.values() for s in m.SECRETS)


def tap_settings(key: str, url: str) -> dict[str, t.Any]:
    """The tap's settings block for one provider of a sandbox at `url`."""
    return dict(MODULES[key].tap_settings(url))


def build_sandbox(
    *,
    seed: int = 7,
    sizes: t.Mapping[str, int] | None = None,
    port: int = 0,
    knobs: Knobs | None = None,
    providers: t.Iterable[str] | None = None,
) -> Sandbox:
    """A sandbox with the given providers (all by default) and data sizes."""
    chosen = list(providers) if providers is not None else list(PROVIDER_APIS)
    merged = {**DEFAULT_SIZES, **(sizes or {})}
    apis = [PROVIDER_APIS[key](seed, merged[key]) for key in chosen]
    return Sandbox(apis, port=port, seed=seed, knobs=knobs)


__all__ = [
    "DEFAULT_SIZES",
    "PROVIDER_APIS",
    "SECRETS",
    "Knobs",
    "Sandbox",
    "build_sandbox",
    "tap_settings",
]
