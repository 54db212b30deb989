"""The README as a user follows it: its Meltano commands run as written, the sandbox prints
the settings that reach it, and the dbt seeds load without warnings.

The end-to-end test takes the shell blocks of the README's "Install and configure with
Meltano" section and runs them, in order, in one fresh `meltano init` project, against a
`python -m sandbox` process whose printed settings replace the README's example URL and
token. The tap is installed the way a user installs a release: `pip_url: tap-helpdesk`
resolved by pip, here from a wheel built in the test (PIP_FIND_LINKS), as it is not on PyPI
yet. The loader comes from a stand-in Meltano Hub (MELTANO_HUB_URL): this machine cannot
reach hub.meltano.com.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shlex
import subprocess
import sys
import threading
import time
import typing as t
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import yaml

from sandbox import MODULES, tap_settings
from tap_helpdesk.providers import PROVIDERS
from tests.e2e_meltano import MELTANO, ROOT

README = ROOT / "README.md"
INSTALL_SECTION = "## Install and configure with Meltano"
#: where the README tells users to fetch the Hub definition from (a release tag's copy)
HUB_FILE_URL = re.compile(
    r"https://raw\.githubusercontent\.com/[\w.-]+/[\w.-]+/v(?P<version>[\w.]+)/"
    r"meltano/hub/tap-helpdesk\.yml"
)
#: the README's example values, replaced by what the sandbox prints
EXAMPLE_ENNEO_URL = "https://acme.enneo.ai"
TOKEN_VARIABLE = "ENNEO_API_TOKEN"


# -- the README ------------------------------------------------------------------------------


def section(title: str) -> str:
    """The README's text from the heading `title` to the next heading of its level."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n{title}\n")
    level = title.split(" ", maxsplit=1)[0]
    end = text.find(f"\n{level} ", start + len(title) + 2)
    return text[start : end if end >= 0 else len(text)]


