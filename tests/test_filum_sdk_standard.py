"""The Singer SDK's standard tap tests (discovery, sync, record/schema conformance, keys)
for filum_tickets, with custom fields as columns (discovered from a sample export)."""

from __future__ import annotations

from singer_sdk.testing import SuiteConfig, get_tap_test_class

from sandbox import build_sandbox
from tap_helpdesk.tap import TapHelpdesk
from tests.conftest import tap_config

# One sandbox for the whole generated test class; it lives as long as the test process.
SANDBOX = build_sandbox(sizes={"filum": 400}, providers=["filum"]).start()
CONFIG = tap_config(SANDBOX, "filum", end_date="2024-12-31T16:59:59Z")
CONFIG["filum"]["custom_fields_as_columns"] = True

TestTapHelpdeskFilum = get_tap_test_class(
    tap_class=TapHelpdesk,
    config=CONFIG,
    suite_config=SuiteConfig(max_records_limit=None),
)
