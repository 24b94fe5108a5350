"""Hashes of every stage's output in a GOOSE_HOME: a refactoring must leave them unchanged.

Each warehouse table is hashed with its rows in a stable order (sorted by every column, the
id first), leaving out the columns that hold the time of the run (`ingested_at`, `at`,
`created_at`); quarantine is hashed per stage. Every file under `exports/` is hashed as
bytes, and so is every file under `reports/` (the gallery and the quality report). Nothing here imports goose_assets, so the same script reads a warehouse written by
any version of the package.

    python -m bench.stage_hashes <GOOSE_HOME> [--json out.json] [--compare before.json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import duckdb

TIME_COLUMNS = {"ingested_at", "at", "created_at"}


def _rows_digest(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[int, str]:
    digest = hashlib.sha256()
    n = 0
    for row in con.execute(sql).fetchall():
        digest.update(json.dumps(row, default=str, ensure_ascii=False).encode())
        digest.update(b"\n")
        n += 1
    return n, digest.hexdigest()[:16]


def table_hashes(warehouse: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() ORDER BY 1"
        ).fetchall()]
        for table in tables:
            cols = [r[0] for r in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
                "AND table_name = ? ORDER BY column_index", [table],
            ).fetchall() if r[0] not in TIME_COLUMNS]
            select = ", ".join(f'"{c}"' for c in cols)
            order = ", ".join(str(i + 1) for i in range(len(cols)))
            if table == "quarantine":
                for (stage,) in con.execute("SELECT DISTINCT stage FROM quarantine ORDER BY 1").fetchall():
                    n, h = _rows_digest(con, f"SELECT {select} FROM quarantine WHERE stage = '{stage}' ORDER BY {order}")
                    out[f"table quarantine[{stage}]"] = f"{n} rows {h}"
                continue
            n, h = _rows_digest(con, f"SELECT {select} FROM {table} ORDER BY {order}")
            out[f"table {table}"] = f"{n} rows {h}"
    finally:
        con.close()
    return out


def file_hashes(root: Path, label: str) -> dict[str, str]:
    return {
        f"{label} {p.relative_to(root)}": hashlib.sha256(p.read_bytes()).hexdigest()[:16]
        for p in sorted(root.rglob("*")) if p.is_file()
    }


def stage_hashes(home: Path) -> dict[str, str]:
    return {
        **table_hashes(home / "warehouse.duckdb"),
        **file_hashes(home / "exports", "export"),
        **file_hashes(home / "reports", "report"),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("home", type=Path)
    ap.add_argument("--json", type=Path, help="write the hashes here")
    ap.add_argument("--compare", type=Path, help="a --json file of an earlier run: exit 1 on any difference")
    args = ap.parse_args(argv)
    hashes = stage_hashes(args.home)
    for key, value in hashes.items():
        print(f"{key}: {value}")
    if args.json:
        args.json.write_text(json.dumps(hashes, indent=1, sort_keys=True) + "\n")
    if args.compare:
        before = json.loads(args.compare.read_text())
        diff = sorted(k for k in before.keys() | hashes.keys() if before.get(k) != hashes.get(k))
        for k in diff:
            print(f"DIFFERS {k}: {before.get(k)} -> {hashes.get(k)}")
        print(f"{len(hashes) - len(diff)} of {len(before.keys() | hashes.keys())} equal")
        return 1 if diff else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