def blocks(text: str, language: str = "bash") -> list[str]:
    """The fenced code blocks of one language, in order."""
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def commands(block: str) -> list[str]:
    """A block's commands, comments dropped."""
    lines = (line.split("  #")[0].strip() for line in block.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def pyproject_version() -> str:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    found = re.search(r'^version = "([^"]+)"', text, flags=re.M)
    assert found
    return found.group(1)


def test_readme_keeps_two_setup_commands_at_its_top() -> None:
    first = blocks(README.read_text(encoding="utf-8"))[0]
    assert [c.split()[:2] for c in commands(first)] == [
        ["bash", "scripts/demo.sh"],
        ["bash", "scripts/test.sh"],
    ]


def test_readme_meltano_commands_use_meltano_4_syntax() -> None:
    lines = [c for block in blocks(section(INSTALL_SECTION)) for c in commands(block)]
    meltano = [shlex.split(c) for c in lines if c.startswith("meltano ")]
    assert len(meltano) >= 6, meltano
    for words in meltano:
        if words[1:3] == ["config", "set"]:
            # `meltano config set PLUGIN SETTING VALUE`: without a value Meltano 4.4.1 fails
            assert len(words) == 6, words
            assert words[3] == "tap-helpdesk", words
        if words[1] == "add":
            # `meltano add extractor NAME --from-ref` adds a utility as well in Meltano 4.4.1
            assert "--plugin-type" in words, words
    assert not re.search(r"meltano config tap-helpdesk", README.read_text(encoding="utf-8"))


def test_readme_names_the_current_release() -> None:
    text = section(INSTALL_SECTION)
    refs = HUB_FILE_URL.findall(text)
    assert refs, "the README gives the Hub definition's URL"
    assert set(refs) == {pyproject_version()}
    pins = re.findall(r"pip_url: tap-helpdesk==([\w.]+)", text)
    assert pins == [pyproject_version()], "the pinning example names the current release"


def test_seed_column_types_name_only_their_own_columns() -> None:
    """A column type for a column a seed lacks makes dbt's agate print a warning per seed."""
    project = yaml.safe_load((ROOT / "transform" / "dbt_project.yml").read_text("utf-8"))
    seeds = project["seeds"]["helpdesk"]
    assert "+column_types" not in seeds, "shared column types name columns other seeds lack"
    csvs = sorted((ROOT / "transform" / "seeds").glob("*.csv"))
    assert csvs
    for path in csvs:
        header = path.read_text(encoding="utf-8").splitlines()[0].split(",")
        assert set(seeds[path.stem]["+column_types"]) == set(header), path.name


# -- the sandbox as a try-it tool -------------------------------------------------------------


@dataclass
class SandboxProcess:
    """`python -m sandbox` in its own process, and what it printed."""

    process: subprocess.Popen[str]
    lines: queue.Queue[str] = field(default_factory=queue.Queue)
    url: str = ""
    set_lines: dict[str, list[str]] = field(default_factory=dict)
    configs: dict[str, dict[str, t.Any]] = field(default_factory=dict)

    def truth(self) -> dict[str, t.Any]:
        return t.cast(
            dict[str, t.Any], requests.get(f"{self.url}/_sandbox/truth", timeout=10).json()
        )

    def read_line(self, deadline: float) -> str:
        try:
            line = self.lines.get(timeout=max(deadline - time.monotonic(), 0))
        except queue.Empty:
            raise AssertionError("the sandbox printed nothing in time") from None
        assert line, f"the sandbox ended ({self.process.poll()})"
        return line.rstrip("\n")

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put("")


@contextlib.contextmanager
def sandbox_process(*args: str, providers: t.Sequence[str]) -> t.Iterator[SandboxProcess]:
    """Start the sandbox CLI on a free port; read its printout up to the last JSON config."""
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--port", "0", "--providers", ",".join(providers),
         *args],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    started = SandboxProcess(process)
    pump = threading.Thread(target=started._pump, daemon=True)
    pump.start()
    try:
        deadline = time.monotonic() + 120
        first = started.read_line(deadline)
        assert first.startswith("sandbox listening on http://127.0.0.1:"), first
        started.url = first.rsplit(" ", 1)[1]
        provider = ""
        while len(started.configs) < len(providers):
            line = started.read_line(deadline).strip()
            if line.endswith(":") and line[:-1] in providers:
                provider = line[:-1]
                started.set_lines[provider] = []
            elif provider and line.startswith("meltano config set "):
                started.set_lines[provider].append(line)
            elif provider and line.startswith("JSON config: "):
                started.configs[provider] = json.loads(line.removeprefix("JSON config: "))
            elif line.startswith("meltano config set tap-helpdesk start_date "):
                started.set_lines.setdefault("", []).append(line)
        yield started
    finally:
        process.terminate()
        process.wait(timeout=30)
        pump.join(timeout=10)  # it ends at the pipe's end: then the pipe can be closed
        assert process.stdout is not None
        process.stdout.close()  # an open pipe left to the collector is a ResourceWarning


def test_sandbox_prints_the_settings_that_reach_it(tmp_path: Path) -> None:
    providers = ("enneo", "teamwork_desk")
    with sandbox_process("--size", "enneo=30", "--size", "teamwork_desk=20",
                         providers=providers) as sandbox:  # fmt: skip
        assert sandbox.set_lines[""] == [
            "meltano config set tap-helpdesk start_date 2024-01-01T00:00:00Z"
        ]
        for key in providers:
            wanted = tap_settings(key, sandbox.url)
            assert sandbox.set_lines[key] == [
                f"meltano config set tap-helpdesk {key}.{name} {shlex.quote(str(value))}"
                for name, value in wanted.items()
            ]
            assert sandbox.configs[key] == {"start_date": "2024-01-01T00:00:00Z", key: wanted}
        # the printed JSON config is one a user can run the tap with, as printed
        truth = sandbox.truth()
        for key in providers:
            config = tmp_path / f"{key}.json"
            config.write_text(json.dumps(sandbox.configs[key]), encoding="utf-8")
            synced = subprocess.run(
                [str(ROOT / ".venv" / "bin" / "tap-helpdesk"), "--config", str(config)],
                capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path,
            )  # fmt: skip
            assert synced.returncode == 0, synced.stderr[-2000:]
            assert "Traceback" not in synced.stderr
            counts: dict[str, int] = {}
            for line in synced.stdout.splitlines():
                message = json.loads(line)
                if message["type"] == "RECORD":
                    counts[message["stream"]] = counts.get(message["stream"], 0) + 1
            streams = {s.name for s in PROVIDERS[key].stream_types}
            assert counts == {name: truth[name]["count"] for name in streams if name in truth}
            for secret in MODULES[key].SECRETS:
                assert secret not in synced.stderr, "a sandbox credential leaked"


