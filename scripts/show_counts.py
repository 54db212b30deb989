"""Print rows per stream in a DuckDB file next to the sandbox's own counts; exit 1 on a gap.

python scripts/show_counts.py --duckdb output/warehouse.duckdb --sandbox http://127.0.0.1:8765
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request

import duckdb


def landed_counts(path: str, schema: str) -> dict[str, int]:
    """Rows per table in one schema of a DuckDB file."""
    with duckdb.connect(path, read_only=True) as connection:
        tables = connection.execute(
            "select table_name from information_schema.tables where table_schema = ? order by 1",
            [schema],
        ).fetchall()
        counts: dict[str, int] = {}
        for (name,) in tables:
            row = connection.execute(f'select count(*) from "{schema}"."{name}"').fetchone()
            counts[name] = int(row[0]) if row else 0
        return counts


def sandbox_counts(url: str) -> dict[str, int]:
    """What the sandbox holds, per stream."""
    with urllib.request.urlopen(f"{url}/_sandbox/truth", timeout=30) as response:
        truth = json.load(response)
    return {stream: facts["count"] for stream, facts in truth.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duckdb", required=True)
    parser.add_argument("--schema", default="helpdesk")
    parser.add_argument("--sandbox", required=True)
    args = parser.parse_args()
    landed = landed_counts(args.duckdb, args.schema)
    expected = sandbox_counts(args.sandbox)
    width = max(map(len, expected | landed))
    print(f"{'stream':<{width}}  {'duckdb':>8}  {'sandbox':>8}")
    gaps = 0
    for stream in sorted(expected | landed):
        got, want = landed.get(stream, 0), expected.get(stream)
        mark = "ok" if got == want else "MISMATCH"
        gaps += mark != "ok"
        print(f"{stream:<{width}}  {got:>8}  {want if want is not None else '-':>8}  {mark}")
    total = sum(landed.values())
    print(
        f"{total} rows in {len(landed)} tables; "
        + ("every stream matches the sandbox" if not gaps else f"{gaps} streams differ")
    )
    sys.exit(1 if gaps else 0)


if __name__ == "__main__":
    main()
