from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from goose_assets.core.filtering.baselines import (
    CLASSIFIER,
    CONTEXT_COPY,
    EMBEDDING,
    LEXICAL_OVERLAP,
    LONGEST,
    MOST_CENTRAL,
    SHORTEST,
    mask_window,
    odd_one_out_classifier,
    option_features,
    pick_context_copy,
    pick_lexical_overlap,
    pick_most_central,
    run_baselines,
)

_WORDS = (
    "alpha beta gamma delta epsilon zeta theta kappa lambda sigma omega river stone cloud "
    "forest engine signal vector matrix tensor proton neutron enzyme crystal lattice"
).split()


def _sentence(rng: random.Random) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(8, 16))) + "."


def _fair_tasks(n: int, seed: int = 0, domain: str = "science") -> list[dict[str, Any]]:
    """Options drawn from one distribution and the answer placed at random: no cue."""
    rng = random.Random(seed)
    tasks = []
    for i in range(n):
        options = [_sentence(rng) for _ in range(9)]
        context = f"{_sentence(rng)} [MASK] {_sentence(rng)}"
        tasks.append(
            {
                "task_id": f"{domain}-{i}",
                "domain": domain,
                "context_masked": context,
                "options": options,
                "answer_index": rng.randrange(9),
            }
        )
    return tasks


def _longest_is_answer(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for task in tasks:
        answer = task["options"][task["answer_index"]]
        longest = max(len(o) for o in task["options"])
        options = list(task["options"])
        options[task["answer_index"]] = answer + " " + "x" * (longest - len(answer) + 5)
        out.append({**task, "options": options})
    return out


def test_fair_tasks_pass_the_gate() -> None:
    report = run_baselines(_fair_tasks(240), use_embeddings=False)
    stats = report.domains["science"]
    assert stats.chance == pytest.approx(1 / 9)
    for name, acc in stats.accuracy.items():
        assert acc is not None and acc < stats.chance + 0.10, name
    assert stats.classifier_auroc is not None and stats.classifier_auroc < 0.60
    assert report.gate_passed
    assert EMBEDDING not in report.baselines
    json.dumps(report.to_metadata())


def test_answer_is_always_longest_fails_the_gate() -> None:
    report = run_baselines(_longest_is_answer(_fair_tasks(120)), use_embeddings=False)
    stats = report.domains["science"]
    assert stats.accuracy[LONGEST] == 1.0
    assert stats.accuracy[SHORTEST] == 0.0
    # the classifier learns the length cue from the other folds
    assert stats.classifier_auroc is not None and stats.classifier_auroc > 0.9
    assert not stats.gate_passed
    assert any(f.startswith("longest") for f in stats.failures)
    assert any("AUROC" in f for f in stats.failures)


def test_context_copy_reads_the_question_and_never_across_the_mask() -> None:
    question = "A tank holds 40 litres of water and loses 3 litres every hour."
    context = "First note the leak rate. [MASK] So after 5 hours it holds 25 litres."
    options = ["The tank loses 3 litres every hour so", "We divide the total by the rate", "Water boils at sea level"]
    assert pick_context_copy(question, context, options) == 0
    # "rate so after" only exists across [MASK]: no option may borrow it
    crossing = ["the leak rate so after", "so after 5 hours it"]
    assert pick_context_copy("", context, crossing) == 1


def test_answer_copying_the_context_fails_the_gate() -> None:
    tasks = []
    for task in _fair_tasks(120, seed=3):
        before = task["context_masked"].split("[MASK]")[0].split()
        options = list(task["options"])
        options[task["answer_index"]] = " ".join(before[:6])  # the answer repeats the context
        tasks.append({**task, "options": options, "question": "Fill in the blank."})
    report = run_baselines(tasks, use_embeddings=False, include=[LONGEST, CONTEXT_COPY])
    stats = report.domains["science"]
    assert stats.accuracy[CONTEXT_COPY] == 1.0
    assert any(f.startswith("context_copy") for f in stats.failures) and not stats.gate_passed


def test_trivial_flag_needs_a_strict_majority() -> None:
    tasks = _longest_is_answer(_fair_tasks(60))
    report = run_baselines(tasks, use_embeddings=False, include=[LONGEST, SHORTEST, MOST_CENTRAL])
    for votes in report.tasks:
        expected = votes.n_correct_votes * 2 > votes.n_votes
        assert votes.trivial == expected
        assert votes.picks[LONGEST] == votes.answer_index
    assert report.trivial_task_ids == [v.task_id for v in report.tasks if v.trivial]


def test_domains_are_scored_separately() -> None:
    tasks = _fair_tasks(40, domain="math") + _longest_is_answer(
        _fair_tasks(40, seed=1, domain="code")
    )
    report = run_baselines(tasks, use_embeddings=False, include=[LONGEST])
    assert report.domains["math"].gate_passed
    assert not report.domains["code"].gate_passed
    assert not report.gate_passed


def test_tiny_inputs_skip_the_classifier() -> None:
    report = run_baselines(_fair_tasks(5), use_embeddings=False)
    stats = report.domains["science"]
    assert stats.accuracy[CLASSIFIER] is None
    assert stats.classifier_auroc is None
    assert not stats.reliable
    assert all(CLASSIFIER not in v.picks for v in report.tasks)
    assert odd_one_out_classifier(_fair_tasks(3)) is None


def test_empty_input() -> None:
    report = run_baselines([], use_embeddings=True)
    assert report.tasks == [] and report.domains == {} and report.gate_passed


def test_lexical_overlap_reads_the_window_around_the_mask() -> None:
    context = "filler " * 200 + "the enzyme binds the substrate [MASK] and releases product"
    options = ["gravity bends light", "enzyme binds substrate tightly", "stars collapse"]
    assert pick_lexical_overlap(context, options, window_words=10) == 1
    before, after = mask_window(context, 3)
    assert before == "binds the substrate" and after == "and releases product"


def test_most_central_finds_the_original_among_its_mutations() -> None:
    answer = "if left <= right: mid = (left + right) // 2"
    mutations = [
        "if left < right: mid = (left + right) // 2",
        "if left <= right: mid = (left - right) // 2",
        "if left <= right: mid = (left + right) // 3",
        "if left >= right: mid = (left + right) // 2",
        "if right <= left: mid = (left + right) // 2",
    ]
    options = mutations[:2] + [answer] + mutations[2:]
    assert pick_most_central(options) == 2


def test_option_features_are_relative_to_siblings() -> None:
    features = option_features(["short", "a bit longer option", "the longest option of them all"])
    assert features.shape[0] == 3
    assert np.isfinite(features).all()
    raw_width = features.shape[1] // 3
    # rank-of-length column: 0 for the shortest, 1 for the longest
    assert features[0, 2 * raw_width] == 0.0
    assert features[2, 2 * raw_width] == 1.0


def test_embedding_baseline_batches_one_encode_call() -> None:
    calls: list[int] = []

    def fake_encoder(texts: Sequence[str]) -> np.ndarray:
        calls.append(len(texts))
        # bag of characters: similar strings get similar vectors
        vecs = np.array([[t.count(c) for c in "abcdefghijklmnopqrstuvwxyz"] for t in texts], float)
        return vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-9)

    tasks = [
        {
            "task_id": f"t{i}",
            "domain": "cyber",
            "context_masked": "zzz zzz yyy [MASK] zzz yyy",
            "options": ["aaa bbb", "zzz yyy zzz", "ccc ddd"],
            "answer_index": 1,
        }
        for i in range(4)
    ]
    report = run_baselines(tasks, encoder=fake_encoder, include=[EMBEDDING])
    assert len(calls) == 1
    assert calls[0] == 4  # identical texts are encoded once: 1 context + 3 options
    assert report.domains["cyber"].accuracy[EMBEDDING] == 1.0


