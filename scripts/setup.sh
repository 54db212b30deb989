#!/usr/bin/env bash
# Install what the demo and the tests need, idempotently, on a fresh machine:
#   .venv            the tap (editable), the sandbox and test tools
#   .tools/meltano   the Meltano CLI, in its own environment (its pins are its own)
#   .meltano/        the project's plugins (meltano install)
# Source it: it exports PATH and Meltano's environment for the caller.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"

quiet_pip() { "$@" --disable-pip-version-check -q 2>&1 | grep -v "^WARNING: Location" || true; }

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
quiet_pip .venv/bin/pip install -e '.[dev]'
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
