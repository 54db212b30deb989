"""Local emulator of the five helpdesk APIs, for the tests and the demo (see server.py)."""

from __future__ import annotations

import typing as t

from sandbox.enneo import EnneoAPI
from sandbox.server import Knobs, ProviderAPI, Sandbox
from sandbox.teamwork_desk import TeamworkDeskAPI

#: provider key -> emulator class
PROVIDER_APIS: dict[str, type[ProviderAPI]] = {
    "enneo": EnneoAPI,
    "teamwork_desk": TeamworkDeskAPI,
}

#: tickets per provider in the demo data set
DEFAULT_SIZES: dict[str, int] = {
    "enneo": 2500,
    "teamwork_desk": 1200,
}


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


__all__ = ["DEFAULT_SIZES", "PROVIDER_APIS", "Knobs", "Sandbox", "build_sandbox"]
