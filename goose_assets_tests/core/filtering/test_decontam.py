from __future__ import annotations

import json
from pathlib import Path

import pytest

from goose_assets.core.filtering.decontam import BenchmarkIndex, benchmark_fields
from goose_assets.core.text import words

QUESTION = (
    "A farmer has 17 sheep and buys 3 more every spring; after the storm only the "
    "sheep that were sheltered in the northern barn survived the night. How many are left?"
)
HUMANEVAL_SOLUTION = (
    "    for idx, elem in enumerate(numbers):\n"
    "        for idx2, elem2 in enumerate(numbers):\n"
    "            if idx != idx2:\n"
    "                distance = abs(elem - elem2)\n"
    "                if distance < threshold:\n"
    "                    return True\n\n    return False\n"
)
HUMANEVAL_QUESTION = (
    "def has_close_elements(numbers, threshold):\n"
    '    """Return True when two of the numbers lie closer together than the given threshold."""\n'
)
DIGITS = " ".join(["0"] * 20) + " " + " ".join(str(i) for i in range(1, 30))
TRAIN = (
    "The train leaves at 9 and travels 120 miles at 60 miles per hour then "
    "45 miles at 30 miles per hour before it stops"
)
LABEL_SOUP = "label a a nw label b b ne label c c se label d d sw label e e n"


def _write_benchmarks(folder: Path) -> Path:
    folder.mkdir()
    rows_a = [
        {"id": "toy:1", "benchmark": "ToyMath", "question": QUESTION, "answer": "20"},
        {"id": "toy:2", "benchmark": "ToyMath", "question": DIGITS, "answer": LABEL_SOUP},
        {"id": "toy:3", "benchmark": "ToyMath", "question": TRAIN},
    ]
    rows_b = [
        {
            "id": "HumanEval/0",
            "benchmark": "HumanEval",
            "question": HUMANEVAL_QUESTION,
            "answer": HUMANEVAL_SOLUTION,
        },
        {
            "id": "mcq:7",
            "benchmark": "ToyMCQ",
            "question": "Which property matters?",
            "choices": [
                "A: The storage should be tamper evident so that any modification to the "
                "stored identifiers is detected by the verifier",
                "B: short",
            ],
            "answer": "A",
        },
    ]
    (folder / "a.jsonl").write_text("\n".join(json.dumps(r) for r in rows_a) + "\n")
    (folder / "b.jsonl").write_text("\n".join(json.dumps(r) for r in rows_b) + "\n")
    return folder


@pytest.fixture()
def index(tmp_path: Path) -> BenchmarkIndex:
    return BenchmarkIndex.from_folder(_write_benchmarks(tmp_path / "benchmarks"))


def test_planted_13_gram_from_a_benchmark_is_caught(index: BenchmarkIndex) -> None:
    planted = "sheep and buys 3 more every spring; after the storm only the sheep"
    assert len(planted.replace(";", "").split()) == 13
    text = f"Our new exercise: {planted} -- nothing else in common."
    assert index.hits(text) == [("ToyMath", "toy:1")]


def test_twelve_shared_words_are_not_a_hit(index: BenchmarkIndex) -> None:
    text = "Our exercise: sheep and buys 3 more every spring; after the storm only the goats"
    assert index.hits(text) == []


def test_digits_are_kept_so_changed_numbers_do_not_match(index: BenchmarkIndex) -> None:
    # every 13-gram of TRAIN holds a number; datatrove maps digits to 0 and would hit both
    assert index.hits(TRAIN) == [("ToyMath", "toy:3")]
    changed = TRAIN
    for old, new in (("9", "8"), ("120", "150"), ("60", "50"), ("45", "35"), ("30", "70")):
        changed = changed.replace(f" {old} ", f" {new} ")
    assert changed != TRAIN
    assert index.hits(changed) == []


