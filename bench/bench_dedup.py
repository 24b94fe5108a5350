"""Near-duplicate detection: goose_assets.core.filtering.dedup vs datasketch MinHashLSH (same data, same run).

Corpus (as in ../shared/reference/peer-measurements.md): the ~9.6K real docs of
../shared/corpora, copies of them with 30% of words substituted (not near duplicates of
anything) up to --n-docs, and --n-planted near duplicates of real docs with 1-6% of words
substituted. Recall is reported by exact word-5-gram Jaccard bin of each planted pair.
Each tool runs in its own subprocess so that peak RSS is its own.

    .venv/bin/python bench/bench_dedup.py --n-docs 100000
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

CORPORA = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpora"
DOMAINS = ("math", "code", "science", "cyber")
BINS = ((0.9, 1.01), (0.8, 0.9), (0.7, 0.8), (0.0, 0.7))


def build_corpus(n_docs: int, n_planted: int, seed: int = 0) -> tuple[list, list]:
    rng = random.Random(seed)
    real = []
    for domain in DOMAINS:
        with open(CORPORA / f"{domain}.jsonl", encoding="utf-8") as fh:
            real.extend((r["id"], domain, r["text"]) for r in map(json.loads, fh))
    vocab = sorted({w for _, _, t in real[:2000] for w in t.split()})

    def perturb(text: str, rate: float) -> str:
        toks = text.split(" ")
        for k in range(len(toks)):
            if rng.random() < rate:
                toks[k] = rng.choice(vocab)
        return " ".join(toks)

    docs = list(real)
    k = 0
    while len(docs) < n_docs - n_planted:
        doc_id, domain, text = real[k % len(real)]
        docs.append((f"copy{k:07d}:{doc_id}", domain, perturb(text, 0.30)))
        k += 1
    planted = []
    for p in range(n_planted):
        doc_id, domain, text = real[rng.randrange(len(real))]
        new_id = f"zz_planted{p:05d}"  # sorts after every original: originals are kept
        docs.append((new_id, domain, perturb(text, rng.uniform(0.01, 0.06))))
        planted.append((doc_id, new_id))
    return docs, planted


def run_goose(docs: list) -> tuple[set, float]:
    from goose_assets.core.filtering.dedup import near_duplicates

    t = time.perf_counter()
    res = near_duplicates(docs)
    dt = time.perf_counter() - t
    found = {(a, b) for a, b, _ in res.pairs}
    return found, dt


def run_datasketch(docs: list) -> tuple[set, float]:
    from datasketch import MinHash, MinHashLSH

    from goose_assets.core.text import words

    t = time.perf_counter()
    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    sigs = {}
    for doc_id, _, text in docs:
        ws = words(text)
        m = MinHash(num_perm=128)
        m.update_batch([" ".join(ws[i : i + 5]).encode() for i in range(max(1, len(ws) - 4))])
        lsh.insert(doc_id, m)
        sigs[doc_id] = m
    found = set()
    for doc_id in sigs:
        for other in lsh.query(sigs[doc_id]):
            if other < doc_id:
                found.add((other, doc_id))
    return found, time.perf_counter() - t


def child(tool: str, n_docs: int, n_planted: int) -> None:
    docs, planted = build_corpus(n_docs, n_planted)
    found, seconds = (run_goose if tool == "goose" else run_datasketch)(docs)
    from goose_assets.core.filtering.dedup import MinHasher, exact_jaccard

    hasher = MinHasher()
    text = {d[0]: d[2] for d in docs}
    per_bin = {f"{lo:.1f}-{hi:.1f}": [0, 0] for lo, hi in BINS}
    for orig, new in planted:
        sim = exact_jaccard(hasher.shingle_set(text[orig]), hasher.shingle_set(text[new]))
        for lo, hi in BINS:
            if lo <= sim < hi:
                cell = per_bin[f"{lo:.1f}-{hi:.1f}"]
                cell[0] += 1
                cell[1] += int((orig, new) in found)
    print(
        json.dumps(
            {
                "tool": tool,
                "n_docs": len(docs),
                "seconds": round(seconds, 2),
                "docs_per_s": round(len(docs) / seconds),
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
                "recall_by_jaccard_bin": {
                    k: {"n": n, "recall": round(f / n, 3) if n else None}
                    for k, (n, f) in per_bin.items()
                },
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-docs", type=int, default=100_000)
    ap.add_argument("--n-planted", type=int, default=2_000)
    ap.add_argument("--tools", default="goose,datasketch")
    ap.add_argument("--child", default="")
    args = ap.parse_args()
    if args.child:
        child(args.child, args.n_docs, args.n_planted)
        return
    for tool in args.tools.split(","):
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                tool,
                "--n-docs",
                str(args.n_docs),
                "--n-planted",
                str(args.n_planted),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        print(out.stdout.strip(), flush=True)


if __name__ == "__main__":
    main()
