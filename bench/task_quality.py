"""Task quality: can a solver that never reasons pick the answer? Measured on documents the
run has never seen, by judges that do not share the pipeline's own models.

    python -m bench.task_quality --docs-per-domain 600 [--embeddings]

1. A held-out sample of each domain of ../shared/corpora (every document whose id hashes
   into the sample) goes through `goose run` in a fresh GOOSE_HOME, with the default
   offline generator and option selection.
2. The judges read the tasks it made (`mcq_tasks`, before any filtering but option
   selection's own AFLite step, whose `surface_solvable` tasks are dropped unjudged, as
   the pipeline's gate leaves them out):
   - the project's reasoning-free baselines (core.filtering.baselines: longest, shortest, lexical
     overlap, most central, context copy, the cross-validated logistic "odd one out"
     classifier, and with --embeddings the all-MiniLM-L6-v2 similarity);
   - an independent surface judge: its own features (length, word count, character
     classes, overlap with the text around [MASK], centrality, and fluency and edge fit
     under a word trigram model trained on the *other* documents of the domain, raw
     counts, and the share of its word trigrams that the task's question repeats),
     relative to each task's options, scored by a logistic regression and by gradient
     boosting with 5-fold cross-validation grouped by task. Reported as AUROC, answer vs
     distractors;
   - a copy solver: the option whose word trigrams the question repeats most (an answer
     reuses its passage's phrasing; a step from elsewhere does not). The gate's
     context_copy reads the same share, with its own code and ties broken by position
     instead of a seeded draw.
3. Yield (kept ÷ documents) and the AUROC that option selection saw before and after,
   from the run itself; and what selection costs: its features and rounds re-run here on
   the run's `masked_items`, timed (CPU seconds per task).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import CORPORA, DATA, DOMAINS, corpora_missing, md_table, write_result

REPO = Path(__file__).resolve().parent.parent


def _in_sample(doc_id: str, share: float) -> bool:
    return int(hashlib.sha256(doc_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < share


def split_corpus(out: Path, per_domain: int) -> dict[str, list[str]]:
    """Write the held-out task documents to `out` (corpus schema); return, per domain, the
    texts of the remaining documents (the judge's reference text)."""
    out.mkdir(parents=True, exist_ok=True)
    reference: dict[str, list[str]] = {}
    for domain in DOMAINS:
        rows = [json.loads(line) for line in open(CORPORA / f"{domain}.jsonl", encoding="utf-8")]
        share = min(1.0, per_domain / max(1, len(rows)))
        sample = [r for r in rows if _in_sample(r["id"], share)]
        reference[domain] = [r["text"] for r in rows if not _in_sample(r["id"], share)]
        with open(out / f"{domain}.jsonl", "w", encoding="utf-8") as fh:
            for r in sample:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    return reference


def run_pipeline(corpus: Path, home: Path, embeddings: bool) -> float:
    """`goose run` on the corpus; returns its CPU seconds (children included)."""
    env = {**os.environ, "GOOSE_HOME": str(home), "GOOSE_CORPUS_DIR": str(corpus), "PYTHONPATH": str(REPO)}
    before = os.times()
    cmd = [sys.executable, "-m", "goose_assets.cli", "run", "--log-level", "WARNING"]
    if not embeddings:
        cmd.append("--no-embeddings")
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True)
    after = os.times()
    if proc.returncode not in (0,):
        print(proc.stdout[-4000:], proc.stderr[-4000:], file=sys.stderr)
        raise SystemExit(f"goose run failed ({proc.returncode})")
    return (after.children_user - before.children_user) + (after.children_system - before.children_system)


def _relative(block: np.ndarray) -> np.ndarray:
    mean, std = block.mean(axis=0), block.std(axis=0)
    z = (block - mean) / np.where(std > 1e-9, std, 1.0)
    rank = block.argsort(axis=0).argsort(axis=0) / max(1, len(block) - 1)
    return np.hstack([block, z, rank])