def test_sandbox_help_documents_its_knobs() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "sandbox", "--help"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    knobs = ["--size", "--providers", "--seed", "--fault-rate", "--fault-kinds",
             "--mutate-every", "--no-rate-limits", "--latency", "--latency-jitter",
             "--provider-latency", "--export-latency"]  # fmt: skip
    for knob in knobs:
        assert re.search(rf"^\s+{knob}\b.*\S", shown, flags=re.M), f"--help lacks {knob}"
    assert "meltano config set" in shown, "--help says what it prints"


# -- the README's Meltano recipe, end to end --------------------------------------------------

#: target-jsonl as the Meltano Hub serves it (github.com/meltano/hub
#: _data/meltano/loaders/target-jsonl/andyh1203.yml, the default variant), condensed
TARGET_JSONL = {
    "name": "target-jsonl",
    "namespace": "target_jsonl",
    "variant": "andyh1203",
    "label": "JSON Lines (JSONL)",
    "pip_url": "target-jsonl",
    "repo": "https://github.com/andyh1203/target-jsonl",
    "settings": [
        {"name": "destination_path", "kind": "string", "value": "output"},
        {"name": "do_timestamp_file", "kind": "boolean", "value": False},
        {"name": "custom_name", "kind": "string"},
    ],
}


@contextlib.contextmanager
def stand_in_hub() -> t.Iterator[str]:
    """A Meltano Hub API serving target-jsonl; yields the `hub_url` to point Meltano at."""
    answers: dict[str, t.Any] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = answers.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(json.dumps(body or {}).encode())

        def log_message(self, *args: t.Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    api = "/meltano/api/v1/plugins/loaders"
    answers[f"{api}/index"] = {
        "target-jsonl": {
            "logo_url": None,
            "default_variant": "andyh1203",
            "variants": {"andyh1203": {"ref": f"{base}{api}/target-jsonl--andyh1203"}},
        }
    }
    answers[f"{api}/target-jsonl--andyh1203"] = TARGET_JSONL
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base
    finally:
        server.shutdown()
        server.server_close()


def build_wheel(directory: Path) -> Path:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(directory), str(ROOT)],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    return next(directory.glob("tap_helpdesk-*.whl"))


def user_environment(hub_url: str, wheels: Path, token: str) -> dict[str, str]:
    """A user's shell: none of this repository's Meltano or tap variables."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("MELTANO_", "TAP_HELPDESK_", "TARGET_", "DBT_", "VIRTUAL_ENV"))
    }
    env.update(
        PATH=f"{MELTANO.parent}:/usr/local/bin:/usr/bin:/bin",
        MELTANO_HUB_URL=hub_url,
        MELTANO_SEND_ANONYMOUS_USAGE_STATS="false",
        # the release, where pip and uv (Meltano's default installer) look for packages
        PIP_FIND_LINKS=" ".join(filter(None, [str(wheels), os.environ.get("PIP_FIND_LINKS")])),
        UV_FIND_LINKS=",".join(filter(None, [str(wheels), os.environ.get("UV_FIND_LINKS")])),
        NO_COLOR="1",
    )
    env[TOKEN_VARIABLE] = token
    return env


def run_shell(script: str, cwd: Path, env: dict[str, str]) -> str:
    completed = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, (
        f"{script}\nfailed ({completed.returncode}):\n{output[-3000:]}"
    )
    return output


def installed_tap(project: Path) -> dict[str, t.Any]:
    """Version, origin and location of the tap in the extractor's virtual environment."""
    python = project / ".meltano" / "extractors" / "tap-helpdesk" / "venv" / "bin" / "python"
    probe = (
        "import importlib.metadata as m, json, tap_helpdesk; d = m.distribution('tap-helpdesk'); "
        "print(json.dumps({'version': d.version, 'direct_url': d.read_text('direct_url.json'), "
        "'file': tap_helpdesk.__file__}))"
    )
    shown = subprocess.run(
        [str(python), "-c", probe], capture_output=True, text=True, timeout=60, check=True,
        cwd=project,
    )  # fmt: skip
    return t.cast(dict[str, t.Any], json.loads(shown.stdout))


