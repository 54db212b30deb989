"""JSON schemas of the streams, one file per stream, shipped inside the wheel."""

from __future__ import annotations

import copy
import json
import typing as t
from functools import cache
from importlib import resources


@cache
def _read(stream_name: str) -> dict[str, t.Any]:
    text = resources.files(__package__).joinpath(f"{stream_name}.json").read_text("utf-8")
    return t.cast("dict[str, t.Any]", json.loads(text))


def load_schema(stream_name: str) -> dict[str, t.Any]:
    """A fresh copy of the JSON schema of `stream_name`."""
    return copy.deepcopy(_read(stream_name))
