"""The Meltano Hub definition (meltano/hub/tap-helpdesk.yml) and the project's plugin
definitions: generated from the tap, valid against the JSON schema shipped in the meltano
package, and accepted by the real `meltano add --from-ref`. Also the README settings
table generator (scripts/readme_settings.py)."""

from __future__ import annotations

import json
import subprocess
import typing as t
from pathlib import Path

import jsonschema
import pytest
import yaml

from scripts import plugin_definition, readme_settings
from tap_helpdesk.providers import PROVIDERS
from tap_helpdesk.tap import PROVIDER_CREDENTIALS, PROVIDER_SETTINGS, TapHelpdesk
from tests.e2e_meltano import MELTANO, ROOT

SCHEMA_PATH = next(
    (ROOT / ".tools" / "meltano" / "lib").glob(
        "python3*/site-packages/meltano/schemas/meltano.schema.json"
    )
)
#: Hub-only metadata (hub_metadata.schema.json of meltano/hub); meltano.yml has no such keys
HUB_ONLY = {
    "maintenance_status",
    "quality",
    "domain_url",
    "keywords",
    "definition",
    "next_steps",
    "settings_preamble",
    "usage",
    "prereq",
}
KINDS = {
    "oauth", "date_iso8601", "file", "email", "integer", "decimal",
    "options", "object", "array", "boolean", "string",
}  # fmt: skip


def meltano_schema() -> dict[str, t.Any]:
    return t.cast(dict[str, t.Any], json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


def validate_project(document: dict[str, t.Any]) -> None:
    """Validate a meltano.yml document with the validator class its schema declares."""
    schema = meltano_schema()
    validator = jsonschema.validators.validator_for(schema)
    validator.check_schema(schema)
    errors = sorted(validator(schema).iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])


def hub() -> dict[str, t.Any]:
    path = ROOT / "meltano" / "hub" / "tap-helpdesk.yml"
    return t.cast(dict[str, t.Any], yaml.safe_load(path.read_text(encoding="utf-8")))


def secret_settings() -> set[str]:
    """Dotted names of the settings the tap's schema marks secret."""
    return {
        f"{key}.{name}"
        for key, block in PROVIDER_SETTINGS.items()
        for name, schema in block.to_dict()["properties"].items()
        if schema.get("secret")
    }


def test_generated_files_are_current() -> None:
    for path, text in plugin_definition.outputs().items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path} is stale: python scripts/plugin_definition.py --write"
        )


def test_hub_definition_content() -> None:
    definition = hub()
    for key in ("name", "namespace", "variant", "label", "description", "pip_url", "executable"):
        assert definition.get(key), key
    assert definition["name"] == "tap-helpdesk"
    assert definition["namespace"] == "tap_helpdesk"
    assert definition["executable"] == "tap-helpdesk"
    assert not definition["pip_url"].startswith("-e"), "the Hub installs from PyPI"
    assert set(plugin_definition.REQUIRED_CAPABILITIES) <= set(definition["capabilities"])
    assert set(definition["capabilities"]) == {str(c) for c in TapHelpdesk.capabilities}
    settings = {s["name"]: s for s in definition["settings"]}
    for name, setting in settings.items():
        assert setting.get("kind") in KINDS, name
        assert setting.get("label"), name
        assert setting.get("description"), name
    sensitive = {name for name, s in settings.items() if s.get("sensitive")}
    assert sensitive == secret_settings()
    assert {"enneo.api_token", "teamwork_desk.api_key", "filum.api_token"} <= sensitive
    # one group per provider: start_date and that provider's credentials
    groups = [set(group) for group in definition["settings_group_validation"]]
    assert groups == [
        {"start_date", *(f"{key}.{name}" for name in PROVIDER_CREDENTIALS[key])}
        for key in PROVIDERS
    ]
    for group in groups:
        assert group <= set(settings), group - set(settings)
    # every setting --about documents is there (objects as their leaves)
    about = readme_settings.settings_section(readme_settings.about_markdown())
    documented = {line.split("|")[1].strip() for line in about.splitlines()[2:] if "|" in line}
    declared = set(settings) | {name.rsplit(".", 1)[0] for name in settings if "." in name}
    missing = {
        name
        for name in documented - declared
        if name.split(".")[0] not in {"stream_maps", "faker_config", "batch_config"}
    }
    assert not missing, missing