def test_digit_only_and_label_soup_ngrams_are_not_indexed(index: BenchmarkIndex) -> None:
    assert index.hits(DIGITS) == []
    assert index.hits("x " + LABEL_SOUP + " y") == []
    assert index.stats["n_degenerate_skipped"] > 0


def test_code_answer_and_choices_are_indexed(index: BenchmarkIndex) -> None:
    code = "def f(numbers, threshold):\n" + HUMANEVAL_SOLUTION
    assert ("HumanEval", "HumanEval/0") in index.hits(code)
    choice = (
        "the storage should be tamper evident so that any modification to the stored "
        "identifiers is detected"
    )
    assert index.hits(choice) == [("ToyMCQ", "mcq:7")]


def test_ngrams_never_span_two_fields(index: BenchmarkIndex) -> None:
    # end of HumanEval's question + start of its answer: 13 tokens only across fields
    text = "closer together than the given threshold for idx elem in enumerate numbers for"
    assert len(text.split()) == 13
    assert index.hits(text) == []


def test_scan_counts_per_benchmark(index: BenchmarkIndex) -> None:
    docs = [
        ("d1", QUESTION),
        ("d2", "def g(numbers, threshold):\n" + HUMANEVAL_SOLUTION),
        ("d3", "clean text " * 20),
        ("d4", QUESTION + " and again"),
    ]
    result = index.scan(docs, batch_size=2)
    assert set(result.hits) == {"d1", "d2", "d4"}
    assert result.docs_per_benchmark == {"ToyMath": 2, "HumanEval": 1}
    assert result.items_per_benchmark == {"ToyMath": 1, "HumanEval": 1}
    meta = result.to_metadata()
    assert meta["n_docs"] == 4 and meta["n_contaminated"] == 3
    json.dumps(meta)


def test_min_shared_requires_longer_overlap(index: BenchmarkIndex) -> None:
    planted = "sheep and buys 3 more every spring after the storm only the sheep"
    assert index.hits(planted, min_shared=1)
    assert index.hits(planted, min_shared=2) == []
    assert index.hits(QUESTION, min_shared=5) == [("ToyMath", "toy:1")]


def test_template_ngrams_shared_by_many_items_are_skipped() -> None:
    template = "express your answer as a common fraction in lowest terms and simplest form please"
    records = [
        {"id": f"t{i}", "benchmark": "T", "question": f"What is {i} over {i + 1}? {template}"}
        for i in range(12)
    ]
    index = BenchmarkIndex.from_records(records, max_item_df=10)
    assert index.hits(f"Compute the ratio. {template}") == []
    assert index.stats["n_template_skipped"] > 0
    strict = BenchmarkIndex.from_records(records, max_item_df=100)
    assert strict.hits(f"Compute the ratio. {template}")


def test_index_metadata(index: BenchmarkIndex) -> None:
    assert index.benchmarks == ["HumanEval", "ToyMCQ", "ToyMath"]
    assert index.items_per_benchmark["ToyMath"] == 3
    assert index.ngrams_per_benchmark["HumanEval"] > 0
    assert len(index) == index.stats["n_ngrams"]


def test_choices_stored_as_string_repr_are_parsed() -> None:
    fields = benchmark_fields({"question": "q", "choices": "['A: first choice', 'B: second']"})
    assert fields == ["q", "first choice", "second"]


def test_missing_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        BenchmarkIndex.from_folder(tmp_path / "absent")


@pytest.mark.corpora
def test_shared_benchmarks_catch_planted_items_without_code_false_positives(
    corpora_dir: Path,
) -> None:
    index = BenchmarkIndex.from_folder(corpora_dir / "benchmarks")
    assert {"HumanEval", "SecEval", "CyberMetric"} <= set(index.benchmarks)
    with open(corpora_dir / "benchmarks" / "gsm8k_test.jsonl", encoding="utf-8") as fh:
        gsm = json.loads(fh.readline())
    planted = f"Problem:\n{gsm['question']}\n\nSolution:\nLet us think step by step."
    assert (gsm["benchmark"], gsm["id"]) in index.hits(planted)
    with open(corpora_dir / "code.jsonl", encoding="utf-8") as fh:
        code_docs = [(r["id"], r["text"]) for r in map(json.loads, fh)]
    result = index.scan(code_docs)
    # datatrove's digit-to-0 normalization produced hundreds of HumanEval hits here
    assert result.docs_per_benchmark.get("HumanEval", 0) < 10


