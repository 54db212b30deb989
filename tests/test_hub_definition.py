"""The Meltano Hub definition (meltano/hub/tap-helpdesk.yml) and the project's plugin
definitions: generated from the tap, valid against the JSON schema shipped in the meltano
package and against the Hub's own published schema, and accepted by the real `meltano add
--from-ref`. The release workflow that publishes the package the Hub file installs, and the
Python versions claimed (classifiers, Hub, CI matrix). Also the README settings table
generator (scripts/readme_settings.py)."""

from __future__ import annotations

import copy
import json
import re
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
    "supported_python_versions",
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
    # the tap's capabilities, and `test`: the SDK gives every tap `--test` without listing it
    assert "test" in {param.name for param in TapHelpdesk.cli.params}
    assert set(definition["capabilities"]) == {str(c) for c in TapHelpdesk.capabilities} | {"test"}
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
    assert set(added["plugins"]) == {"extractors"}, "added as an extractor only"
    assert len(added["plugins"]["extractors"]) == 1
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


# -- the Hub's published requirements ------------------------------------------------------

#: The Meltano Hub's schema for extractor definitions, as published in github.com/meltano/hub
#: at commit 9d28b36a64bf1ba18d6b0dd6936d8f14d2eaa0ba (2 Aug 2026), condensed to what it
#: checks: schemas/plugin_definitions/extractors.schema.json (allowed top-level keys,
#: `required: [quality]`), schemas/common/common.schema.json (`required: [name, namespace,
#: variant]`, key types), schemas/common/extractors_specific.schema.json (capability enum),
#: schemas/plugin_definitions/hub_metadata.schema.json (maintenance_status, quality and
#: domain_url) and schemas/common/base_setting.schema.json (setting keys and kind enum).
HUB_CAPABILITIES = [
    "properties", "catalog", "discover", "state", "about", "stream-maps",
    "schema-flattening", "activate-version", "batch", "test", "log-based",
    "structured-logging",
]  # fmt: skip
HUB_SETTING_KINDS = [
    "oauth", "hidden", "password", "date_iso8601", "file", "email", "integer", "options",
    "object", "array", "boolean", "string", "decimal",
]  # fmt: skip
HUB_SETTING_KEYS = [
    "name", "aliases", "label", "value", "placeholder", "kind", "description", "tooltip",
    "documentation", "env", "value_processor", "value_post_processor", "oauth", "options",
    "docs", "hidden", "sensitive",
]  # fmt: skip
HUB_EXTRACTOR_KEYS = [
    "name", "pip_url", "variant", "namespace", "label", "description", "executable",
    "settings", "docs", "repo", "logo_url", "hidden", "python", "settings_group_validation",
    "commands", "capabilities", "metadata", "schema", "select", "maintenance_status",
    "quality", "domain_url", "keywords", "requires", "definition", "next_steps",
    "settings_preamble", "usage", "prereq", "supported_python_versions", "log_parser",
]  # fmt: skip
STRING = {"type": "string"}
HUB_EXTRACTOR_SCHEMA: dict[str, t.Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "required": ["name", "namespace", "variant", "quality"],
    "additionalProperties": False,
    "properties": {
        **{key: {} for key in HUB_EXTRACTOR_KEYS},
        **{key: STRING for key in ("name", "namespace", "variant", "pip_url", "executable")},
        **{key: STRING for key in ("label", "description", "docs", "repo", "python")},
        "logo_url": {"type": ["string", "null"]},
        "hidden": {"type": "boolean"},
        "maintenance_status": {"enum": ["active", "beta", "development", "inactive", "unknown"]},
        "quality": {"enum": ["gold", "silver", "bronze", "unknown"]},
        "domain_url": {"type": ["string", "null"], "format": "uri"},
        "keywords": {"type": "array", "items": STRING},
        "capabilities": {"type": "array", "items": {"enum": HUB_CAPABILITIES}},
        "settings_group_validation": {
            "type": "array",
            "items": {"type": "array", "items": STRING},
        },
        "supported_python_versions": {
            "type": "array",
            "items": {"type": "string", "pattern": r"^3\.\d+$"},
        },
        "settings": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name"],
                "additionalProperties": False,
                "properties": {
                    **{key: {} for key in HUB_SETTING_KEYS},
                    "name": STRING,
                    "label": STRING,
                    "description": STRING,
                    "kind": {"enum": HUB_SETTING_KINDS},
                    "sensitive": {"type": "boolean"},
                    "options": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {"label": STRING, "value": STRING},
                        },
                    },
                },
            },
        },
    },
}
#: what the Hub shows on a plugin page, beyond what it requires
HUB_SHOWN = (
    "label", "description", "pip_url", "executable", "repo", "docs", "logo_url",
    "domain_url", "keywords", "maintenance_status", "capabilities",
    "settings_group_validation", "supported_python_versions",
)  # fmt: skip


