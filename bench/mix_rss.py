"""Peak RSS of `training_mix` at 100K-document scale, without a 100K pipeline run.

A full 100K run costs about an hour of CPU here, and `training_mix` is its memory peak
(BENCHMARKS.md §1). This measures that asset alone, on a warehouse of the right size:

1. `scale SRC_HOME DST_HOME --factor N`: copies the warehouse of a finished run (e.g. the
   1K bench corpus) and replicates the rows of every stage table N times, each copy with
   new ids (`<id>_r<k>` for doc, passage, item and task ids), so that the join, the
   sampling and the exports see N times the tasks. `training_mix` rows are dropped.
2. `measure HOME`: in this process, `dg.materialize` of the mix assets for the four domains
   in turn (what `goose run` and bench.pipeline_run do after the upstream stages), on an
   ephemeral instance; prints one JSON line with the peak RSS (`ru_maxrss`) and the RSS
   after each domain.

    python -m bench.mix_rss scale /tmp/home-1k /tmp/home-100k --factor 100
    python -m bench.mix_rss measure /tmp/home-100k

Nothing else runs in the measuring process, so its peak is the mix's own plus the
interpreter and the imported libraries; a whole-pipeline run adds what the earlier stages
left behind (~550-650 MB at 100K).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import duckdb

from bench.common import DOMAINS, peak_rss_mb

ID_COLUMNS = ("doc_id", "passage_id", "item_id", "task_id", "source_id")
STAGE_TABLES = (
    "raw_documents", "extracted_passages", "masked_items", "mcq_tasks", "task_difficulty",
    "filtered_tasks", "quarantine",
)


def scale(src_home: Path, dst_home: Path, factor: int) -> dict[str, int]:
    dst_home.mkdir(parents=True, exist_ok=True)
    dst = dst_home / "warehouse.duckdb"
    shutil.copyfile(src_home / "warehouse.duckdb", dst)
    counts: dict[str, int] = {}
    con = duckdb.connect(str(dst))
    try:
        con.execute("DELETE FROM training_mix")
        for table in STAGE_TABLES:
            columns = [r[0] for r in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE table_name = ? ORDER BY column_index", [table]
            ).fetchall()]
            ids = [c for c in columns if c in ID_COLUMNS or (table == "quarantine" and c == "ref_id")]
            replace = ", ".join(f"{c} || '_r' || k AS {c}" for c in ids)
            con.execute(f"CREATE TEMP TABLE original AS SELECT * FROM {table}")
            con.execute(
                f"INSERT INTO {table} SELECT * EXCLUDE (k) REPLACE ({replace}) "
                f"FROM original, range(1, {factor}) AS r(k)"
            )
            con.execute("DROP TABLE original")
            counts[table] = int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return counts


def _definitions() -> tuple[list[Any], list[Any], dict[str, Any]]:
    """The assets and default resources, from whichever layout this checkout has."""
    try:
        from goose_assets.defs.resources import CorpusResource, LLMResource, WarehouseResource
    except ImportError:  # the layout before issue 18
        from goose_assets.resources import CorpusResource, LLMResource, WarehouseResource  # type: ignore[no-redef]
    from goose_assets.definitions import ALL_ASSETS, MIX_ASSETS

    return list(ALL_ASSETS), list(MIX_ASSETS), {
        "warehouse": WarehouseResource, "corpus": CorpusResource, "llm": LLMResource,
    }


def measure(home: Path) -> dict[str, Any]:
    import dagster as dg

    warnings.filterwarnings("ignore")
    logging.getLogger("dagster").setLevel(logging.ERROR)
    all_assets, mix_assets, resource_types = _definitions()
    resources = {
        "warehouse": resource_types["warehouse"](home=str(home)),
        # no corpus: the mix's "why is a domain empty" look-up never needs one here
        "corpus": resource_types["corpus"](),
        "llm": resource_types["llm"](),
    }
    instance = dg.DagsterInstance.ephemeral()
    start = time.perf_counter()
    after: dict[str, float] = {}
    for domain in DOMAINS:
        result = dg.materialize(
            all_assets, selection=mix_assets, partition_key=domain, resources=resources, instance=instance,
        )
        assert result.success, f"training_mix {domain} failed"
        after[domain] = round(peak_rss_mb(), 1)
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    mix_rows = int(con.execute("SELECT count(*) FROM training_mix").fetchone()[0])
    con.close()
    return {
        "peak_rss_mb": round(peak_rss_mb(), 1), "peak_rss_mb_after_domain": after,
        "mix_rows": mix_rows, "wall_s": round(time.perf_counter() - start, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("scale")
    s.add_argument("src_home", type=Path)
    s.add_argument("dst_home", type=Path)
    s.add_argument("--factor", type=int, default=100)
    m = sub.add_parser("measure")
    m.add_argument("home", type=Path)
    args = ap.parse_args(argv)
    if args.command == "scale":
        print(json.dumps(scale(args.src_home, args.dst_home, args.factor)))
    else:
        print(json.dumps(measure(args.home)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
