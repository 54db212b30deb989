"""JSON schemas of the streams, one file per stream, shipped inside the wheel.

Streams take theirs through the SDK's `StreamSchema(SCHEMAS)` (the file named after the
stream); `load_schema` gives a fresh copy where a stream extends its schema (Filum's
discovered custom-field columns).
"""

from __future__ import annotations

import copy
import json
import typing as t
from functools import cache
from importlib import resources

from singer_sdk import SchemaDirectory, StreamSchema


@cache
def _read(stream_name: str) -> dict[str, t.Any]:
    text = resources.files(__package__).joinpath(f"{stream_name}.json").read_text("utf-8")
    return t.cast("dict[str, t.Any]", json.loads(text))


def load_schema(stream_name: str) -> dict[str, t.Any]:
    """A fresh copy of the JSON schema of `stream_name`."""
    return copy.deepcopy(_read(stream_name))


#: every stream's schema file, read once
SCHEMAS = SchemaDirectory(resources.files(__package__))


def stream_schema() -> StreamSchema[str]:
    """The schema descriptor of a stream: the file named after the stream."""
    return StreamSchema(SCHEMAS)