def judge_features(tasks: list[dict[str, Any]], reference: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The independent judge's per-option features, labels and task groups."""
    from goose_assets.core.filtering.baselines import mask_window
    from goose_assets.core.synthesis.leakage import trigram_set
    from goose_assets.core.synthesis.ngram import NgramModel, tokenize
    from goose_assets.core.text import jaccard, words

    lm = NgramModel.fit([[text] for text in reference], min_df=1)
    blocks, labels, groups = [], [], []
    for t_idx, task in enumerate(tasks):
        options = list(task["options"])
        before, after = mask_window(task["context_masked"], 64)
        window = set(words(before)) | set(words(after))
        left = lm.ids(" ".join(tokenize(before)[-2:]))
        right = lm.ids(" ".join(tokenize(after)[:2]))
        grams = [trigram_set(o) for o in options]
        copied = context_copy(task.get("question") or task["context_masked"], options)
        seqs = [np.concatenate((lm.ids(o), right)) for o in options]
        scores = lm.sequence_logprobs(seqs, [left] * len(options))
        rows = []
        for i, option in enumerate(options):
            text = option.strip()
            n = max(1, len(text))
            ow = set(words(text))
            n_tok = len(lm.ids(option))
            lp = scores[i]
            central = np.mean([jaccard(grams[i], grams[j]) for j in range(len(options)) if j != i])
            rows.append([
                math.log1p(len(text)), len(text.split()), sum(map(str.isdigit, text)) / n,
                sum(map(str.isupper, text)) / n, sum(not c.isalnum() and not c.isspace() for c in text) / n,
                len(ow & window) / max(1, len(ow)), central,
                float(lp[:n_tok].mean()) if n_tok else 0.0,
                float(lp[: min(2, n_tok)].mean()) if n_tok else 0.0,
                float(lp[n_tok:].mean()) if len(lp) > n_tok else 0.0,
                copied[i],
            ])
        blocks.append(_relative(np.asarray(rows, dtype=np.float64)))
        y = np.zeros(len(options))
        y[int(task["answer_index"])] = 1
        labels.append(y)
        groups.append(np.full(len(options), t_idx))
    return np.vstack(blocks), np.concatenate(labels), np.concatenate(groups)


def context_copy(question: str, options: list[str]) -> list[float]:
    """Per option, the share of its word trigrams found in what the student reads (the
    task's whole question: a math problem and its masked solution), none across [MASK]."""
    from goose_assets.core.records import MASK
    from goose_assets.core.text import words

    def trigrams(tokens: list[str]) -> set[tuple[str, ...]]:
        return set(zip(tokens, tokens[1:], tokens[2:], strict=False))

    context: set[tuple[str, ...]] = set().union(*(trigrams(words(part)) for part in question.split(MASK)))
    shares = []
    for option in options:
        grams = trigrams(words(option))
        shares.append(len(grams & context) / len(grams) if grams else 0.0)
    return shares


def copy_solver_accuracy(tasks: list[dict[str, Any]]) -> float:
    """How often the option the context repeats most (`context_copy`) is the answer; ties
    (often every option at 0) go to a draw seeded by the task id, not to option A."""
    hits = 0
    for task in tasks:
        shares = np.asarray(context_copy(task.get("question") or task["context_masked"], list(task["options"])))
        best = np.flatnonzero(shares == shares.max())
        draw = int.from_bytes(hashlib.blake2b(str(task["task_id"]).encode(), digest_size=4).digest(), "big")
        hits += int(best[draw % len(best)]) == int(task["answer_index"])
    return round(hits / max(1, len(tasks)), 4)


def judge_aurocs(x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> dict[str, float | None]:
    """Out-of-fold AUROC per judge model, 5 folds grouped by task (fewer where there are
    fewer tasks; None below 2, as nothing would be held out)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    folds = min(5, len(np.unique(groups)))
    out: dict[str, float | None] = {}
    models = {
        "linear": lambda: make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
        "gradient_boosting": lambda: HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, random_state=0),
    }
    for name, make in models.items():
        if folds < 2:
            out[name] = None
            continue
        oof = np.zeros(len(y))
        for train, test in GroupKFold(n_splits=folds).split(x, y, groups):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                oof[test] = make().fit(x[train], y[train]).predict_proba(x[test])[:, 1]
        out[name] = round(float(roc_auc_score(y, oof)), 4)
    return out


def selection_cost(wh: Any, domain: str) -> float:
    """CPU milliseconds per item of option selection (features and rounds), re-run on the
    domain's masked items as the asset runs it."""
    from goose_assets.core.synthesis import option_features

    rows = wh.read("masked_items", domain, ["item_id", "question", "context_masked", "answer", "distractors"])
    started = time.process_time()
    models = option_features.FeatureModels.fit((r["question"], r["context_masked"]) for r in rows)
    option_features.choose_options(models, [[
        option_features.ItemOptions(r["item_id"], r["question"], r["context_masked"], [r["answer"], *r["distractors"]])
        for r in rows
    ]])
    return round(1000 * (time.process_time() - started) / max(1, len(rows)), 2)


def measure(per_domain: int, embeddings: bool) -> dict[str, Any]:
    # the run's corpus and warehouse (~55 MB) are scratch: removed however the run ends
    work = Path(tempfile.mkdtemp(prefix="task-quality-", dir=DATA if DATA.exists() else None))
    try:
        return _measure(work, per_domain, embeddings)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _measure(work: Path, per_domain: int, embeddings: bool) -> dict[str, Any]:
    from scipy.stats import chisquare

    from goose_assets.core.filtering.baselines import run_baselines
    from goose_assets.storage.open import open_warehouse

    reference = split_corpus(work / "corpus", per_domain)
    started = time.time()
    cpu_s = run_pipeline(work / "corpus", work / "home", embeddings)
    wall_s = time.time() - started
    wh = open_warehouse(work / "home")
    domains = []
    for domain in DOMAINS:
        # what option selection offers: a task its AFLite step flagged is dropped unjudged
        tasks = [t for t in wh.read("mcq_tasks", domain, ["task_id", "domain", "question", "context_masked", "options",
                                                         "answer_index", "answer_letter", "surface_solvable"])
                 if not t["surface_solvable"]]
        docs = wh.count("raw_documents", domain)
        kept = wh.query("SELECT count(*) AS n FROM filtered_tasks WHERE domain = ? AND kept", [domain])[0]["n"]
        sel = (wh.read("option_selection", domain) or [{}])[0]
        if not tasks:
            domains.append({"domain": domain, "documents": docs, "tasks": 0})
            continue
        report = run_baselines(tasks, use_embeddings=embeddings).domains[domain]
        x, y, groups = judge_features(tasks, reference[domain])
        letters = [sum(t["answer_letter"] == c for t in tasks) for c in "ABCDEFGHI"]
        domains.append({
            "domain": domain, "documents": docs, "tasks": len(tasks), "kept": kept,
            "yield": round(kept / max(1, docs), 4), "chance": round(report.chance, 4),
            "baselines": {k: None if v is None else round(v, 4) for k, v in report.accuracy.items()},
            "project_classifier_auroc": None if report.classifier_auroc is None else round(report.classifier_auroc, 4),
            "gate_passed": report.gate_passed,
            "judge_auroc": judge_aurocs(x, y, groups),
            "copy_solver": copy_solver_accuracy(tasks),
            "selection": {k: sel.get(k) for k in ("auroc_before", "auroc_after", "rounds", "options_replaced", "pool_mean")},
            "selection_cpu_ms_per_task": selection_cost(wh, domain),
            "letters": letters, "letter_chi2_p": round(float(chisquare(letters).pvalue), 4),
        })
    return {"docs_per_domain": per_domain, "embedding_baseline": embeddings, "pipeline_wall_s": round(wall_s, 1),
            "pipeline_cpu_s": round(cpu_s, 1), "domains": domains}


def table(result: dict[str, Any]) -> str:
    rows = []
    for d in result["domains"]:
        if not d.get("tasks"):
            rows.append([d["domain"], d.get("documents"), 0] + ["–"] * 14)
            continue
        b, sel, j = d["baselines"], d["selection"], d["judge_auroc"]
        rows.append([
            d["domain"], d["documents"], d["tasks"], f"{d['yield']:.0%}", f"{d['chance']:.3f}",
            b.get("longest"), b.get("shortest"), b.get("lexical_overlap"), b.get("embedding", "–"), b.get("most_central"),
            d.get("copy_solver", "–"), d["project_classifier_auroc"], sel.get("auroc_before"), sel.get("auroc_after"),
            j["linear"], j["gradient_boosting"], d["selection_cpu_ms_per_task"],
        ])
    header = ["domain", "docs", "tasks", "yield", "chance", "longest", "shortest", "lexical", "embedding", "central",
              "copy (judge)", "gate clf AUROC", "sel. AUROC before", "sel. AUROC after", "judge linear", "judge GB", "selection ms/task"]
    settings = ("embedding baseline on (as `make run`)" if result["embedding_baseline"]
                else "embedding baseline off (differs from `make run`: the `embedding` column is empty)")
    return (f"Size: {result['docs_per_domain']} held-out documents per domain; settings: {settings}; the whole "
            f"run took {result['pipeline_cpu_s']:,.0f} s of CPU ({result['pipeline_wall_s']:,.0f} s wall).\n\n"
            + md_table(header, rows))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs-per-domain", type=int, default=600)
    parser.add_argument("--embeddings", action="store_true", help="run the embedding baseline too (as `make run`)")
    args = parser.parse_args(argv)
    if reason := corpora_missing():
        print(f"skipped: {reason}")
        return 0
    result = measure(args.docs_per_domain, args.embeddings)
    write_result("task_quality", result, argv)
    print(table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
