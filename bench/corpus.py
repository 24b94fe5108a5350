"""Benchmark corpora of any size, made from ../shared/corpora by perturbing, never copying.

Up to the size of the real corpus a benchmark corpus is a stratified sample of real rows.
Past it, the extra rows are perturbed variants of real rows: ~30% of the words replaced by
other words of the same domain's vocabulary, and every number renumbered (same digit
count). A 30% substitution leaves a word-5-gram Jaccard of ~0.1 with the original, so a
variant is not a near duplicate and dedup does not empty the corpus. Structural keywords
(`Problem:`/`Solution:`, Python keywords) are kept so that shape detection still sees QA
pairs and code. Web pages are scaled in the same proportion; only their text between tags
is perturbed.

Files go to bench/.data/corpus-<n>/ (gitignored; $GOOSE_BENCH_DATA moves it) in the corpus
schema, with a symlink to the shared benchmarks folder for decontamination (a link, not a
copy). A build is atomic (temp folder, then rename), so concurrent callers are safe, and
a finished corpus is reused by every later run.

    python -m bench.corpus 10000
"""

from __future__ import annotations

import json
import keyword
import os
import random
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.common import CORPORA, DATA, DOMAINS

GENERATOR_VERSION = "2"  # bump when the perturbation changes: cached corpora are rebuilt
SUBSTITUTION_RATE = 0.30
_ALPHA = re.compile(r"[A-Za-z]{2,}")
_DIGITS = re.compile(r"\d+")
_TEXT_NODE = re.compile(r">([^<]+)<")
_KEEP = {w.lower() for w in keyword.kwlist} | {"problem", "solution", "question", "answer", "self", "print"}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def real_rows() -> dict[str, list[dict[str, Any]]]:
    """Every real row per file stem (the four domains and `web_raw`)."""
    rows = {d: read_jsonl(CORPORA / f"{d}.jsonl") for d in DOMAINS}
    web = CORPORA / "web_raw.jsonl"
    if web.exists():
        rows["web_raw"] = read_jsonl(web)
    return rows


class Perturber:
    """Word substitution and renumbering with one seeded RNG (deterministic corpora)."""

    def __init__(self, vocab: list[str], seed: int, rate: float = SUBSTITUTION_RATE) -> None:
        self.vocab, self.rate, self.rng = vocab, rate, random.Random(seed)

    def _word(self, m: re.Match[str]) -> str:
        w = m.group(0)
        if w.lower() in _KEEP or self.rng.random() >= self.rate:
            return w
        return self.rng.choice(self.vocab)

    def _number(self, m: re.Match[str]) -> str:
        n = len(m.group(0))
        return str(self.rng.randrange(10 ** (n - 1) if n > 1 else 0, 10**n))

    def text(self, text: str) -> str:
        return _DIGITS.sub(self._number, _ALPHA.sub(self._word, text))

    def words_only(self, text: str) -> str:
        """Word substitution alone: a near duplicate keeps its numbers."""
        return _ALPHA.sub(self._word, text)

    def html(self, html: str) -> str:
        # only text between tags: markup, attributes and scripts keep their structure
        return _TEXT_NODE.sub(lambda m: ">" + self.text(m.group(1)) + "<", html)


def _vocab(rows: list[dict[str, Any]], field: str, limit: int = 3000) -> list[str]:
    seen: dict[str, None] = {}
    for r in rows[:limit]:
        for w in _ALPHA.findall(r.get(field) or "")[:2000]:
            seen.setdefault(w, None)
    return list(seen)


def _targets(n_docs: int, sizes: dict[str, int]) -> dict[str, int]:
    """Per-file row counts proportional to the real corpus, summing to n_docs."""
    total = sum(sizes.values())
    raw = {k: n_docs * v / total for k, v in sizes.items()}
    out = {k: int(v) for k, v in raw.items()}
    for k in sorted(raw, key=lambda k: out[k] - raw[k])[: n_docs - sum(out.values())]:
        out[k] += 1
    return out


def generate(stem: str, rows: list[dict[str, Any]], n: int, seed: int) -> Iterator[dict[str, Any]]:
    """n rows for one file: a seeded sample of real rows, then perturbed variants."""
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    for i in order[:n]:
        yield rows[i]
    field = "html" if stem == "web_raw" else "text"
    perturb = Perturber(_vocab(rows, field), seed + 1)
    for k in range(max(0, n - len(rows))):
        src = rows[order[k % len(rows)]]
        out = dict(src)
        out["id"] = f"{src['id']}~v{k // len(rows) + 1}"
        out[field] = perturb.html(src[field]) if field == "html" else perturb.text(src[field])
        yield out


def _current(out: Path) -> bool:
    """A finished corpus of this generator version (MANIFEST.json is written last)."""
    stamp = out / "MANIFEST.json"
    try:
        return json.loads(stamp.read_text()).get("version") == GENERATOR_VERSION
    except (OSError, ValueError):
        return False


def build(n_docs: int, seed: int = 0, root: Path | None = None) -> Path:
    """bench/.data/corpus-<n_docs>/, built once per generator version and reused.

    Safe when several processes or threads ask for the same corpus at once (`pipeline
    --parallel` runs its modes side by side; two `make bench` may overlap): each builds
    into its own temp folder and renames it into place, so a reader never sees a half
    written corpus and two builders never write the same file. The loser of the race
    drops its copy and uses the winner's (both are the same bytes: seeded)."""
    root = DATA if root is None else root
    out = root / f"corpus-{n_docs}"
    if _current(out):
        return out
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".corpus-{n_docs}.", dir=root))
    tmp.chmod(0o755)  # mkdtemp makes it private; the finished corpus is an ordinary folder
    try:
        rows = real_rows()
        counts = _targets(n_docs, {k: len(v) for k, v in rows.items()})
        for i, (stem, n) in enumerate(sorted(counts.items())):
            with open(tmp / f"{stem}.jsonl", "w", encoding="utf-8") as fh:
                for row in generate(stem, rows[stem], n, seed * 1000 + i):
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        if (CORPORA / "benchmarks").is_dir():
            # a link, not a copy: the benchmark files are never duplicated into the repo
            (tmp / "benchmarks").symlink_to(CORPORA / "benchmarks")
        manifest = {"version": GENERATOR_VERSION, "n_docs": n_docs, "seed": seed, "counts": counts}
        (tmp / "MANIFEST.json").write_text(json.dumps(manifest))
        _install(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # gone already when it was renamed into place
    return out


def _install(tmp: Path, out: Path) -> None:
    """Rename the finished `tmp` to `out`; a stale `out` (older generator) is moved aside first."""
    for _ in range(3):
        try:
            tmp.rename(out)
            return
        except OSError:
            # `out` exists: another builder finished first, or it is a stale version
            if _current(out):
                return
            aside = out.with_name(f".{out.name}.stale-{os.getpid()}-{time.monotonic_ns()}")
            try:
                out.rename(aside)
            except OSError:
                continue  # someone else moved it aside or replaced it: look again
            shutil.rmtree(aside, ignore_errors=True)
    raise RuntimeError(f"could not install the corpus at {out}")


def manifest(corpus_dir: Path) -> dict[str, Any]:
    return json.loads((corpus_dir / "MANIFEST.json").read_text())


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(build(int(arg)), manifest(build(int(arg)))["counts"])
