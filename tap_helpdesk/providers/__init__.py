"""Provider registry: one module per provider (tap_helpdesk/providers/<key>.py).

Each module defines `LABEL` (the name users see in messages) and `STREAMS` (its stream
classes, parents before children).
"""

from __future__ import annotations

import importlib
import typing as t
from dataclasses import dataclass

#: settings block keys, in the order streams are discovered
PROVIDER_KEYS = ("filum", "socialboards", "teamwork_desk", "proprofs", "enneo")


@dataclass(frozen=True)
class Provider:
    """A helpdesk API: its settings block key, the name users see, and its streams."""

    key: str
    label: str
    stream_types: tuple[type[t.Any], ...]


def _load(key: str) -> Provider:
    module = importlib.import_module(f"{__name__}.{key}")
    return Provider(key, module.LABEL, tuple(module.STREAMS))


PROVIDERS: dict[str, Provider] = {key: _load(key) for key in PROVIDER_KEYS}
