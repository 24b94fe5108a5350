"""§5 MinHash near-dedup and 13-gram decontamination: this project against datatrove
(bench/.venv-peer) and datasketch's MinHashLSH, on the same documents in the same run.

Data (as in ../shared/reference/peer-measurements.md): the real docs of ../shared/corpora
plus perturbed variants (30% of words substituted: not near duplicates) up to --n-docs,
plus --n-planted near duplicates of real docs with 1-6% of words substituted. Recall is
reported per exact word-5-gram Jaccard bin of each planted pair. Each tool runs in its own
process (peak RSS is its own); flagged = the documents a tool would drop.

    python -m bench.dedup_decontam --n-docs 10000 --n-planted 200
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    BENCH,
    CORPORA,
    DATA,
    DOMAINS,
    PEER_VENV,
    md_table,
    peak_rss_mb,
    peer_python,
    run_json_child,
    write_result,
)
from bench.corpus import Perturber, _vocab, build, read_jsonl

BINS = ((0.9, 1.01), (0.8, 0.9), (0.7, 0.8), (0.0, 0.7))


def _bin(j: float) -> str:
    return next(f"{lo:.1f}-{min(hi, 1.0):.1f}" for lo, hi in BINS if lo <= j < hi)


def prepare(n_docs: int, n_planted: int, seed: int = 0) -> Path:
    """bench/.data/dedup-<n>-<planted>/: input/part-{0,1}.jsonl, planted.json, benchmarks.jsonl."""
    work = DATA / f"dedup-{n_docs}-{n_planted}"
    if (work / "planted.json").exists():  # written last: a finished folder
        return work
    corpus = build(n_docs - n_planted)
    # built in a temp folder and renamed into place, as bench.corpus.build: two runs at
    # once never write the same file, and a reader never sees half a folder
    final, work = work, Path(tempfile.mkdtemp(prefix=f".dedup-{n_docs}-{n_planted}.", dir=DATA))
    try:
        _write_work(work, corpus, n_planted, seed)
        if final.exists() and not (final / "planted.json").exists():
            shutil.rmtree(final, ignore_errors=True)  # a half-written folder of an interrupted older run
        try:
            work.rename(final)
        except OSError:
            if not (final / "planted.json").exists():
                raise
            # another run finished the same (seeded) folder first: use it
    finally:
        shutil.rmtree(work, ignore_errors=True)  # gone already when it was renamed into place
    return final


def _write_work(work: Path, corpus: Path, n_planted: int, seed: int) -> None:
    docs: list[tuple[str, str]] = []
    for d in DOMAINS:
        docs.extend((r["id"], r["text"]) for r in read_jsonl(corpus / f"{d}.jsonl"))
    real = [d for d in docs if "~v" not in d[0]]
    rng = random.Random(seed)
    planted = []
    vocab = _vocab([{"text": t} for _, t in real], "text")
    for p in range(n_planted):
        orig_id, text = real[rng.randrange(len(real))]
        near = Perturber(vocab, seed=seed * 7919 + p, rate=rng.uniform(0.01, 0.06))
        new_id = f"zz_planted{p:05d}"  # sorts after every original: the original is the one kept
        docs.append((new_id, near.words_only(text)))
        planted.append((orig_id, new_id))
    from goose_assets.core.filtering.dedup import MinHasher, exact_jaccard

    text = dict(docs)
    hasher = MinHasher()
    pairs = [(a, b, exact_jaccard(hasher.shingle_set(text[a]), hasher.shingle_set(text[b]))) for a, b in planted]
    (work / "input").mkdir(parents=True, exist_ok=True)
    half = (len(docs) + 1) // 2
    for i, chunk in enumerate((docs[:half], docs[half:])):
        with open(work / "input" / f"part-{i}.jsonl", "w", encoding="utf-8") as fh:
            for doc_id, t in chunk:
                fh.write(json.dumps({"id": doc_id, "text": t}, ensure_ascii=False) + "\n")
    with open(work / "benchmarks.jsonl", "w", encoding="utf-8") as fh:
        for f in sorted((CORPORA / "benchmarks").glob("*.jsonl")):
            for r in read_jsonl(f):
                fh.write(json.dumps({"benchmark": r.get("benchmark") or f.stem, "question": r.get("question") or "",
                                     "answer": str(r.get("answer") or ""), "choices": r.get("choices") or []}) + "\n")
    (work / "planted.json").write_text(json.dumps(pairs))


def load_docs(work: Path) -> list[tuple[str, str]]:
    return [(r["id"], r["text"]) for f in sorted((work / "input").glob("*.jsonl")) for r in read_jsonl(f)]


def _components(ids: list[str], pairs: list[tuple[str, str]]) -> set[str]:
    """Flagged ids from pairs: every member of a connected component but its smallest id."""
    parent = {i: i for i in ids}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {i for i in ids if find(i) != i}


def goose_minhash(docs: list[tuple[str, str]]) -> tuple[set[str], set[str]]:
    """(dropped ids, every id in a duplicate pair: dropped ones and the ones they duplicate)."""
    from goose_assets.core.filtering.dedup import deduplicate

    dropped = deduplicate([(i, "bench", t) for i, t in docs]).dropped
    return set(dropped), set(dropped) | {m.kept_id for m in dropped.values()}


def datasketch_minhash(docs: list[tuple[str, str]]) -> set[str]:
    from datasketch import MinHash, MinHashLSH

    from goose_assets.core.text import words

    lsh = MinHashLSH(threshold=0.8, num_perm=128)
    sigs = {}
    for doc_id, text in docs:
        ws = words(text)
        m = MinHash(num_perm=128)
        m.update_batch([" ".join(ws[i : i + 5]).encode() for i in range(max(1, len(ws) - 4))])
        lsh.insert(doc_id, m)
        sigs[doc_id] = m
    pairs = [(o, d) for d, m in sigs.items() for o in lsh.query(m) if o != d]
    return _components([d for d, _ in docs], pairs), {x for p in pairs for x in p}


def goose_decont(docs: list[tuple[str, str]], work: Path) -> tuple[set[str], float]:
    from goose_assets.core.filtering.decontam import BenchmarkIndex

    t = time.perf_counter()
    index = BenchmarkIndex.from_folder(CORPORA / "benchmarks")
    index_s = time.perf_counter() - t
    return set(index.scan(docs).hits), index_s


def child(tool: str, work: Path) -> None:
    docs = load_docs(work)
    start = time.perf_counter()
    extra: dict[str, Any] = {}
    if tool == "goose-minhash":
        flagged, extra["involved"] = goose_minhash(docs)
    elif tool == "datasketch-minhash":
        flagged, extra["involved"] = datasketch_minhash(docs)
    else:
        flagged, extra["index_seconds"] = goose_decont(docs, work)
    seconds = time.perf_counter() - start
    if "index_seconds" in extra:
        seconds -= extra["index_seconds"]  # the index is built once per benchmark set, reported apart
    if "involved" in extra:
        extra["involved"] = sorted(extra["involved"])
    print(json.dumps({"tool": tool.split("-")[0], "seconds": round(seconds, 3), "flagged": sorted(flagged),
                      "peak_rss_mb_self": round(peak_rss_mb(), 1), **extra}))


def _score(run: dict[str, Any], n_docs: int, planted: list[list[Any]], reference: set[str] | None,
           reference_involved: set[str] | None = None) -> dict[str, Any]:
    flagged = set(run.pop("flagged"))
    involved = set(run.pop("involved", []))
    run["n_involved"] = len(involved) or None
    if reference_involved and involved:
        # which member of a pair a tool drops is arbitrary; "is in a duplicate pair" is not
        union = involved | reference_involved
        run["agreement_involved_vs_goose"] = round(len(involved & reference_involved) / len(union), 3)
    run["docs_per_s"] = round(n_docs / run["seconds"]) if run["seconds"] else None
    run["n_flagged"] = len(flagged)
    if planted:
        per_bin: dict[str, list[int]] = {}
        for a, b, j in planted:
            cell = per_bin.setdefault(_bin(j), [0, 0])
            cell[0] += 1
            cell[1] += int(a in flagged or b in flagged)
        run["recall_by_jaccard_bin"] = {k: {"n": n, "recall": round(f / n, 3)} for k, (n, f) in sorted(per_bin.items(), reverse=True)}
    if reference is not None:
        union = flagged | reference
        run["agreement_jaccard_vs_goose"] = round(len(flagged & reference) / len(union), 3) if union else 1.0
        run["only_this_tool"] = len(flagged - reference)
        run["only_goose"] = len(reference - flagged)
        run["examples_only_this_tool"] = sorted(flagged - reference)[:5]
    return run


def run_tool(tool: str, work: Path) -> dict[str, Any]:
    if tool.startswith("datatrove"):
        py = peer_python(PEER_VENV)
        if py is None:
            return {"tool": "datatrove", "skipped": "bench/.venv-peer missing: run bench/setup_peers.sh"}
        mode = "minhash" if tool.endswith("minhash") else "decont"
        try:
            return run_json_child([str(BENCH / "datatrove_child.py"), mode, str(work)], python=py,
                                  env={"PYTHONPATH": ""}, timeout=3600)
        except Exception as exc:  # noqa: BLE001 - a failed peer is a recorded result
            return {"tool": "datatrove", "error": str(exc)[-800:]}
    return run_json_child(["-m", "bench.dedup_decontam", "--child", tool, "--work", str(work)], timeout=3600)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-docs", type=int, default=10_000)
    ap.add_argument("--n-planted", type=int, default=200)
    ap.add_argument("--child", default="")
    ap.add_argument("--work", type=Path)
    ap.add_argument("--skip", nargs="*", default=[])
    ap.add_argument("--result-name", default="dedup_decontam", help="bench/results/<name>.json")
    args = ap.parse_args(argv)
    if args.child:
        child(args.child, args.work)
        return {}
    work = prepare(args.n_docs, args.n_planted)
    n = sum(1 for f in (work / "input").glob("*.jsonl") for _ in open(f, encoding="utf-8"))
    planted = json.loads((work / "planted.json").read_text())
    result: dict[str, Any] = {"n_docs": n, "requested_n_docs": args.n_docs, "n_planted": len(planted)}
    for section, tools in (("minhash", ["goose-minhash", "datasketch-minhash", "datatrove-minhash"]),
                           ("decontamination", ["goose-decont", "datatrove-decont"])):
        runs = {t: run_tool(t, work) for t in tools if t not in args.skip}
        ref = set(runs[tools[0]]["flagged"]) if "flagged" in runs.get(tools[0], {}) else None
        ref_involved = set(runs[tools[0]].get("involved", [])) if tools[0] in runs else None
        rows = []
        for t, r in runs.items():
            if "flagged" in r:
                first = t == tools[0]
                r = _score(r, n, planted if section == "minhash" else [], None if first else ref,
                           None if first else ref_involved)
            rows.append(r)
            print(json.dumps({k: v for k, v in r.items() if k != "examples_only_this_tool"}), flush=True)
        goose = rows[0]
        for r in rows[1:]:
            if r.get("seconds") and goose.get("seconds"):
                r["goose_speedup"] = round(r["seconds"] / goose["seconds"], 2)
        result[section] = rows
    write_result(args.result_name, result, argv, module="dedup_decontam")
    print(table(result))
    return result


def settings_note(result: dict[str, Any]) -> str:
    """Size and the settings that differ from `make run` (issue 17 point 4, issue 20)."""
    return (f"Size: {result['n_docs']:,} docs, {result['n_planted']:,} planted near duplicates. Settings: "
            "`core.filtering.dedup.deduplicate` and `core.filtering.decontam.BenchmarkIndex` with the defaults that `filtered_tasks` uses "
            "in `make run` (MinHash threshold 0.8 on word 5-grams, 13-gram decontamination), run alone on raw "
            "document texts rather than inside the pipeline.")


def table(result: dict[str, Any]) -> str:
    rows = []
    for section in ("minhash", "decontamination"):
        for r in result.get(section, []):
            if "seconds" not in r:
                rows.append([section, r["tool"], None, None, None, None, None, None, None, "not run: " + str(r.get("skipped") or r.get("error"))[:100]])
                continue
            rec = r.get("recall_by_jaccard_bin", {})
            rows.append([
                section, r["tool"], r["docs_per_s"], r.get("goose_speedup", 1.0) if r["tool"] != "goose" else 1.0,
                r.get("peak_rss_mb_self"), r["n_flagged"],
                rec.get("0.8-0.9", {}).get("recall") if rec else None, rec.get("0.7-0.8", {}).get("recall") if rec else None,
                r.get("agreement_jaccard_vs_goose", "reference"), r.get("agreement_involved_vs_goose", "reference" if section == "minhash" else None),
            ])
    return settings_note(result) + "\n\n" + md_table(["task", "tool", "docs/s", "goose speed-up (its s ÷ ours)", "peak RSS MB (main proc)", "flagged",
                     "recall J 0.8-0.9", "recall J 0.7-0.8", "agreement: dropped ids (Jaccard vs goose)",
                     "agreement: ids in a duplicate pair"], rows)


if __name__ == "__main__":
    main()
