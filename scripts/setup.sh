#!/usr/bin/env bash
# Install what the demo and the tests need, idempotently, on a fresh machine:
#   .tools/uv        uv, from PyPI, at the version below
#   .venv            the tap (editable), the sandbox and the test and lint tools: exactly
#                    what uv.lock pins (pyproject.toml's dependency groups; `uv lock` after
#                    changing them)
#   .tools/meltano   the Meltano CLI, in its own environment (its pins are its own)
#   .meltano/        the project's plugins (meltano install, pinned in meltano.yml)
# Source it: it exports PATH and Meltano's environment for the caller.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
UV_VERSION=0.13.9

quiet_pip() { "$@" --disable-pip-version-check -q 2>&1 | grep -v "^WARNING: Location" || true; }

if [ ! -x .tools/uv/bin/python ]; then
  "$PYTHON" -m venv .tools/uv
fi
if [ "$(.tools/uv/bin/uv --version 2>/dev/null | cut -d' ' -f2)" != "$UV_VERSION" ]; then
  quiet_pip .tools/uv/bin/pip install "uv==$UV_VERSION"
fi
# --locked: fail, not re-resolve, when pyproject.toml and uv.lock disagree; every group;
# the interpreter is $PYTHON (uv would otherwise download one of its own)
UV_PYTHON_DOWNLOADS=never .tools/uv/bin/uv sync --locked --all-groups --python "$PYTHON" -q
.venv/bin/python -c "import tap_helpdesk, duckdb, pytest" >/dev/null

if [ ! -x .tools/meltano/bin/meltano ]; then
  "$PYTHON" -m venv .tools/meltano
fi
quiet_pip .tools/meltano/bin/pip install 'meltano==4.4.1'

export PATH="$ROOT/.venv/bin:$ROOT/.tools/meltano/bin:$PATH"
export MELTANO_SEND_ANONYMOUS_USAGE_STATS=false
export MELTANO_PROJECT_ROOT="$ROOT"
meltano install >/dev/null 2>&1 || meltano install
mkdir -p output
