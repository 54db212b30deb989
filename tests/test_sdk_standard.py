"""The Singer SDK's standard tap tests (discovery, sync, record/schema conformance, keys)."""

from __future__ import annotations

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from sandbox import build_sandbox
from tap_helpdesk.tap import TapHelpdesk
from tests.conftest import tap_config

# One sandbox for the whole generated test class; it lives as long as the test process.
SANDBOX = build_sandbox(
    sizes={"enneo": 300, "teamwork_desk": 250}, providers=["enneo", "teamwork_desk"]
).start()

TestTapHelpdesk = get_tap_test_class(
    tap_class=TapHelpdesk,
    config=tap_config(SANDBOX, "enneo", "teamwork_desk"),
    suite_config=SuiteConfig(max_records_limit=None),
)
