"""The fast record path writes byte for byte what the SDK's own writer writes."""

from __future__ import annotations

import io
import subprocess
import sys
import typing as t
from datetime import datetime, timezone

import pytest
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.singerlib import RecordMessage

from tap_helpdesk import fastpath
from tap_helpdesk.fastpath import StdoutWriter

MOMENT = datetime(2024, 5, 12, 2, 0, 0, 123456, tzinfo=timezone.utc)
RECORDS: list[dict[str, t.Any]] = [
    {"id": 1, "subject": "plain"},
    {"id": 2, "subject": "é, ü, 漢字, emoji 🎫, a line\u2028separator", "score": 1.5},
    {"id": "ST007-007", "nested": {"a": [1, None, True], "b": {}}, "empty": []},
    {"id": 4, "big": 12345678901234567890, "negative": -0.0001, "none": None},
    {"id": 5, "quote": 'say "hi"\\ back\n\ttab', "createdAt": "2024-05-12T02:00:00+00:00"},
]


class FixedClock:
    @staticmethod
    def now(tz: t.Any = None) -> datetime:
        return MOMENT


@pytest.mark.parametrize("version", [None, 1715479200000])
def test_fast_records_are_the_sdks_bytes(
    monkeypatch: pytest.MonkeyPatch, version: int | None
) -> None:
    monkeypatch.setattr(fastpath, "datetime", FixedClock)
    out = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(out))
    writer = StdoutWriter()
    for record in RECORDS:
        writer.write_record("tickets", dict(record), version)
    writer.flush()
    sdk = MsgSpecWriter()
    expected = b"".join(
        bytes(
            sdk.format_message(
                RecordMessage(
                    stream="tickets", record=dict(r), version=version, time_extracted=MOMENT
                )
            )
        )
        for r in RECORDS
    )
    assert out.getvalue() == expected


def test_the_cli_collects_garbage_less_often_and_leaves_start_up_out_of_the_scans() -> None:
    # In a process of its own: the collector's settings are the whole process's.
    script = (
        "import gc, sys\n"
        "from tap_helpdesk import tap\n"
        "before = gc.get_threshold()[0]\n"
        "tap.TapHelpdesk.cli = staticmethod(lambda: None)\n"
        "tap.main()\n"
        "print(before, gc.get_threshold()[0], gc.get_freeze_count() > 1000)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split() == ["700", str(fastpath.GC_YOUNGEST_THRESHOLD), "True"]