# questions written for these tests: no 13-gram of theirs is indexable
SHORT = "Compute the cosine of 150 degrees."
DEGENERATE = "If $g(x)=4x^2-7$ and $h(x)=2x+3$, what is $g(h(2))-h(g(1))$ when $x$ is 5?"
TOO_SHORT = "Simplify $2^{10}$."


@pytest.fixture()
def short_index() -> BenchmarkIndex:
    records = [
        {"id": "s:1", "benchmark": "Short", "question": SHORT, "answer": "-0.866"},
        {"id": "s:2", "benchmark": "Short", "question": DEGENERATE},
        {"id": "s:3", "benchmark": "Short", "question": TOO_SHORT, "choices": ["A: 1024", "B: 2048"]},
        {"id": "s:4", "benchmark": "Short", "question": "Which is safe?", "choices": ["A: Encryption of data at rest"]},
    ]
    return BenchmarkIndex.from_records(records)


def test_a_question_shorter_than_n_is_matched_whole(short_index: BenchmarkIndex) -> None:
    # the GPT-3 rule: an item shorter than n tokens is matched whole, after normalization
    assert len(SHORT.split()) < 13
    planted = "Problem:\nCOMPUTE the cosine of 150   degrees!\n\nSolution:\nUse the unit circle."
    assert short_index.hits(planted) == [("Short", "s:1")]
    assert short_index.hits("Compute the cosine of 151 degrees.") == []
    assert short_index.hits("the cosine of 150 degrees") == []  # part of it is not the item


def test_a_question_whose_every_ngram_is_degenerate_is_matched_whole(short_index: BenchmarkIndex) -> None:
    assert len(words(DEGENERATE)) >= 13 and short_index.stats["n_whole_questions"] == 3
    assert short_index.hits(f"Solve this.\n{DEGENERATE}\nThen check.") == [("Short", "s:2")]
    assert short_index.hits(DEGENERATE.replace("is 5", "is 6")) == []


def test_too_short_questions_choices_and_answers_are_never_matched_whole(short_index: BenchmarkIndex) -> None:
    # "simplify 2 10" or a lone choice would match unrelated texts by coincidence
    assert short_index.hits("We simplify $2^{10}$ to 1024.") == []
    assert short_index.hits("Encryption of data at rest is required.") == []
    assert short_index.hits("The cosine is -0.866 here.") == []
    assert short_index.stats["n_whole_too_short"] == 1


def test_a_whole_match_passes_any_min_shared(short_index: BenchmarkIndex) -> None:
    assert short_index.hits(SHORT, min_shared=5) == [("Short", "s:1")]


def test_a_file_that_fails_to_load_is_named_and_the_rest_indexed(tmp_path: Path) -> None:
    folder = _write_benchmarks(tmp_path / "benchmarks")
    (folder / "broken.jsonl").write_text('{"id": "x:1", "question": "fine"}\n{"id": "x:2", "question": \n')
    (folder / "empty_record.jsonl").write_text('{"id": "y:1"}\n')
    index = BenchmarkIndex.from_folder(folder)
    assert set(index.load_errors) == {"broken", "empty_record"}
    assert "line 2" in index.load_errors["broken"] and "line 1" in index.load_errors["empty_record"]
    assert index.hits(QUESTION) == [("ToyMath", "toy:1")]


def test_a_folder_without_benchmark_files_is_a_load_error(tmp_path: Path) -> None:
    (tmp_path / "benchmarks").mkdir()
    assert BenchmarkIndex.from_folder(tmp_path / "benchmarks").load_errors