def test_definitions_validate_against_meltanos_schema() -> None:
    definition = {k: v for k, v in hub().items() if k not in HUB_ONLY}
    validate_project({"project_id": "hub-check", "plugins": {"extractors": [definition]}})
    # the project itself: meltano.yml and the generated include file
    validate_project(yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8")))
    for path in (ROOT / "meltano").glob("*.meltano.yml"):
        validate_project(yaml.safe_load(path.read_text(encoding="utf-8")))
    # and the validator does reject what the schema forbids
    broken = {**definition, "settings": [{"name": "x", "kind": "number"}]}
    with pytest.raises(AssertionError):
        validate_project({"plugins": {"extractors": [broken]}})


def test_meltano_adds_the_hub_definition(tmp_path: Path) -> None:
    """The real CLI consumes the file the way it consumes Hub definitions."""
    (tmp_path / "meltano.yml").write_text(
        "project_id: hub-check\ndefault_environment: dev\nenvironments:\n- name: dev\n",
        encoding="utf-8",
    )
    secrets = {
        "TAP_HELPDESK_" + name.replace(".", "_").upper(): f"s3cr3t-{index}-value"
        for index, name in enumerate(sorted(secret_settings()))
    }
    env = {"MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false", "PATH": "/usr/bin:/bin", **secrets}

    def meltano(*args: str) -> str:
        completed = subprocess.run(
            [str(MELTANO), *args], cwd=tmp_path, env=env, capture_output=True, text=True,
            timeout=300, check=False,
        )  # fmt: skip
        assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
        return completed.stdout

    source = ROOT / "meltano" / "hub" / "tap-helpdesk.yml"
    meltano(
        "add",
        "--plugin-type",
        "extractor",
        "tap-helpdesk",
        "--from-ref",
        str(source),
        "--no-install",
    )
    added = yaml.safe_load((tmp_path / "meltano.yml").read_text(encoding="utf-8"))
    plugin = added["plugins"]["extractors"][0]
    assert plugin["variant"] == hub()["variant"]
    assert [s["name"] for s in plugin["settings"]] == [s["name"] for s in hub()["settings"]]
    listing = meltano("config", "list", "--all", "tap-helpdesk")
    for key in PROVIDERS:
        assert f"TAP_HELPDESK_{key.upper()}_API_URL" in listing
    assert listing.count("Group ") == len(PROVIDERS)
    # the sensitive settings are read from their variables and never shown
    for env_name, value in secrets.items():
        assert env_name in listing
        assert value not in listing


def test_readme_settings_block_is_the_about_table() -> None:
    markdown = readme_settings.about_markdown()
    block = readme_settings.block(markdown)
    table = readme_settings.settings_section(markdown)
    assert block.startswith(readme_settings.START)
    assert block.endswith(readme_settings.END)
    assert table in block
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| Setting |")
    names = {row.split("|")[1].strip() for row in rows[1:]}
    assert {"start_date", "enneo.api_token", "teamwork_desk.api_url"} <= names
    readme = f"# x\n\nintro\n\n{readme_settings.START}\nold\n{readme_settings.END}\n\nmore\n"
    updated = readme_settings.replace_block(readme, block)
    assert updated == f"# x\n\nintro\n\n{block}\n\nmore\n"
    assert readme_settings.replace_block(updated, block) == updated
    with pytest.raises(SystemExit):
        readme_settings.replace_block("# no markers\n", block)