def hub_errors(definition: dict[str, t.Any]) -> list[str]:
    """Where a definition breaks the Hub's published schema."""
    validator = jsonschema.Draft7Validator(
        HUB_EXTRACTOR_SCHEMA, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )
    return [
        f"{list(e.absolute_path)}: {e.message}"
        for e in sorted(validator.iter_errors(definition), key=lambda e: list(e.path))
    ]


def test_hub_definition_meets_the_hubs_published_schema() -> None:
    definition = hub()
    assert hub_errors(definition) == []
    for key in HUB_SHOWN:
        assert definition.get(key), f"the Hub shows {key}"
    assert definition["pip_url"] == "tap-helpdesk", "the PyPI distribution"
    name = re.search(r'^name = "([^"]+)"', plugin_definition.PYPROJECT.read_text("utf-8"), re.M)
    assert name
    assert definition["pip_url"] == name.group(1)
    assert definition["domain_url"].startswith("https://")
    assert definition["docs"].startswith(definition["repo"])
    assert "test" in definition["capabilities"]
    assert definition["logo_url"].endswith(".svg")
    logo = ROOT / "meltano" / "hub" / Path(definition["logo_url"]).name
    assert logo.read_text(encoding="utf-8").lstrip().startswith("<svg"), "the logo to submit"


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (lambda d: d.pop("quality"), "'quality' is a required property"),
        (lambda d: d.pop("variant"), "'variant' is a required property"),
        (lambda d: d.update(homepage="https://x.example"), "Additional properties"),
        (lambda d: d.update(maintenance_status="stable"), "is not one of"),
        (lambda d: d.update(quality="platinum"), "is not one of"),
        (lambda d: d["capabilities"].append("tests"), "is not one of"),
        (lambda d: d["settings"][0].update(kind="number"), "is not one of"),
        (lambda d: d["settings"][0].update(secret=True), "Additional properties"),
        (lambda d: d.update(supported_python_versions=["3"]), "does not match"),
    ],
)
def test_the_hubs_schema_rejects_what_the_hub_rejects(
    change: t.Callable[[dict[str, t.Any]], t.Any], complaint: str
) -> None:
    definition = copy.deepcopy(hub())
    change(definition)
    errors = hub_errors(definition)
    assert len(errors) == 1, errors
    assert complaint in errors[0]


# -- the versions claimed, and the release ---------------------------------------------------

WORKFLOWS = ROOT / ".github" / "workflows"


def workflow(name: str) -> dict[t.Any, t.Any]:
    return t.cast(dict[t.Any, t.Any], yaml.safe_load((WORKFLOWS / name).read_text("utf-8")))


def test_python_versions_claimed_are_the_versions_tested() -> None:
    claimed = plugin_definition.supported_python_versions()
    assert claimed == ["3.10", "3.11", "3.12", "3.13"]
    assert hub()["supported_python_versions"] == claimed
    matrix = workflow("ci.yml")["jobs"]["test"]["strategy"]["matrix"]["python-version"]
    assert matrix == claimed
    pyproject = plugin_definition.PYPROJECT.read_text(encoding="utf-8")
    assert f'requires-python = ">={claimed[0]}"' in pyproject


def test_workflows_pin_actions_by_commit_and_read_only_by_default() -> None:
    for path in sorted(WORKFLOWS.glob("*.yml")):
        text = path.read_text(encoding="utf-8")
        assert yaml.safe_load(text)["permissions"] == {"contents": "read"}, path.name
        uses = re.findall(r"uses:\s*(\S+)", text)
        assert uses, path.name
        for action in uses:
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action), (path.name, action)


def test_release_workflow_builds_checks_and_publishes_with_trusted_publishing() -> None:
    release = workflow("release.yml")
    # PyYAML reads the `on` key as the boolean True
    assert release[True] == {"push": {"tags": ["v*"]}}
    build, publish = release["jobs"]["build"], release["jobs"]["publish"]
    script = "\n".join(step.get("run", "") for step in build["steps"])
    assert "python -m build" in script
    assert "twine check --strict dist/*" in script
    assert "pip install dist/*.whl" in script, "the built wheel is installed and run"
    assert "GITHUB_REF_NAME" in script, "the tag must name pyproject's version"
    assert publish["needs"] == "build"
    assert publish["permissions"] == {"id-token": "write"}
    assert publish["environment"]["name"] == "pypi"
    steps = publish["steps"]
    assert steps[-1]["uses"].startswith("pypa/gh-action-pypi-publish@")
    text = (WORKFLOWS / "release.yml").read_text(encoding="utf-8")
    for token_input in ("password:", "secrets.", "PYPI_API_TOKEN"):
        assert token_input not in text, "trusted publishing stores no token"
