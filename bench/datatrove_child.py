"""datatrove's MinHash near-dedup (4 stages) and n-gram decontamination on a docs folder.
Runs in bench/.venv-peer (goose_assets is not importable there). Prints one JSON line.

    python bench/datatrove_child.py minhash WORKDIR
    python bench/datatrove_child.py decont WORKDIR

WORKDIR holds input/*.jsonl ({id, text}, one file per task) and, for decont,
benchmarks.jsonl ({question, answer, choices?}). datatrove's indexer needs lighteval and the
Hub, so the index is built here by hand with the indexer's own hashing (compute_hashes):
question n-grams included (find_query_ngrams), n = 13 as in this project.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import shutil
import sys
import time
from pathlib import Path
from typing import Any

WORKERS = 2  # the machine has 2 cores; the peer figure used 2 workers


def _quiet() -> None:
    os.environ.setdefault("DATATROVE_COLORIZE_LOGS", "0")
    from loguru import logger

    logger.remove()
    logging.disable(logging.WARNING)


def _removed_ids(folder: Path) -> set[str]:
    import gzip

    ids: set[str] = set()
    for f in folder.rglob("*.jsonl*"):
        opener = gzip.open if f.suffix == ".gz" else open
        with opener(f, "rt", encoding="utf-8") as fh:
            ids.update(json.loads(line)["id"] for line in fh if line.strip())
    return ids


def _clustered_ids(folder: Path) -> set[str]:
    """Ids of documents that belong to a duplicate cluster (cluster id set and not -1)."""
    ids: set[str] = set()
    for f in folder.rglob("*.jsonl*"):
        with open(f, encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    d = json.loads(line)
                    if d.get("metadata", {}).get("minhash_cluster_id", -1) not in (-1, None):
                        ids.add(d["id"])
    return ids


def minhash(work: Path) -> dict[str, Any]:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import (
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.dedup.minhash import MinhashConfig
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    out = work / "datatrove-minhash"
    shutil.rmtree(out, ignore_errors=True)
    n_files = len(list((work / "input").glob("*.jsonl")))
    config = MinhashConfig(n_grams=5, num_buckets=14, hashes_per_bucket=8)  # the peer figure's setting

    def reader() -> Any:
        return JsonlReader(str(work / "input"), id_key="id", text_key="text", compression=None)

    stages = [
        ([reader(), MinhashDedupSignature(str(out / "sigs"), config=config)], n_files),
        ([MinhashDedupBuckets(str(out / "sigs"), str(out / "buckets"), config=config)], config.num_buckets),
        ([MinhashDedupCluster(str(out / "buckets"), str(out / "remove"), config=config, save_cluster_id=True)], 1),
        # kept documents are written too, with their cluster id: who duplicates whom, not only who goes
        ([reader(), MinhashDedupFilter(str(out / "remove"), load_cluster_ids=True,
                                       exclusion_writer=JsonlWriter(str(out / "removed"), compression=None)),
          JsonlWriter(str(out / "kept"), compression=None)], n_files),
    ]
    times = []
    start = time.perf_counter()
    for i, (pipeline, tasks) in enumerate(stages):
        t = time.perf_counter()
        LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=min(WORKERS, tasks),
                              logging_dir=str(out / f"logs{i}"), skip_completed=False).run()
        times.append(round(time.perf_counter() - t, 3))
    wall = time.perf_counter() - start
    return {"tool": "datatrove", "seconds": round(wall, 3), "stage_seconds": times,
            "flagged": sorted(_removed_ids(out / "removed")),
            "involved": sorted(_clustered_ids(out / "removed") | _clustered_ids(out / "kept"))}


def decont(work: Path) -> dict[str, Any]:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.decont.n_grams import (
        NGramsDecontConfig,
        NGramsDecontFilter,
        NGramsDecontIndexer,
    )
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.utils.hashing import create_hash_func
    from datatrove.utils.word_tokenizers import load_word_tokenizer

    out = work / "datatrove-decont"
    shutil.rmtree(out, ignore_errors=True)
    (out / "index").mkdir(parents=True)
    config = NGramsDecontConfig(n_grams=13, find_query_ngrams=True)
    # the indexer's own hashing, without its lighteval/Hub loading (PipelineStep.__new__
    # refuses to build it without lighteval installed)
    indexer = object.__new__(NGramsDecontIndexer)
    indexer.config, indexer.tokenizer = config, load_word_tokenizer("en")
    indexer.hash_func = create_hash_func(config.hash_config)
    import numpy as np

    t = time.perf_counter()
    by_bench: dict[str, set[int]] = {}
    with open(work / "benchmarks.jsonl", encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            label = r.get("answer") or ""
            if r.get("choices"):
                label = (label + "\n" + "\n".join(map(str, r["choices"]))).strip()
            by_bench.setdefault(r["benchmark"], set()).update(indexer.compute_hashes(label or r["question"], r["question"]))
    for name, hashes in by_bench.items():
        np.array(sorted(hashes), dtype=config.hash_config.np_descr).tofile(out / "index" / f"{name}.index.hashes")
    index_s = time.perf_counter() - t
    n_files = len(list((work / "input").glob("*.jsonl")))
    t = time.perf_counter()
    LocalPipelineExecutor(
        pipeline=[JsonlReader(str(work / "input"), id_key="id", text_key="text", compression=None),
                  NGramsDecontFilter(str(out / "index"), config=config,
                                     exclusion_writer=JsonlWriter(str(out / "removed"), compression=None))],
        tasks=n_files, workers=min(WORKERS, n_files), logging_dir=str(out / "logs"), skip_completed=False,
    ).run()
    return {"tool": "datatrove", "seconds": round(time.perf_counter() - t, 3), "index_seconds": round(index_s, 3),
            "flagged": sorted(_removed_ids(out / "removed"))}


def main() -> None:
    _quiet()
    mode, work = sys.argv[1], Path(sys.argv[2])
    result = (minhash if mode == "minhash" else decont)(work)
    result["peak_rss_mb_self"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    result["peak_rss_mb_largest_worker"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
