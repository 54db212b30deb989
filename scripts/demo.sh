#!/usr/bin/env bash
# The demo: install everything, start the local sandbox of the five helpdesk APIs, extract
# every stream into DuckDB with `meltano run tap-helpdesk target-duckdb`, then print the
# rows that landed per stream next to the sandbox's own counts.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/setup.sh

PORT=8765  # the sandbox environment in meltano.yml points every provider here
rm -f output/warehouse.duckdb output/warehouse.duckdb.wal
python -m sandbox --port "$PORT" > output/sandbox.log 2>&1 &
SANDBOX_PID=$!
trap 'kill $SANDBOX_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do
  grep -q "listening" output/sandbox.log 2>/dev/null && break
  kill -0 "$SANDBOX_PID" 2>/dev/null || { cat output/sandbox.log; exit 1; }
  sleep 0.2
done

echo "== meltano run tap-helpdesk target-duckdb (log: output/meltano-run.log)"
# --full-refresh: the sandbox starts from its seed each time, so start the demo from scratch
# too (a later plain `meltano run` resumes from the state this run leaves).
if ! meltano --environment=sandbox run --full-refresh tap-helpdesk target-duckdb \
    > output/meltano-run.log 2>&1; then
  tail -n 30 output/meltano-run.log
  exit 1
fi
python scripts/show_counts.py --duckdb output/warehouse.duckdb --sandbox "http://127.0.0.1:$PORT"
