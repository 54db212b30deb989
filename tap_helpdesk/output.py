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
        # where the pending bytes go: stdout as it was when they were written (tests and the
        # SDK's test runner swap sys.stdout; an exit-time flush must not cross streams)
        self._out: t.BinaryIO = sys.stdout.buffer
        atexit.register(self._flush_at_exit)

    @override
    def write_message(self, message: t.Any) -> None:
        if not self._pending:
            self._out = sys.stdout.buffer
        self._pending += self.format_message(message)
        if message.type != SingerMessageType.RECORD or len(self._pending) >= _CHUNK:
            self.flush()

    def write_record(self, stream: str, record: dict[str, t.Any], version: int | None) -> None:
        """A RECORD message straight from the record dict (the per-record hot path)."""
        message: dict[str, t.Any] = {"type": "RECORD", "stream": stream, "record": record}
        if version is not None:
            message["version"] = version
        message["time_extracted"] = datetime.now(timezone.utc)
        if not self._pending:
            self._out = sys.stdout.buffer
        _encoder.encode_into(message, self._pending, -1)
        self._pending += b"\n"
        if len(self._pending) >= _CHUNK:
            self.flush()

    def _flush_at_exit(self) -> None:
        # Records written after the last STATE (a run that ended early): deliver them if
        # their stream is still open; a closed one (a test's capture buffer) takes nothing.
        try:
            self.flush()
        except (ValueError, OSError):
            self._pending.clear()

    def flush(self) -> None:
        """Hand everything written so far to stdout."""
        if self._pending:
            self._out.write(self._pending)
            self._out.flush()
            self._pending.clear()
