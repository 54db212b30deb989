"""Socialboards (not implemented yet)."""

from __future__ import annotations

import typing as t

LABEL = "Socialboards"
STREAMS: tuple[type[t.Any], ...] = ()
