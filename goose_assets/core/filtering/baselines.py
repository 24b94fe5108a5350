"""Triviality baselines: cheap solvers that never reason (issue 5, check 2).

If a solver that only looks at surface cues picks the answer more often than chance, the
task teaches the cue, not the reasoning. Each baseline picks one option per task:

- `longest` / `shortest`: option length in characters;
- `lexical_overlap`: the share of the option's words found in a window around [MASK];
- `embedding`: cosine similarity of the option to the window around [MASK]
  (all-MiniLM-L6-v2, offline; optional because loading it costs ~10 s);
- `most_central`: the option most similar (char 3-gram Jaccard) to the other options.
  Mutation distractors are all edits of the answer, so the answer is their centroid; this
  is the cue the audit found in code distractors;
- `context_copy`: the option repeating most of what the student reads: the largest share
  of its word trigrams found in the question or the masked context (none across [MASK]).
  An answer reuses its own passage's phrasing, a candidate written elsewhere does not;
- `classifier`: a logistic regression "odd one out" on surface features of each option,
  absolute and relative to its siblings, cross-validated with GroupKFold by task so that
  no task is both trained and scored. Reported as per-task accuracy (argmax over the
  options) and per-option AUROC.

Input tasks are mappings with keys task_id, domain, context_masked, options, answer_index,
and optionally question (what the student reads besides the masked context).
The gate fails a domain when any baseline's accuracy exceeds chance + 0.10 or the
classifier's AUROC exceeds 0.60. A task is `trivial` when a strict majority of the
baselines that voted on it picked its answer.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from goose_assets.core.filtering import embeddings
from goose_assets.core.records import MASK
from goose_assets.core.synthesis.leakage import trigram_set
from goose_assets.core.text import copied_share, jaccard, read_trigrams, words

LONGEST = "longest"
SHORTEST = "shortest"
LEXICAL_OVERLAP = "lexical_overlap"
EMBEDDING = "embedding"
MOST_CENTRAL = "most_central"
CONTEXT_COPY = "context_copy"
CLASSIFIER = "classifier"
ALL_BASELINES: tuple[str, ...] = (
    LONGEST,
    SHORTEST,
    LEXICAL_OVERLAP,
    EMBEDDING,
    MOST_CENTRAL,
    CONTEXT_COPY,
    CLASSIFIER,
)

DEFAULT_WINDOW_WORDS = 64
DEFAULT_EMBED_WINDOW_WORDS = 48
MIN_CLASSIFIER_TASKS = 20
DEFAULT_FOLDS = 5
ACCURACY_MARGIN = 0.10
AUROC_LIMIT = 0.60
# Below this many tasks a domain's accuracies are too noisy to trust (SE ~ 0.05 at 40)
MIN_RELIABLE_TASKS = 40

_OPERATORS = re.compile(r"[-+*/=<>%^&|!~]")
_PUNCT = re.compile(r"[^\w\s]")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")

Encoder = Callable[[Sequence[str]], np.ndarray]


@dataclass(slots=True)
class TaskVotes:
    """Which option each baseline picked for one task, and whether the task is trivial."""

    task_id: str
    domain: str
    answer_index: int
    n_options: int
    picks: dict[str, int]
    n_correct_votes: int
    n_votes: int
    trivial: bool


@dataclass(slots=True)
class DomainBaselineStats:
    """Per-domain accuracies vs chance, classifier AUROC, and the gate verdict."""

    domain: str
    n_tasks: int
    chance: float
    accuracy: dict[str, float | None]
    classifier_auroc: float | None
    n_trivial: int
    gate_passed: bool
    failures: list[str] = field(default_factory=list)
    reliable: bool = True

    def to_metadata(self) -> dict[str, Any]:
        return {
            "n_tasks": self.n_tasks,
            "chance": round(self.chance, 4),
            "accuracy": {k: None if v is None else round(v, 4) for k, v in self.accuracy.items()},
            "classifier_auroc": None
            if self.classifier_auroc is None
            else round(self.classifier_auroc, 4),
            "n_trivial": self.n_trivial,
            "gate_passed": self.gate_passed,
            "failures": self.failures,
            "reliable": self.reliable,
        }


@dataclass(slots=True)
class BaselineReport:
    """Everything the triviality check needs: votes per task and stats per domain."""

    tasks: list[TaskVotes]
    domains: dict[str, DomainBaselineStats]
    baselines: tuple[str, ...]

    @property
    def gate_passed(self) -> bool:
        return all(d.gate_passed for d in self.domains.values())

    @property
    def trivial_task_ids(self) -> list[str]:
        return [t.task_id for t in self.tasks if t.trivial]

    def to_metadata(self) -> dict[str, Any]:
        return {
            "gate_passed": self.gate_passed,
            "baselines": list(self.baselines),
            "n_trivial": sum(t.trivial for t in self.tasks),
            "domains": {name: d.to_metadata() for name, d in sorted(self.domains.items())},
        }


# ---------------------------------------------------------------- helpers


def mask_window(context_masked: str, n_words: int) -> tuple[str, str]:
    """Up to n_words of raw text before and after the first [MASK] (whole context if none)."""
    before, sep, after = context_masked.partition(MASK)
    if not sep:
        return " ".join(context_masked.split()[-n_words:]), ""
    return " ".join(before.split()[-n_words:]), " ".join(after.split()[:n_words])


def _argmax(scores: Sequence[float]) -> int:
    # first maximum: answers are shuffled, so a fixed tie-break is unbiased
    return int(np.argmax(np.asarray(scores, dtype=np.float64)))


def pick_longest(options: Sequence[str]) -> int:
    return _argmax([len(o.strip()) for o in options])


def pick_shortest(options: Sequence[str]) -> int:
    return _argmax([-len(o.strip()) for o in options])


def pick_lexical_overlap(context_masked: str, options: Sequence[str], window_words: int) -> int:
    """The option whose distinct words are most often found around [MASK]."""
    before, after = mask_window(context_masked, window_words)
    window = set(words(before)) | set(words(after))
    scores = []
    for option in options:
        option_words = set(words(option))
        shared = len(option_words & window)
        # share first, absolute count as a tie-break
        scores.append(shared / max(1, len(option_words)) + 1e-6 * shared)
    return _argmax(scores)


def _centrality(options: Sequence[str]) -> list[float]:
    grams = [trigram_set(o) for o in options]
    n = len(grams)
    sims = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            sims[i, j] = sims[j, i] = jaccard(grams[i], grams[j])
    return list(sims.sum(axis=1) / max(1, n - 1))


def pick_most_central(options: Sequence[str]) -> int:
    return _argmax(_centrality(options))


def pick_context_copy(question: str, context_masked: str, options: Sequence[str]) -> int:
    """The option whose word trigrams the student reads most often elsewhere."""
    read = read_trigrams(question, context_masked)
    return _argmax([copied_share(words(option), read) for option in options])


def pick_by_embedding(
    tasks: Sequence[Mapping[str, Any]], encoder: Encoder, window_words: int
) -> list[int]:
    """Per task, the option closest to the window around [MASK]; one batched encode call."""
    texts: list[str] = []
    index: dict[str, int] = {}

    def slot(text: str) -> int:
        if text not in index:
            index[text] = len(texts)
            texts.append(text)
        return index[text]

    layout: list[tuple[int, list[int]]] = []
    for task in tasks:
        before, after = mask_window(str(task["context_masked"]), window_words)
        context_slot = slot(f"{before} {MASK} {after}".strip())
        layout.append((context_slot, [slot(str(o)) for o in task["options"]]))
    vectors = encoder(texts)
    picks = []
    for context_slot, option_slots in layout:
        sims = vectors[option_slots] @ vectors[context_slot]
        picks.append(_argmax(sims))
    return picks


# ---------------------------------------------------------------- classifier

_RAW_FEATURES: tuple[str, ...] = (
    "chars",
    "log_chars",
    "words",
    "lines",
    "digit_share",
    "alpha_share",
    "upper_share",
    "punct_share",
    "space_share",
    "operators",
    "operator_share",
    "numbers",
    "mean_word_len",
    "distinct_word_share",
    "latex_commands",
    "brackets",
    "ends_with_period",
    "starts_upper",
    "centrality",
)


def _raw_option_features(option: str) -> list[float]:
    text = option.strip()
    n_chars = max(1, len(text))
    toks = text.split()
    lowered = words(text)
    operators = len(_OPERATORS.findall(text))
    return [
        float(len(text)),
        math.log1p(len(text)),
        float(len(toks)),
        float(text.count("\n") + 1),
        sum(map(str.isdigit, text)) / n_chars,
        sum(map(str.isalpha, text)) / n_chars,
        sum(map(str.isupper, text)) / n_chars,
        len(_PUNCT.findall(text)) / n_chars,
        sum(map(str.isspace, text)) / n_chars,
        float(operators),
        operators / n_chars,
        float(len(_NUMBER.findall(text))),
        # = np.mean (an exact integer sum, one division), without the array round trip
        sum(map(len, toks)) / len(toks) if toks else 0.0,
        len(set(lowered)) / max(1, len(lowered)),
        float(text.count("\\")),
        float(sum(text.count(b) for b in "()[]{}")),
        float(text.endswith(".")),
        float(text[:1].isupper()),
    ]


def option_features(options: Sequence[str], centrality: Sequence[float] | None = None) -> np.ndarray:
    """Surface features of each option, absolute and relative to its siblings.

    Shape (n_options, 3 * len(_RAW_FEATURES)): raw value, z-score within the task, and
    rank within the task scaled to [0, 1]. The relative columns are what make it an "odd
    one out" model: the answer may be unremarkable in absolute terms and still be the one
    option that differs from the other eight.
    """
    if centrality is None:
        centrality = _centrality(options)
    raw = np.array(
        [_raw_option_features(o) + [c] for o, c in zip(options, centrality, strict=True)],
        dtype=np.float64,
    )
    mean = raw.mean(axis=0)
    std = raw.std(axis=0)
    z = (raw - mean) / np.where(std > 1e-9, std, 1.0)
    ranks = raw.argsort(axis=0).argsort(axis=0) / max(1, len(options) - 1)
    return np.hstack([raw, z, ranks])


@dataclass(frozen=True, slots=True)
class ClassifierResult:
    """Out-of-fold classifier results: per-task picks, accuracy and per-option AUROC."""

    picks: list[int]
    accuracy: float
    auroc: float


def odd_one_out_classifier(
    tasks: Sequence[Mapping[str, Any]],
    n_folds: int = DEFAULT_FOLDS,
    min_tasks: int = MIN_CLASSIFIER_TASKS,
    seed: int = 0,
) -> ClassifierResult | None:
    """Cross-validated logistic regression on option features; None with < min_tasks tasks."""
    if len(tasks) < max(min_tasks, 2):
        return None
    blocks = [option_features([str(o) for o in task["options"]]) for task in tasks]
    return classifier_from_features(blocks, [int(task["answer_index"]) for task in tasks], n_folds, min_tasks, seed)


def classifier_from_features(
    blocks: Sequence[np.ndarray],
    answers: Sequence[int],
    n_folds: int = DEFAULT_FOLDS,
    min_tasks: int = MIN_CLASSIFIER_TASKS,
    seed: int = 0,
) -> ClassifierResult | None:
    """`odd_one_out_classifier` from each task's `option_features` block and answer index:
    what a streaming caller keeps per task instead of the task itself."""
    if len(blocks) < max(min_tasks, 2):
        return None
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    labels, groups = [], []
    for t_idx, (block, answer) in enumerate(zip(blocks, answers, strict=True)):
        y = np.zeros(len(block), dtype=np.int8)
        y[answer] = 1
        labels.append(y)
        groups.append(np.full(len(block), t_idx))
    x = np.vstack(blocks)
    y = np.concatenate(labels)
    g = np.concatenate(groups)
    oof = np.zeros(len(y))
    splitter = GroupKFold(n_splits=min(n_folds, len(blocks)), shuffle=True, random_state=seed)
    for train, test in splitter.split(x, y, g):
        # Newton-Cholesky: many rows, few features, a few Newton steps. On math's 2,000
        # tasks at 10K documents the whole baseline took 1.9 s against liblinear's 4.4 s,
        # with the same AUROC to five decimals
        model = make_pipeline(
            StandardScaler(),
            LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced", solver="newton-cholesky"),
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter on tiny folds
            model.fit(x[train], y[train])
        oof[test] = model.predict_proba(x[test])[:, 1]
    picks, correct, start = [], 0, 0
    for answer, block in zip(answers, blocks, strict=True):
        pick = _argmax(oof[start : start + len(block)])
        picks.append(pick)
        correct += int(pick == answer)
        start += len(block)
    return ClassifierResult(picks, correct / len(blocks), float(roc_auc_score(y, oof)))


# ---------------------------------------------------------------- runner


def run_baselines(tasks: Sequence[Mapping[str, Any]], **options: Any) -> BaselineReport:
    """Run every baseline on `tasks`, per domain, and decide the gate. `options` are
    `BaselineRun`'s (which gives the same report from tasks fed in batches):

    - `use_embeddings=False` skips the embedding baseline (no torch, no model load).
    - `encoder` replaces the default `embeddings.encode` (tests, or a shared model).
    - `include` restricts the baselines run (names from ALL_BASELINES).
    - The classifier is fit per domain; with fewer than `min_classifier_tasks` tasks in a
      domain its accuracy and AUROC are None and it casts no votes.
    """
    run = BaselineRun(**options)
    run.add(tasks)
    return run.finish()


class BaselineRun:
    """`run_baselines` over tasks fed in batches (`add`), decided at `finish`.

    The per-task baselines vote as each batch arrives; per task only its votes and its
    option-feature block (9 x 57 floats) are kept for the per-domain classifier, never
    the task's text, so memory grows by ~4 KB per task however long the contexts are.
    The embedding baseline encodes one batch at a time."""

    def __init__(
        self,
        *,
        use_embeddings: bool = True,
        encoder: Encoder | None = None,
        include: Sequence[str] = ALL_BASELINES,
        window_words: int = DEFAULT_WINDOW_WORDS,
        embed_window_words: int = DEFAULT_EMBED_WINDOW_WORDS,
        n_folds: int = DEFAULT_FOLDS,
        min_classifier_tasks: int = MIN_CLASSIFIER_TASKS,
        accuracy_margin: float = ACCURACY_MARGIN,
        auroc_limit: float = AUROC_LIMIT,
        seed: int = 0,
    ) -> None:
        unknown = set(include) - set(ALL_BASELINES)
        if unknown:
            raise ValueError(f"unknown baselines: {sorted(unknown)}")
        self.active = tuple(b for b in ALL_BASELINES if b in include and (b != EMBEDDING or use_embeddings))
        self.encoder = encoder
        self.window_words, self.embed_window_words = window_words, embed_window_words
        self.n_folds, self.min_classifier_tasks, self.seed = n_folds, min_classifier_tasks, seed
        self.accuracy_margin, self.auroc_limit = accuracy_margin, auroc_limit
        # per task, in arrival order: (task_id, domain, answer_index, n_options, picks)
        self._tasks: list[tuple[str, str, int, int, dict[str, int]]] = []
        self._by_domain: dict[str, list[int]] = {}
        self._blocks: dict[str, list[np.ndarray]] = {}

    def add(self, tasks: Sequence[Mapping[str, Any]]) -> None:
        active = self.active
        for task in tasks:
            n = len(task["options"])
            if n < 2 or not 0 <= int(task["answer_index"]) < n:
                raise ValueError(f"task {task['task_id']}: needs >= 2 options and a valid answer_index")
        picks: list[dict[str, int]] = [{} for _ in tasks]
        for i, task in enumerate(tasks):
            options = [str(o) for o in task["options"]]
            centrality = None
            if LONGEST in active:
                picks[i][LONGEST] = pick_longest(options)
            if SHORTEST in active:
                picks[i][SHORTEST] = pick_shortest(options)
            if LEXICAL_OVERLAP in active:
                picks[i][LEXICAL_OVERLAP] = pick_lexical_overlap(
                    str(task["context_masked"]), options, self.window_words
                )
            if MOST_CENTRAL in active:
                centrality = _centrality(options)
                picks[i][MOST_CENTRAL] = _argmax(centrality)
            if CONTEXT_COPY in active:
                picks[i][CONTEXT_COPY] = pick_context_copy(
                    str(task.get("question") or ""), str(task["context_masked"]), options
                )
            if CLASSIFIER in active:
                self._blocks.setdefault(str(task["domain"]), []).append(option_features(options, centrality))
        if EMBEDDING in active and tasks:
            encoder = self.encoder
            if encoder is None:
                encoder = embeddings.encode
            for i, pick in enumerate(pick_by_embedding(tasks, encoder, self.embed_window_words)):
                picks[i][EMBEDDING] = pick
        for task, p in zip(tasks, picks, strict=True):
            self._by_domain.setdefault(str(task["domain"]), []).append(len(self._tasks))
            self._tasks.append((str(task["task_id"]), str(task["domain"]), int(task["answer_index"]), len(task["options"]), p))

    def finish(self) -> BaselineReport:
        active, tasks, by_domain = self.active, self._tasks, self._by_domain
        auroc_by_domain: dict[str, float | None] = {}
        classifier_acc: dict[str, float | None] = {}
        for domain, idxs in by_domain.items():
            result = None
            if CLASSIFIER in active:
                result = classifier_from_features(
                    self._blocks.pop(domain, []), [tasks[i][2] for i in idxs], n_folds=self.n_folds,
                    min_tasks=self.min_classifier_tasks, seed=self.seed,
                )
            if result is not None:
                for i, pick in zip(idxs, result.picks, strict=True):
                    tasks[i][4][CLASSIFIER] = pick
            auroc_by_domain[domain] = result.auroc if result else None
            classifier_acc[domain] = result.accuracy if result else None

        votes: list[TaskVotes] = []
        for task_id, domain, answer, n_options, picks in tasks:
            n_correct = sum(p == answer for p in picks.values())
            n_votes = len(picks)
            votes.append(
                TaskVotes(
                    task_id=task_id,
                    domain=domain,
                    answer_index=answer,
                    n_options=n_options,
                    picks=picks,
                    n_correct_votes=n_correct,
                    n_votes=n_votes,
                    trivial=n_votes > 0 and n_correct * 2 > n_votes,
                )
            )

        accuracy_margin, auroc_limit = self.accuracy_margin, self.auroc_limit
        domains: dict[str, DomainBaselineStats] = {}
        for domain, idxs in by_domain.items():
            chance = float(np.mean([1.0 / votes[i].n_options for i in idxs]))
            accuracy: dict[str, float | None] = {}
            for name in active:
                if name == CLASSIFIER:
                    accuracy[name] = classifier_acc[domain]
                    continue
                accuracy[name] = float(
                    np.mean([votes[i].picks[name] == votes[i].answer_index for i in idxs])
                )
            failures = [
                f"{name}: accuracy {acc:.3f} > chance {chance:.3f} + {accuracy_margin:.2f}"
                for name, acc in accuracy.items()
                if acc is not None and acc > chance + accuracy_margin
            ]
            auroc = auroc_by_domain[domain]
            if auroc is not None and auroc > auroc_limit:
                failures.append(f"classifier: AUROC {auroc:.3f} > {auroc_limit:.2f}")
            domains[domain] = DomainBaselineStats(
                domain=domain,
                n_tasks=len(idxs),
                chance=chance,
                accuracy=accuracy,
                classifier_auroc=auroc,
                n_trivial=sum(votes[i].trivial for i in idxs),
                gate_passed=not failures,
                failures=failures,
                reliable=len(idxs) >= MIN_RELIABLE_TASKS,
            )
        return BaselineReport(tasks=votes, domains=domains, baselines=active)
