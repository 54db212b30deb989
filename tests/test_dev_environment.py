"""The development environment is the lockfile's, CI and pre-commit use it, and a warning
fails the test that raises it.

scripts/setup.sh installs uv (pinned) and then exactly what uv.lock pins (`uv sync
--locked`); CI runs scripts/setup.sh in each of its three jobs; pre-commit's ruff is the
locked one. These tests fail when the lock falls behind pyproject.toml, when the
environment holds other versions than the lock, or when a job stops installing from it.
"""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import typing as t
import warnings
from pathlib import Path

import pytest
import yaml
from singer_sdk.helpers._compat import SingerSDKPythonEOLWarning

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "uv.lock"
UV = ROOT / ".tools" / "uv" / "bin" / "uv"


def locked_versions() -> dict[str, set[str]]:
    """Every package of uv.lock and its versions (one per Python range where the lock forks;
    read without tomllib, which Python 3.10 lacks)."""
    versions: dict[str, set[str]] = {}
    pattern = r'^\[\[package\]\]\nname = "([^"]+)"\nversion = "([^"]+)"'
    for name, version in re.findall(pattern, LOCK.read_text("utf-8"), flags=re.M):
        versions.setdefault(name, set()).add(version)
    return versions


def test_the_lock_matches_pyproject() -> None:
    assert UV.exists(), "uv is not installed: run scripts/setup.sh"
    checked = subprocess.run(
        [str(UV), "lock", "--check", "--offline"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr[-2000:]


def test_the_environment_holds_the_locked_versions() -> None:
    locked = locked_versions()
    tools = ["ruff", "mypy", "pytest", "pytest-timeout", "duckdb", "singer-sdk", "requests",
             "msgspec", "pendulum", "pip", "pre-commit"]  # fmt: skip
    for name in tools:
        assert name in locked, f"{name} is not in uv.lock"
        assert importlib.metadata.version(name) in locked[name], name


def test_setup_installs_the_lock_exactly() -> None:
    script = (ROOT / "scripts" / "setup.sh").read_text("utf-8")
    assert re.search(r"uv sync --locked --all-groups\b", script)
    assert re.search(r'pip install "uv==\$UV_VERSION"', script)
    assert "pip install -e" not in script, "the environment comes from the lock alone"


def workflow(name: str) -> dict[t.Any, t.Any]:
    path = ROOT / ".github" / "workflows" / name
    return t.cast(dict[t.Any, t.Any], yaml.safe_load(path.read_text("utf-8")))


def test_ci_has_lint_unit_and_end_to_end_jobs_each_from_the_lock() -> None:
    jobs = workflow("ci.yml")["jobs"]
    assert set(jobs) == {"lint", "test", "e2e"}
    for name, job in jobs.items():
        script = "\n".join(step.get("run", "") for step in job["steps"])
        assert "scripts/setup.sh" in script or "scripts/test.sh" in script, name
        assert job["timeout-minutes"] <= 90, name
        checkout = job["steps"][0]
        assert checkout["uses"].startswith("actions/checkout@"), name
        assert checkout["with"]["persist-credentials"] is False, name
    lint = "\n".join(step.get("run", "") for step in jobs["lint"]["steps"])
    for command in ("ruff check .", "ruff format --check .", "mypy --strict tap_helpdesk"):
        assert command in lint
    assert 'pytest -m "not e2e"' in "\n".join(s.get("run", "") for s in jobs["test"]["steps"])
    assert "-m e2e" in "\n".join(s.get("run", "") for s in jobs["e2e"]["steps"])


def test_pre_commit_runs_the_locked_ruff() -> None:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text("utf-8"))
    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}
    assert hooks["ruff-check"]["entry"].startswith(".venv/bin/ruff check")
    assert hooks["ruff-format"]["entry"].startswith(".venv/bin/ruff format")
    assert hooks["uv-lock"]["entry"] == ".tools/uv/bin/uv lock --check"
    for wanted in ("check-meltano", "check-github-workflows", "codespell"):
        assert wanted in hooks, wanted


def test_a_warning_fails_the_test_that_raises_it() -> None:
    # pyproject.toml's filterwarnings starts with "error": warn() raises instead of logging
    with pytest.raises(DeprecationWarning, match="a deprecated call"):
        warnings.warn("a deprecated call", DeprecationWarning, stacklevel=1)


def test_only_the_sdks_python_end_of_life_notice_is_ignored() -> None:
    with warnings.catch_warnings(record=True) as seen:
        warnings.warn(
            "Python 3.10 reached its end of life", SingerSDKPythonEOLWarning, stacklevel=1
        )
    assert seen == [], "ignored, not recorded"
    with pytest.raises(UserWarning):
        warnings.warn("Python 3.10 reached its end of life", UserWarning, stacklevel=1)
