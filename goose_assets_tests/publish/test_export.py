"""Exports: each format round-trips through its reader, re-exports are byte-identical,
writes are atomic and stay inside the exports root."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import random
import time
from pathlib import Path
from typing import Any

import datasets
import polars as pl
import pyarrow.parquet as pq
import pytest

from goose_assets.core.mixing import MixConfig, build_mix
from goose_assets.publish.export import (
    CARD_FILE,
    GOOSEREASON_FILE,
    HF_DATASET_DIR,
    MANIFEST_FILE,
    OPENRLHF_INPUT_KEY,
    OPENRLHF_LABEL_KEY,
    CardInfo,
    atomic_directory,
    atomic_file,
    atomic_write_bytes,
    export_dir_for,
    export_lock,
    export_lock_path,
    license_terms,
    user_prompt,
    write_exports,
    write_verl_parquet,
)
from goose_assets.reward import compute_score, extract_choice
from goose_assets_tests.core.synthetic_tasks import make_tasks

MIX = "unit-mix"


def _mixed_tasks(val_fraction: float = 0.25) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    pool = make_tasks({"math": 40, "code": 30, "science": 30, "cyber": 20})
    result = build_mix(pool, MixConfig(name=MIX, target_size=80, val_fraction=val_fraction))
    return result.tasks, result.report


def _card_info(report: dict[str, Any]) -> CardInfo:
    return CardInfo(
        mix_name=MIX,
        mix_report=report,
        backend="openai",
        model="Qwen/Qwen3-8B",
        student_model="Qwen/Qwen3-1.7B",
        prompt_versions=("synthesize_qa@1", "synthesize_passage@1"),
        filter_drops={"math": {"trivial_16_of_16": 4, "leak": 1}, "cyber": {"duplicate": 2}},
    )


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    tasks, report = _mixed_tasks()
    root = tmp_path_factory.mktemp("exports")
    write_exports(tasks, root, _card_info(report))
    return root / MIX, tasks


def _by_id(tasks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {task["task_id"]: task for task in tasks}


# ---------------------------------------------------------------- round trips


def test_goosereason_jsonl_round_trips(exported: tuple[Path, list[dict[str, Any]]]) -> None:
    out_dir, tasks = exported
    lines = (out_dir / GOOSEREASON_FILE).read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) == len(tasks)
    source = _by_id(tasks)
    for row in rows:
        assert list(row) == [
            "question", "options", "answer", "task_id", "domain", "source_doc_id", "split"
        ]  # fmt: skip
        task = source[row["task_id"]]
        assert row["question"] == task["question"]  # instruction + masked context, no options
        assert row["options"] == task["options"]  # unlettered
        assert (
            row["options"][ord(row["answer"]) - ord("A")] == task["options"][task["answer_index"]]
        )
        assert row["source_doc_id"] == task["doc_id"]
    # train rows first, then validation
    splits = [row["split"] for row in rows]
    assert splits == sorted(splits, key=["train", "validation"].index)


def test_verl_parquet_round_trips(exported: tuple[Path, list[dict[str, Any]]]) -> None:
    out_dir, tasks = exported
    source = _by_id(tasks)
    total = 0
    for split in ("train", "validation"):
        path = out_dir / "verl" / f"{split}.parquet"
        table = pq.read_table(path)
        assert table.column_names == [
            "data_source", "prompt", "ability", "reward_model", "extra_info"
        ]  # fmt: skip
        frame = pl.read_parquet(path)
        assert frame.height == table.num_rows
        rows = table.to_pylist()
        assert [row["extra_info"]["index"] for row in rows] == list(range(len(rows)))
        for row in rows:
            task = source[row["extra_info"]["task_id"]]
            assert row["extra_info"]["split"] == split == task["split"]
            assert row["data_source"] == f"goose/{task['domain']}"
            assert row["ability"] == task["domain"]
            assert row["reward_model"] == {"style": "rule", "ground_truth": task["answer_letter"]}
            assert row["extra_info"]["n_options"] == len(task["options"])
            (message,) = row["prompt"]
            assert message["role"] == "user"
            assert message["content"] == user_prompt(task["question"], task["options"])
            # the prompt is scorable: the right letter gets 1, the prompt alone gets nothing
            ground_truth = row["reward_model"]["ground_truth"]
            response = f"Reasoning...\nAnswer: {ground_truth}"
            assert (
                compute_score(row["data_source"], response, ground_truth, row["extra_info"]) == 1.0
            )
        total += len(rows)
    assert total == len(tasks)


def test_trainer_prompt_is_the_difficulty_rollout_prompt() -> None:
    from goose_assets.core.filtering.difficulty import student_request

    tasks, _ = _mixed_tasks()
    for task in tasks[:5]:
        rollout_prompt = student_request(task, n=1).messages[-1]["content"]
        assert user_prompt(task["question"], task["options"]) == rollout_prompt


def test_user_prompt_letters_options_and_asks_for_a_letter() -> None:
    prompt = user_prompt("Fill the [MASK].", ["alpha", "beta", "gamma"])
    assert "Options:\n(A) alpha\n(B) beta\n(C) gamma" in prompt
    assert '"Answer: X"' in prompt
    assert extract_choice(prompt) is None  # the instruction's X is no answer


def test_openrlhf_jsonl_round_trips(exported: tuple[Path, list[dict[str, Any]]]) -> None:
    out_dir, tasks = exported
    source = _by_id(tasks)
    total = 0
    for split in ("train", "validation"):
        path = out_dir / "openrlhf" / f"{split}.jsonl"
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        assert pl.read_ndjson(path).height == len(rows)
        for row in rows:
            task = source[row["task_id"]]
            assert task["split"] == split
            assert row[OPENRLHF_LABEL_KEY] == task["answer_letter"]
            assert row[OPENRLHF_INPUT_KEY] == user_prompt(task["question"], task["options"])
        total += len(rows)
    assert total == len(tasks)


def test_trainers_dataset_loaders_read_the_files(
    exported: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    # verl and OpenRLHF both load their files through datasets.load_dataset
    out_dir, tasks = exported
    verl = datasets.load_dataset(
        "parquet",
        data_files={s: str(out_dir / "verl" / f"{s}.parquet") for s in ("train", "validation")},
        cache_dir=str(tmp_path),
    )
    assert sum(verl.num_rows.values()) == len(tasks)
    assert verl["train"][0]["prompt"][0]["role"] == "user"
    openrlhf = datasets.load_dataset(
        "json", data_files=str(out_dir / "openrlhf" / "train.jsonl"), cache_dir=str(tmp_path)
    )
    assert {OPENRLHF_INPUT_KEY, OPENRLHF_LABEL_KEY} <= set(openrlhf["train"].column_names)


def test_hf_dataset_round_trips(exported: tuple[Path, list[dict[str, Any]]]) -> None:
    out_dir, tasks = exported
    loaded = datasets.load_from_disk(str(out_dir / HF_DATASET_DIR))
    assert isinstance(loaded, datasets.DatasetDict)
    assert set(loaded) == {"train", "validation"}
    source = _by_id(tasks)
    for split, dataset in loaded.items():
        assert dataset.num_rows == sum(task["split"] == split for task in tasks)
        for row in dataset:
            task = source[row["task_id"]]
            assert row["question"] == task["question"]
            assert row["options"] == task["options"]
            assert row["answer"] == task["answer_letter"]
            assert row["answer_index"] == task["answer_index"]
            assert row["license"] == task["license"]
            assert row["pass_rate"] == task["pass_rate"]


def test_card_carries_licences_counts_generator_filters_and_lineage(
    exported: tuple[Path, list[dict[str, Any]]],
) -> None:
    out_dir, tasks = exported
    card = (out_dir / CARD_FILE).read_text(encoding="utf-8")
    assert card.startswith("---\nlicense: other\n")
    assert "NON-COMMERCIAL DATA INSIDE" in card
    assert "openstax/osbooks-chemistry-bundle" in card
    assert "ShareAlike" in card
    assert (
        "© 2025 The MITRE Corporation. This work is reproduced and distributed with the "
        "permission of The MITRE Corporation." in card
    )
    science_rows = sum(task["domain"] == "science" for task in tasks)
    assert any(
        line.startswith("| science |") and line.endswith(f"| {science_rows} |")
        for line in card.splitlines()
    )
    assert "`openai`, model `Qwen/Qwen3-8B`" in card
    assert "`Qwen/Qwen3-1.7B`" in card
    assert "`student@1`" in card and "`synthesize_qa@1`" in card
    assert "| trivial_16_of_16 |" in card
    assert f"--input_key {OPENRLHF_INPUT_KEY} --label_key {OPENRLHF_LABEL_KEY}" in card
    chain = " → ".join(
        f"`{name}`"
        for name in (
            "raw_documents",
            "extracted_passages",
            "masked_items",
            "mcq_tasks",
            "task_difficulty",
            "filtered_tasks",
            "training_mix",
        )
    )
    assert chain in card


def test_license_terms() -> None:
    nc_sa = license_terms("CC BY-NC-SA 4.0 (NON-COMMERCIAL; per repo LICENSE)")
    assert nc_sa.non_commercial and nc_sa.share_alike and nc_sa.attribution
    by_sa = license_terms("CC BY-SA 4.0 (OWASP/wstg LICENSE)")
    assert by_sa.share_alike and not by_sa.non_commercial
    mit = license_terms("MIT (TheAlgorithms/Python LICENSE.md)")
    assert not (mit.non_commercial or mit.share_alike or mit.mitre_notice or mit.restricted)
    mitre = license_terms("MITRE ATT&CK Terms of Use", "mitre/cti")
    assert mitre.mitre_notice.startswith("© 2025 The MITRE Corporation")
    web = license_terms("Page content: copyright of original site owners; repo is MIT")
    assert web.restricted


# ---------------------------------------------------------------- reproducibility


def test_reexport_is_byte_identical_whatever_the_input_order(
    exported: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    out_dir, _ = exported
    tasks, report = _mixed_tasks()
    random.Random(5).shuffle(tasks)
    write_exports(tasks, tmp_path, _card_info(report))
    assert _tree_bytes(tmp_path / MIX) == _tree_bytes(out_dir)  # HF directory included


def test_rewrite_in_place_is_identical_and_leaves_no_temp_files(tmp_path: Path) -> None:
    tasks, report = _mixed_tasks()
    write_exports(tasks, tmp_path, _card_info(report))
    before = _tree_bytes(tmp_path / MIX)
    write_exports(tasks, tmp_path, _card_info(report))
    assert _tree_bytes(tmp_path / MIX) == before
    assert [p for p in tmp_path.rglob(".*")] == [export_lock_path(tmp_path, MIX)]  # the lock file is no temp


def test_manifest_hashes_match_files(exported: tuple[Path, list[dict[str, Any]]]) -> None:
    out_dir, tasks = exported
    manifest = _assert_manifest_matches_files(out_dir)
    assert "hf_dataset/train/state.json" in manifest["files"]
    assert sum(manifest["rows"].values()) == len(tasks)


def test_empty_validation_split_still_gets_files(tmp_path: Path) -> None:
    tasks, report = _mixed_tasks(val_fraction=0.0)
    write_exports(tasks, tmp_path, _card_info(report))
    out_dir = tmp_path / MIX
    assert pq.read_table(out_dir / "verl" / "validation.parquet").num_rows == 0
    assert (out_dir / "openrlhf" / "validation.jsonl").read_bytes() == b""
    assert datasets.load_from_disk(str(out_dir / HF_DATASET_DIR))["validation"].num_rows == 0


# ---------------------------------------------------------------- safety


@pytest.mark.parametrize("name", ["../evil", "a/b", "..", 'x"y', "x;rm -rf", "/abs", ""])
def test_unsafe_mix_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError):
        export_dir_for(tmp_path, name)


def test_write_exports_refuses_traversal_and_writes_nothing(tmp_path: Path) -> None:
    tasks, report = _mixed_tasks()
    root = tmp_path / "exports"
    root.mkdir()
    bad = CardInfo(mix_name="../escaped", mix_report=report)
    with pytest.raises(ValueError):
        write_exports(tasks, root, bad)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exports"]
    assert not any(root.iterdir())


def test_symlinked_mix_dir_pointing_outside_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "exports"
    outside = tmp_path / "elsewhere"
    root.mkdir()
    outside.mkdir()
    (root / "sneaky").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ValueError, match="outside"):
        export_dir_for(root, "sneaky")


def test_symlinked_subdir_pointing_outside_is_refused(tmp_path: Path) -> None:
    tasks, report = _mixed_tasks()
    root = tmp_path / "exports"
    outside = tmp_path / "elsewhere"
    (root / MIX).mkdir(parents=True)
    outside.mkdir()
    (root / MIX / "verl").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ValueError, match="outside"):
        write_exports(tasks, root, _card_info(report))
    assert not any(outside.iterdir())


def test_malformed_tasks_are_refused(tmp_path: Path) -> None:
    tasks, _ = _mixed_tasks()
    broken = [dict(tasks[0], answer_letter="Z"), *tasks[1:]]
    with pytest.raises(ValueError, match="answer_letter"):
        write_verl_parquet(broken, tmp_path)
    with pytest.raises(ValueError, match="split"):
        write_verl_parquet([{k: v for k, v in tasks[0].items() if k != "split"}], tmp_path)


def test_failed_file_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "data.jsonl"
    atomic_write_bytes(target, b"old\n")
    with pytest.raises(RuntimeError), atomic_file(target) as staging:
        staging.write_bytes(b"half of the new")
        raise RuntimeError("crash mid-write")
    assert target.read_bytes() == b"old\n"
    assert sorted(os.listdir(tmp_path)) == ["data.jsonl"]


def test_failed_directory_write_keeps_the_old_directory(tmp_path: Path) -> None:
    target = tmp_path / "hf"
    with atomic_directory(target) as staging:
        (staging / "a.txt").write_text("old")
    with pytest.raises(RuntimeError), atomic_directory(target) as staging:
        (staging / "a.txt").write_text("new, half")
        raise RuntimeError("crash mid-write")
    assert (target / "a.txt").read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["hf"]
    with atomic_directory(target) as staging:
        (staging / "b.txt").write_text("new")
    assert sorted(os.listdir(target)) == ["b.txt"]  # replaced whole, not merged


# ---------------------------------------------------------------- writers at once


def _export_rounds(root: str, val_fraction: float, rounds: int, started: str) -> None:
    tasks, report = _mixed_tasks(val_fraction)
    Path(started).touch()
    for _ in range(rounds):
        write_exports(tasks, root, _card_info(report))


def _spawn(*args: object) -> multiprocessing.process.BaseProcess:
    # spawn, not fork: a forked child of a pytest process with threads can deadlock
    process = multiprocessing.get_context("spawn").Process(target=_export_rounds, args=args)
    process.start()
    return process


def _assert_manifest_matches_files(out_dir: Path) -> dict[str, Any]:
    manifest = json.loads((out_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
    on_disk = {p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*") if p.is_file()} - {MANIFEST_FILE}
    assert set(manifest["files"]) == on_disk
    for relative, entry in manifest["files"].items():
        assert hashlib.sha256((out_dir / relative).read_bytes()).hexdigest() == entry["sha256"], relative
    return manifest


def test_writers_at_once_leave_one_whole_export(tmp_path: Path) -> None:
    """Partitions on Celery workers export the same mix at once (CI saw a manifest hash a
    retired `.hf_dataset.old-*` directory the other writer was deleting). Two processes
    writing different mixes in a loop must each succeed, and what is left is one writer's
    export whole: its manifest hashes exactly the files there."""
    writers = [_spawn(str(tmp_path), fraction, 8, str(tmp_path / f"started-{i}")) for i, fraction in enumerate((0.25, 0.5))]
    for writer in writers:
        writer.join(timeout=300)
    assert [w.exitcode for w in writers] == [0, 0]
    manifest = _assert_manifest_matches_files(tmp_path / MIX)
    one_of = [_mixed_tasks(fraction)[0] for fraction in (0.25, 0.5)]
    rows = [{s: sum(t["split"] == s for t in tasks) for s in ("train", "validation")} for tasks in one_of]
    assert manifest["rows"] in rows
    exported_rows = [json.loads(line) for line in (tmp_path / MIX / GOOSEREASON_FILE).read_text(encoding="utf-8").splitlines()]
    assert manifest["rows"] == {s: sum(r["split"] == s for r in exported_rows) for s in ("train", "validation")}


def test_a_writer_waits_while_the_export_lock_is_held(tmp_path: Path) -> None:
    started = tmp_path / "started"
    with export_lock(tmp_path, MIX):
        writer = _spawn(str(tmp_path), 0.25, 1, str(started))
        deadline = time.monotonic() + 120
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.5)  # ample for one export of 80 tasks, were it not waiting
        assert started.exists() and writer.is_alive()
        assert not (tmp_path / MIX / MANIFEST_FILE).exists()
        with export_lock(tmp_path, MIX):  # re-entrant in the holder: no self-deadlock
            pass
    writer.join(timeout=120)
    assert writer.exitcode == 0
    _assert_manifest_matches_files(tmp_path / MIX)
    assert export_lock_path(tmp_path, MIX).exists()


def test_a_retired_directory_left_in_the_export_is_not_in_the_manifest(tmp_path: Path) -> None:
    tasks, report = _mixed_tasks()
    retired = tmp_path / MIX / ".hf_dataset.old-1-abc" / "validation"
    retired.mkdir(parents=True)
    (retired / "data-00000-of-00001.arrow").write_bytes(b"an old shard")
    manifest = write_exports(tasks, tmp_path, _card_info(report))
    assert not [name for name in manifest.files if "old" in name]


# ---------------------------------------------------------------- an empty mix (issue 16)


@pytest.fixture(scope="module")
def empty_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    report = build_mix([], MixConfig(name=MIX)).report
    causes = {"math": "no source in /data/corpus", "cyber": "6 passages, but every item was quarantined at synthesis (schema_violation: 6)"}
    info = CardInfo(mix_name=MIX, mix_report=report, empty_domains=causes)
    manifest = write_exports([], tmp_path_factory.mktemp("empty"), info)
    assert manifest.rows == {"train": 0, "validation": 0}
    return manifest.export_dir


def test_an_empty_mix_writes_every_format_valid_and_empty(empty_export: Path) -> None:
    assert (empty_export / GOOSEREASON_FILE).read_bytes() == b""
    for split in ("train", "validation"):
        assert (empty_export / "openrlhf" / f"{split}.jsonl").read_bytes() == b""
        table = pq.read_table(empty_export / "verl" / f"{split}.parquet")
        assert table.num_rows == 0
        assert table.column_names == ["data_source", "prompt", "ability", "reward_model", "extra_info"]
    loaded = datasets.load_from_disk(str(empty_export / HF_DATASET_DIR))
    assert set(loaded) == {"train", "validation"} and all(loaded[s].num_rows == 0 for s in loaded)
    assert {"question", "options", "answer", "license"} <= set(loaded["train"].features)


def test_an_empty_mix_card_and_manifest_say_it_is_empty_and_why(empty_export: Path) -> None:
    card = (empty_export / CARD_FILE).read_text(encoding="utf-8")
    assert "**This export is empty: no task survived the pipeline.**" in card
    assert "## Domains without rows" in card
    assert "- **math**: no source in /data/corpus" in card
    assert "- **cyber**: 6 passages, but every item was quarantined at synthesis (schema_violation: 6)" in card
    assert "Selection: every kept task, in natural proportions: 0 of 0 kept tasks." in card
    manifest = json.loads((empty_export / MANIFEST_FILE).read_text(encoding="utf-8"))
    assert manifest["rows"] == {"train": 0, "validation": 0}
    assert manifest["mix"]["empty_domains"]["math"] == "no source in /data/corpus"
    assert manifest["mix"]["left_out"] == 0 and manifest["mix"]["weighted"] is False


def test_a_card_with_rows_has_no_empty_banner(exported: tuple[Path, list[dict[str, Any]]]) -> None:
    out_dir, _ = exported
    assert "This export is empty" not in (out_dir / CARD_FILE).read_text(encoding="utf-8")


def test_the_export_table_reads_back_with_its_columns_even_when_empty(empty_export: Path) -> None:
    from goose_assets.publish.expectations import read_export_table, validate_training_table

    table = read_export_table(empty_export / GOOSEREASON_FILE)
    assert len(table) == 0 and list(table.columns) == ["question", "options", "answer", "task_id", "domain", "source_doc_id", "split"]
    passed, summary = validate_training_table(table)
    assert passed and summary["n_rows"] == 0  # an empty table with the export's schema conforms


def test_the_export_table_keeps_mistyped_values_for_the_suite(
    exported: tuple[Path, list[dict[str, Any]]], tmp_path: Path
) -> None:
    from goose_assets.publish.expectations import read_export_table, validate_training_table

    out_dir, tasks = exported
    lines = (out_dir / GOOSEREASON_FILE).read_text(encoding="utf-8").splitlines()
    table = read_export_table(out_dir / GOOSEREASON_FILE)
    assert len(table) == len(tasks) and table["task_id"].tolist() == [json.loads(line)["task_id"] for line in lines]
    broken = json.loads(lines[0]) | {"answer": 3}
    path = tmp_path / GOOSEREASON_FILE
    path.write_text("\n".join([json.dumps(broken), *lines[1:]]) + "\n", encoding="utf-8")
    mistyped = read_export_table(path)
    assert mistyped["answer"].iloc[0] == 3  # not cast to "3", as polars or DuckDB would
    passed, summary = validate_training_table(mistyped)
    failed = {e["expectation"] for e in summary["expectations"] if not e["success"]}
    assert not passed and "expect_column_values_to_be_of_type(answer)" in failed


def test_a_polars_frame_exports_the_same_bytes_in_any_number_of_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`training_mix` hands the exporter a polars frame and the exporter streams it in
    chunks: the files are the ones one list of dicts in one chunk gives, the HF dataset's
    Arrow files included (datasets writes a chunked table into other bytes)."""
    import polars as pl

    from goose_assets.publish import export

    pool = make_tasks({"math": 900, "code": 700, "science": 600, "cyber": 500})
    tasks = build_mix(pool, MixConfig(name=MIX, val_fraction=0.25)).tasks
    info = _card_info({})
    write_exports(tasks, tmp_path / "dicts", info)
    monkeypatch.setattr(export, "_CHUNK_ROWS", 1000)
    write_exports(pl.DataFrame(tasks), tmp_path / "frame", info)
    assert _tree_bytes(tmp_path / "dicts" / MIX) == _tree_bytes(tmp_path / "frame" / MIX)
