#!/usr/bin/env bash
# The whole test suite on a fresh machine: install (scripts/setup.sh), start a throwaway
# PostgreSQL server (scripts/postgres.sh: installed from Debian packages if missing, on
# 127.0.0.1 only, stopped at the end), then lint, types, the generated plugin definitions,
# pytest (unit, provider, SDK standard and end-to-end tests against the local sandbox with
# the real meltano CLI, real targets, real PostgreSQL and dbt), and the README's settings
# table against `tap-helpdesk --about --format=markdown`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/setup.sh

echo "== PostgreSQL for the end-to-end tests"
PG_ENV="$(bash scripts/postgres.sh start)"  # fails the script if it fails
eval "$PG_ENV"
trap 'bash scripts/postgres.sh stop' EXIT

echo "== ruff"
# one command per line: under `set -e` a failing command before `&&` would not stop the script
ruff check .
ruff format --check .
echo "== mypy";  mypy && mypy --strict tap_helpdesk
echo "== meltano plugin definitions (project and Hub) are in sync with the tap"
python scripts/plugin_definition.py --check
echo "== pytest"; python -m pytest "$@"
echo "== README settings table is tap-helpdesk --about --format=markdown"
python scripts/readme_settings.py --check
