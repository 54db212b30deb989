#!/usr/bin/env bash
# The demo: install everything, start the local sandbox of the five helpdesk APIs, extract
# every stream into DuckDB and model it with dbt in one
# `meltano run tap-helpdesk target-duckdb dbt-duckdb:build`, then print the rows that
# landed per stream next to the sandbox's own counts, the unified helpdesk_tickets
# model's rows per provider and the support metrics per provider (helpdesk_ticket_metrics,
# helpdesk_daily). dbt's documentation site (models, columns, tests, lineage) is generated
# into output/dbt-docs: open output/dbt-docs/static_index.html in a browser.
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

echo "== meltano run tap-helpdesk target-duckdb dbt-duckdb:build (log: output/meltano-run.log)"
# --full-refresh: the sandbox starts from its seed each time, so start the demo from scratch
# too (a later plain `meltano run` resumes from the state this run leaves).
if ! meltano --environment=sandbox run --full-refresh \
    tap-helpdesk target-duckdb dbt-duckdb:build > output/meltano-run.log 2>&1; then
  tail -n 30 output/meltano-run.log
  exit 1
fi
grep -E "Done\. PASS=" output/meltano-run.log | sed -e 's/^.*Done\./dbt build:/' || true
if ! meltano --environment=sandbox invoke dbt-duckdb docs generate --static \
    --target-path "$ROOT/output/dbt-docs" > output/dbt-docs.log 2>&1; then
  tail -n 30 output/dbt-docs.log
  exit 1
fi
echo "dbt docs: output/dbt-docs/static_index.html (open it in a browser: lineage, models, tests)"
python scripts/show_counts.py --duckdb output/warehouse.duckdb --sandbox "http://127.0.0.1:$PORT" \
  --unified-schema analytics