def test_invalid_tasks_and_names_raise() -> None:
    bad = {"task_id": "x", "domain": "m", "context_masked": "", "options": ["a"], "answer_index": 0}
    with pytest.raises(ValueError):
        run_baselines([bad], use_embeddings=False)
    with pytest.raises(ValueError, match="unknown"):
        run_baselines([], include=["nope"])


def test_lexical_overlap_catches_mined_distractors() -> None:
    # distractors mined from other documents share no words with the context
    rng = random.Random(3)
    tasks = []
    for i in range(50):
        topic = rng.sample(_WORDS, 6)
        answer = " ".join(topic[:4]) + "."
        context = f"{' '.join(topic)} [MASK] {' '.join(topic[2:])}"
        distractors = [f"unrelated words number {i} {k} here." for k in range(8)]
        options = distractors + [answer]
        rng.shuffle(options)
        tasks.append(
            {
                "task_id": f"t{i}",
                "domain": "science",
                "context_masked": context,
                "options": options,
                "answer_index": options.index(answer),
            }
        )
    report = run_baselines(tasks, use_embeddings=False)
    assert report.domains["science"].accuracy[LEXICAL_OVERLAP] == 1.0
    assert not report.gate_passed
    assert len(report.trivial_task_ids) > 0


@pytest.mark.slow
def test_real_embedding_model_is_normalized_and_semantic() -> None:
    from goose_assets.core.filtering.embeddings import EMBEDDING_DIM, encode

    vectors = encode(
        ["The cat sat on the mat.", "A kitten rested on the rug.", "Stock prices fell sharply."]
    )
    assert vectors.shape == (3, EMBEDDING_DIM)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    assert encode([]).shape == (0, EMBEDDING_DIM)
