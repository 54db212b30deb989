"""Filum CX (not implemented yet)."""

from __future__ import annotations

import typing as t

LABEL = "Filum CX"
STREAMS: tuple[type[t.Any], ...] = ()
