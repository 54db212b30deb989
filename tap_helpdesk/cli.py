"""The `tap-helpdesk` command (and `python -m tap_helpdesk`): the tap, imported lean.

Importing the SDK and the tap builds about 90,000 objects that live as long as the
process, and CPython's cyclic collector, at its default thresholds, scans them again and
again while they are built: 130 collections, about 45 ms of the import's 0.3 s of CPU
(docs/performance.md). The collector is off while they are imported, and `tap.main` then
moves them out of every later scan (`fastpath.collect_garbage_less_often`).
"""

from __future__ import annotations

import gc


def main() -> None:
    """Import the tap with the cyclic collector off, then run its command line."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        from tap_helpdesk.tap import main as run  # noqa: PLC0415  # the import is the point
    finally:
        if enabled:
            gc.enable()
    run()
