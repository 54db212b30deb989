"""Singer message output: msgspec-encoded, buffered, flushed at every non-RECORD message."""

from __future__ import annotations

import atexit
import sys
import typing as t
from datetime import datetime, timezone

import msgspec
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.singerlib import SingerMessageType

if sys.version_info >= (3, 12):
    from typing import override
else:
    from typing_extensions import override

_encoder = msgspec.json.Encoder(decimal_format="number")
_CHUNK = 1 << 20  # write records out in chunks of about 1 MiB


class StdoutWriter(MsgSpecWriter):
    """The SDK's msgspec writer without a flush per record.

    A STATE message and the records before it always reach the target together, so a
    killed run can never leave a bookmark ahead of the data it vouches for.
    """

    def __init__(self) -> None:
        super().__init__()
        self._pending = bytearray()
        atexit.register(self.flush)

    @override
    def write_message(self, message: t.Any) -> None:
        self._pending += self.format_message(message)
        if message.type != SingerMessageType.RECORD or len(self._pending) >= _CHUNK:
            self.flush()

    def write_record(self, stream: str, record: dict[str, t.Any], version: int | None) -> None:
        """A RECORD message straight from the record dict (the per-record hot path)."""
        message: dict[str, t.Any] = {"type": "RECORD", "stream": stream, "record": record}
        if version is not None:
            message["version"] = version
        message["time_extracted"] = datetime.now(timezone.utc)
        _encoder.encode_into(message, self._pending, -1)
        self._pending += b"\n"
        if len(self._pending) >= _CHUNK:
            self.flush()

    def flush(self) -> None:
        """Hand everything written so far to stdout."""
        if self._pending:
            out = sys.stdout.buffer
            out.write(self._pending)
            out.flush()
            self._pending.clear()