@pytest.mark.e2e
def test_readme_meltano_recipe_runs_as_written(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "wheels")
    shell_blocks = blocks(section(INSTALL_SECTION))
    recipe = [b for b in shell_blocks if "meltano " in b and "python -m sandbox" not in b]
    assert len(recipe) == 2, "install, then configure and run"
    with stand_in_hub() as hub_url, sandbox_process("--size", "enneo=60",
                                                    providers=["enneo"]) as sandbox:  # fmt: skip
        settings = sandbox.configs["enneo"]["enneo"]
        env = user_environment(hub_url, wheel.parent, settings["api_token"])
        run_shell("meltano init project", tmp_path, env)
        project = tmp_path / "project"
        outputs = []
        hub_file = str(ROOT / "meltano" / "hub" / "tap-helpdesk.yml")
        outputs.append(run_shell(HUB_FILE_URL.sub(hub_file, recipe[0]), project, env))
        # the sandbox's own printed lines reach it, as printed
        printed = "\n".join([*sandbox.set_lines[""], *sandbox.set_lines["enneo"]])
        outputs.append(run_shell(f"{printed}\nmeltano config test tap-helpdesk", project, env))
        configure = recipe[1].replace(EXAMPLE_ENNEO_URL, sandbox.url)
        assert configure != recipe[1], "the README's example URL is the one replaced"
        assert f'"${TOKEN_VARIABLE}"' in configure, "the token comes from the variable"
        outputs.append(run_shell(configure, project, env))
        truth = sandbox.truth()

    definition = yaml.safe_load((project / "meltano.yml").read_text(encoding="utf-8"))
    assert set(definition["plugins"]) == {"extractors", "loaders"}, "no utility was added"
    (extractor,) = definition["plugins"]["extractors"]
    assert (extractor["name"], extractor["pip_url"]) == ("tap-helpdesk", "tap-helpdesk")
    assert extractor["config"]["enneo"]["api_url"] == sandbox.url
    # the secret is in .env, never in meltano.yml nor in any command's output
    token = settings["api_token"]
    assert token not in (project / "meltano.yml").read_text(encoding="utf-8")
    assert f"TAP_HELPDESK_ENNEO_API_TOKEN='{token}'" in (project / ".env").read_text("utf-8")
    for output in outputs:
        assert token not in output
        assert "Traceback" not in output
    # installed as a release: the built wheel's version, by pip from an index, not the tree
    tap = installed_tap(project)
    assert tap["version"] == pyproject_version()
    assert tap["direct_url"] is None, "resolved by name, not installed from a path or URL"
    assert tap["file"].startswith(str(project)), tap["file"]
    # every record of every Enneo stream reached the loader's files
    streams = [s for s in PROVIDERS["enneo"].stream_types if s.name in truth]
    assert {"enneo_tickets", "enneo_reporting_tickets"} <= {s.name for s in streams}
    for stream in streams:
        path = project / "output" / f"{stream.name}.jsonl"
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        keys = {tuple(row[k] for k in stream.primary_keys) for row in rows}
        assert len(rows) == len(keys) == truth[stream.name]["count"], stream.name
