#!/usr/bin/env bash
# The whole test suite on a fresh machine: install (scripts/setup.sh), then lint, types,
# the generated plugin definition, and pytest (unit, provider, SDK standard and end-to-end
# tests against the local sandbox with the real meltano CLI and real targets).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/setup.sh

echo "== ruff";  ruff check . && ruff format --check .
echo "== mypy";  mypy
echo "== meltano plugin definition is in sync with the tap"; python scripts/plugin_definition.py --check
echo "== pytest"; python -m pytest "$@"
