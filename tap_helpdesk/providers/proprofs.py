"""ProProfs Help Desk (not implemented yet)."""

from __future__ import annotations

import typing as t

LABEL = "ProProfs Help Desk"
STREAMS: tuple[type[t.Any], ...] = ()
