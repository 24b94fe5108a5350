"""Trainer-ready exports of a training mix: atomic, byte-reproducible, licence-aware.

``write_exports(tasks, root, card_info)`` writes everything for one mix under
``<root>/<mix name>/`` (the caller passes ``root = $GOOSE_HOME/exports``)::

    goosereason.jsonl      {question, options, answer} + task_id, domain, source_doc_id, split
    verl/train.parquet     verl RL rows (and verl/validation.parquet)
    openrlhf/train.jsonl   OpenRLHF prompt data (and openrlhf/validation.jsonl)
    hf_dataset/            datasets.DatasetDict.save_to_disk (train, validation)
    README.md              dataset card (``publish/dataset_card.py``)
    manifest.json          sha256 and size of every file above, row counts per split

Input tasks are the output of ``goose_assets.core.mixing.build_mix``: mappings with
``REQUIRED_EXPORT_KEYS`` (``split`` included). ``question`` must hold the instruction and
the masked context *without* the options; ``options`` are unlettered strings and
``answer_letter`` is the letter of ``options[answer_index]``. Optional keys used when
present: ``pass_rate``, ``difficulty_bucket``, ``backend``, ``model``, ``prompt_version``.

Guarantees:

* **Atomic** (``publish/atomic_io.py``). Every file is written to a hidden temp file in its
  own directory, fsynced, then ``os.replace``d; the HF dataset directory is built in a
  temp directory and swapped in with two renames (absent for the instant between them,
  never half-written). Files are replaced one by one and ``manifest.json`` last, so a
  manifest whose hashes match the files marks a complete export.
* **Reproducible.** Rows are ordered by split, then by a hash of ``task_id`` (never by
  input order); JSON has a fixed key order; parquet has pinned writer settings; the HF
  dataset gets a content-derived fingerprint; nothing holds a timestamp. Re-exporting the
  same tasks with the same library versions gives byte-identical files, the HF dataset
  directory included.
* **One writer at a time.** ``write_exports`` holds ``export_lock(root, mix)`` (a ``flock``
  on ``<root>/.<mix>.lock``): partitions materialized at once (Celery workers, the
  multiprocess executor) would otherwise interleave files, and a manifest would hash
  another writer's files or a directory it is swapping out. A caller that reads what to
  export from the warehouse holds the same lock around the read too, so a slower writer
  never overwrites a newer mix with an older one.
* **Contained.** The mix name must be a slug, and every target path must resolve inside
  ``root`` (a symlink pointing elsewhere is refused).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from goose_assets.core.mixing import SPLITS, validate_mix_name
from goose_assets.core.prompts import student_messages
from goose_assets.core.synthesis.mcq import student_prompt
from goose_assets.publish.atomic_io import (
    FileLock,
    atomic_directory,
    atomic_file,
    atomic_write_bytes,
)
from goose_assets.publish.dataset_card import CardInfo, license_terms, render_card
from goose_assets.publish.layout import (
    CARD_FILE,
    GOOSEREASON_COLUMNS,
    GOOSEREASON_FILE,
    HF_DATASET_DIR,
    LINEAGE,
    MANIFEST_FILE,
    OPENRLHF_DIR,
    OPENRLHF_INPUT_KEY,
    OPENRLHF_LABEL_KEY,
    REQUIRED_EXPORT_KEYS,
    VERL_DIR,
)

if TYPE_CHECKING:
    import datasets

__all__ = [
    "CARD_FILE",
    "GOOSEREASON_COLUMNS",
    "GOOSEREASON_FILE",
    "HF_DATASET_DIR",
    "LINEAGE",
    "MANIFEST_FILE",
    "OPENRLHF_DIR",
    "OPENRLHF_INPUT_KEY",
    "OPENRLHF_LABEL_KEY",
    "REQUIRED_EXPORT_KEYS",
    "VERL_DIR",
    "CardInfo",
    "ExportManifest",
    "atomic_directory",
    "atomic_file",
    "atomic_write_bytes",
    "export_dir_for",
    "export_lock",
    "export_lock_path",
    "export_order",
    "license_terms",
    "push_hf_dataset_to_hub",
    "render_card",
    "user_prompt",
    "write_card",
    "write_exports",
    "write_goosereason_jsonl",
    "write_hf_dataset",
    "write_openrlhf_jsonl",
    "write_verl_parquet",
]

# parquet settings are pinned so the bytes only change when the data (or pyarrow) does
_PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "row_group_size": 8192,
    "data_page_version": "1.0",
}
_EXPORT_ORDER_SALT = "goose-export-v1"
_JSONL_BUFFER_BYTES = 1 << 20


# ------------------------------------------------------------------------ paths


def export_dir_for(root: str | os.PathLike[str], mix_name: str) -> Path:
    """``<root>/<mix_name>``, resolved and checked to lie directly inside ``root``.

    Raises ValueError for a mix name that is not a slug (quotes, ``;``, ``/``, ``..``)
    or whose directory resolves outside ``root`` (a symlink planted there). Creates
    nothing.
    """
    name = validate_mix_name(mix_name)
    resolved_root = Path(root).resolve()
    candidate = (resolved_root / name).resolve()
    if candidate.parent != resolved_root:
        raise ValueError(f"export dir {candidate} for mix {name!r} is outside {resolved_root}")
    return candidate


_export_locks: dict[str, FileLock] = {}
_export_locks_guard = threading.Lock()


def export_lock_path(root: str | os.PathLike[str], mix_name: str) -> Path:
    """``<root>/.<mix_name>.lock``: the file ``export_lock`` locks. It stays once made (it
    is not a staging leftover): removing it while held would let a second lock begin."""
    path = export_dir_for(root, mix_name)
    return path.with_name(f".{path.name}.lock")


def export_lock(root: str | os.PathLike[str], mix_name: str) -> AbstractContextManager[None]:
    """The exclusive lock on one mix's exports under ``root``: held, no other process or
    thread writes them; re-entrant in the holding thread (``write_exports`` takes it
    again inside a caller's hold). The lock file is hidden beside the mix directory, so
    it is never export content."""
    lock_path = str(export_lock_path(root, mix_name))
    Path(lock_path).parent.mkdir(parents=True, exist_ok=True)
    with _export_locks_guard:  # one FileLock per path, or the in-process re-entry is lost
        lock = _export_locks.setdefault(lock_path, FileLock(lock_path))
    return lock.held()


def _ensure_inside(root: Path, path: Path) -> None:
    resolved = path.resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise ValueError(f"refusing to write {resolved}: outside {root.resolve()}")


# ------------------------------------------------------------------------ rows


def _validate_task(task: Mapping[str, Any]) -> None:
    task_id = task.get("task_id")
    missing = [key for key in REQUIRED_EXPORT_KEYS if key not in task]
    if missing:
        raise ValueError(f"task {task_id!r} lacks keys {missing}")
    options, index = task["options"], task["answer_index"]
    if task["split"] not in SPLITS:
        raise ValueError(f"task {task_id!r}: split {task['split']!r} not in {SPLITS}")
    if not isinstance(options, list | tuple) or not 1 <= len(options) <= 26:
        raise ValueError(f"task {task_id!r}: options must be a list of 1..26 strings")
    if not isinstance(index, int) or not 0 <= index < len(options):
        raise ValueError(f"task {task_id!r}: answer_index {index!r} out of range")
    if task["answer_letter"] != chr(ord("A") + index):
        raise ValueError(f"task {task_id!r}: answer_letter disagrees with answer_index")
    for text in (task["question"], *options):
        if not isinstance(text, str):
            raise ValueError(f"task {task_id!r}: question and options must be str")
        # a lone surrogate makes a file some readers reject: fail here, naming the task
        text.encode("utf-8")


def export_order(tasks: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Tasks in export order: train then validation, each shuffled by a hash of task_id.

    The order depends on the task ids only, so an export is byte-identical however the
    caller fetched the rows (a warehouse query without ORDER BY included).
    """

    return sorted(tasks, key=_order_key)


def _order_key(task: Mapping[str, Any]) -> tuple[int, str, str]:
    digest = hashlib.sha256(f"{_EXPORT_ORDER_SALT}\x1f{task['task_id']}".encode()).hexdigest()
    return (SPLITS.index(task["split"]), digest, task["task_id"])


def user_prompt(question: str, options: Sequence[str]) -> str:
    """The user message a trainer sends: question, lettered options, answer-format line.

    Exactly the prompt the task_difficulty stage gave the student (``mcq.student_prompt``
    inside the student template), so difficulty was measured on what the policy trains
    on. The template asks for a final ``Answer: X``, which ``goose_assets.reward`` parses.
    """
    _, messages = student_messages(student_prompt(question, list(options)))
    return messages[-1]["content"]


# rows per chunk where an export streams the mix: the Python dicts of one chunk at a time
_CHUNK_ROWS = 8000
# what the dataset card reads from each task
_CARD_KEYS = ("domain", "split", "license", "source", "backend", "model", "prompt_version")


class _TaskTable:
    """The tasks of an export, as a polars frame (the asset: Arrow buffers, no Python object
    per task) or a sequence of mappings (tests, small callers), read in chunks of dicts."""

    def __init__(self, tasks: pl.DataFrame | Sequence[Mapping[str, Any]]) -> None:
        self.tasks = tasks
        self.height = tasks.height if isinstance(tasks, pl.DataFrame) else len(tasks)

    def rows(self, indices: Sequence[int]) -> list[Mapping[str, Any]]:
        if isinstance(self.tasks, pl.DataFrame):
            return self.tasks[list(indices)].to_dicts() if len(indices) else []
        return [self.tasks[i] for i in indices]

    def chunks(self, indices: Sequence[int] | None = None, size: int | None = None) -> Iterator[list[Mapping[str, Any]]]:
        indices = range(self.height) if indices is None else indices
        size = size or _CHUNK_ROWS
        for start in range(0, len(indices), size):
            yield self.rows(indices[start : start + size])

    def card_rows(self) -> list[Mapping[str, Any]]:
        """Each task's fields that the dataset card reads."""
        if isinstance(self.tasks, pl.DataFrame):
            return self.tasks.select([k for k in _CARD_KEYS if k in self.tasks.columns]).to_dicts()
        return list(self.tasks)


@dataclass(frozen=True, slots=True)
class _Prepared:
    """Validated tasks: per split, the row numbers of its tasks in export order."""

    table: _TaskTable
    by_split: dict[str, list[int]]

    def ordered(self, split: str, size: int | None = None) -> Iterator[list[Mapping[str, Any]]]:
        """A split's tasks in export order, chunk by chunk."""
        return self.table.chunks(self.by_split[split], size)


def _prepare(tasks: pl.DataFrame | Sequence[Mapping[str, Any]]) -> _Prepared:
    table = _TaskTable(tasks)
    seen: set[str] = set()
    keys: list[tuple[int, str, str, int]] = []
    for start, chunk in zip(range(0, table.height, _CHUNK_ROWS), table.chunks(), strict=True):
        for offset, task in enumerate(chunk):
            _validate_task(task)
            if task["task_id"] in seen:
                raise ValueError(f"duplicate task_id {task['task_id']!r}")
            seen.add(task["task_id"])
            keys.append((*_order_key(task), start + offset))
    by_split: dict[str, list[int]] = {split: [] for split in SPLITS}
    for key in sorted(keys):
        by_split[SPLITS[key[0]]].append(key[3])
    return _Prepared(table, by_split)


def _task_prompt(task: Mapping[str, Any]) -> str:
    return user_prompt(task["question"], task["options"])


def _goosereason_row(task: Mapping[str, Any]) -> dict[str, Any]:
    # keys in GOOSEREASON_COLUMNS order
    return {
        "question": task["question"],
        "options": list(task["options"]),
        "answer": task["answer_letter"],
        "task_id": task["task_id"],
        "domain": task["domain"],
        "source_doc_id": task["doc_id"],
        "split": task["split"],
    }


def _verl_row(task: Mapping[str, Any], prompt: str, index: int) -> dict[str, Any]:
    return {
        "data_source": f"goose/{task['domain']}",
        "prompt": [{"role": "user", "content": prompt}],
        "ability": task["domain"],
        "reward_model": {"style": "rule", "ground_truth": task["answer_letter"]},
        "extra_info": {
            "split": task["split"],
            "index": index,
            "task_id": task["task_id"],
            "n_options": len(task["options"]),
        },
    }


def _openrlhf_row(task: Mapping[str, Any], prompt: str) -> dict[str, Any]:
    return {
        OPENRLHF_INPUT_KEY: prompt,
        OPENRLHF_LABEL_KEY: task["answer_letter"],
        "task_id": task["task_id"],
        "domain": task["domain"],
    }


def _hf_row(task: Mapping[str, Any], prompt: str) -> dict[str, Any]:
    pass_rate = task.get("pass_rate")
    return {
        **_goosereason_row(task),
        "answer_index": task["answer_index"],
        "prompt": prompt,
        "source": task["source"],
        "license": task["license"],
        "difficulty_bucket": task.get("difficulty_bucket") or "",
        "pass_rate": None if pass_rate is None else float(pass_rate),
    }


def _json_line(row: Mapping[str, Any]) -> bytes:
    return (json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def _write_jsonl(path: Path, rows: Iterable[Mapping[str, Any]]) -> None:
    # streamed: a 700k-row mix never sits in memory as one string
    with atomic_file(path) as staging, open(staging, "wb", buffering=_JSONL_BUFFER_BYTES) as out:
        for row in rows:
            out.write(_json_line(row))


# ------------------------------------------------------------------------ writers


def _write_goosereason(prepared: _Prepared, out_dir: Path) -> Path:
    path = out_dir / GOOSEREASON_FILE
    rows = (_goosereason_row(task) for split in SPLITS for chunk in prepared.ordered(split) for task in chunk)
    _write_jsonl(path, rows)
    return path


def write_goosereason_jsonl(tasks: pl.DataFrame | Sequence[Mapping[str, Any]], out_dir: Path) -> Path:
    """``out_dir/goosereason.jsonl``: the paper's released schema plus lineage and split."""
    return _write_goosereason(_prepare(tasks), Path(out_dir))


def _verl_schema() -> pa.Schema:
    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    extra_info = pa.struct(
        [
            ("split", pa.string()),
            ("index", pa.int64()),
            ("task_id", pa.string()),
            ("n_options", pa.int64()),
        ]
    )
    return pa.schema(
        [
            ("data_source", pa.string()),
            ("prompt", pa.list_(message)),
            ("ability", pa.string()),
            ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
            ("extra_info", extra_info),
        ]
    )


def _write_verl(prepared: _Prepared, out_dir: Path) -> dict[str, Path]:
    schema = _verl_schema()
    paths: dict[str, Path] = {}
    group = _PARQUET_OPTIONS["row_group_size"]
    options = {k: v for k, v in _PARQUET_OPTIONS.items() if k != "row_group_size"}
    for split in SPLITS:
        path = out_dir / VERL_DIR / f"{split}.parquet"
        # built and written one row group at a time: a 50K-task split never sits in
        # memory as rows plus a table (the file is the one write_table would make)
        with atomic_file(path) as staging, pq.ParquetWriter(staging, schema, **options) as writer:
            start = 0
            for chunk in prepared.ordered(split, group):
                rows = [_verl_row(task, _task_prompt(task), start + offset) for offset, task in enumerate(chunk)]
                writer.write_table(pa.Table.from_pylist(rows, schema=schema), row_group_size=group)
                start += len(chunk)
            if not start:  # an empty split: one empty row group, as write_table writes
                writer.write_table(pa.Table.from_pylist([], schema=schema), row_group_size=group)
        paths[split] = path
    pa.default_memory_pool().release_unused()  # the row groups' buffers, kept by Arrow's allocator
    return paths


def write_verl_parquet(tasks: Sequence[Mapping[str, Any]], out_dir: Path) -> dict[str, Path]:
    """``out_dir/verl/{train,validation}.parquet``, one verl row per task.

    Both files are always written (an empty split gets an empty file with the schema), so
    a stale file from an earlier export can never survive. ``extra_info.index`` is the row
    number within its split file. Reward: ``goose_assets.reward.compute_score``.
    """
    return _write_verl(_prepare(tasks), Path(out_dir))


def _write_openrlhf(prepared: _Prepared, out_dir: Path) -> dict[str, Path]:
    paths: dict[str, Path] = {}
    for split in SPLITS:
        path = out_dir / OPENRLHF_DIR / f"{split}.jsonl"
        _write_jsonl(path, (_openrlhf_row(t, _task_prompt(t)) for chunk in prepared.ordered(split) for t in chunk))
        paths[split] = path
    return paths


def write_openrlhf_jsonl(tasks: Sequence[Mapping[str, Any]], out_dir: Path) -> dict[str, Path]:
    """``out_dir/openrlhf/{train,validation}.jsonl`` for OpenRLHF's ``--prompt_data``.

    Use ``--input_key prompt --label_key label --apply_chat_template`` and the reward
    ``--remote_rm_url goose_assets/reward.py`` (``reward_func``). Both files are always
    written, an empty split as an empty file.
    """
    return _write_openrlhf(_prepare(tasks), Path(out_dir))


def _hf_features() -> datasets.Features:
    import datasets

    string = datasets.Value("string")
    return datasets.Features(
        {
            "question": string,
            "options": datasets.List(string),
            "answer": string,
            "task_id": string,
            "domain": string,
            "source_doc_id": string,
            "split": string,
            "answer_index": datasets.Value("int32"),
            "prompt": string,
            "source": string,
            "license": string,
            "difficulty_bucket": string,
            "pass_rate": datasets.Value("float64"),
        }
    )


@contextmanager
def _quiet_progress_bars() -> Iterator[None]:
    import datasets

    # save_to_disk draws a progress bar on stderr; silence it for this call only
    was_disabled = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            datasets.enable_progress_bars()


def _hf_split_table(prepared: _Prepared, split: str, schema: pa.Schema) -> tuple[pa.Table, str]:
    """A split as one Arrow table and the digest of its rows, built a chunk of rows at a
    time: the split is held as Arrow columns, never as one dict per row. Each column ends
    as one contiguous array, as one `from_pylist` of every row makes it (datasets writes a
    chunked table into other Arrow file bytes); columns are joined one at a time, so only
    one column is ever held twice."""
    digest = hashlib.sha256()
    columns: dict[str, list[pa.Array]] = {name: [] for name in schema.names}
    for chunk in prepared.ordered(split):
        rows = [_hf_row(task, _task_prompt(task)) for task in chunk]
        for row in rows:
            digest.update(_json_line(row))
        table = pa.Table.from_pylist(rows, schema=schema)
        for name in schema.names:
            columns[name].extend(table.column(name).chunks)
        del rows, table
    if not any(columns.values()):
        return pa.Table.from_pylist([], schema=schema), digest.hexdigest()[:16]
    arrays = [pa.concat_arrays(columns.pop(name)) for name in schema.names]
    return pa.Table.from_arrays(arrays, schema=schema), digest.hexdigest()[:16]


def _write_hf(prepared: _Prepared, out_dir: Path) -> Path:
    import datasets

    features = _hf_features()
    splits: dict[str, datasets.Dataset] = {}
    for split in SPLITS:
        table, fingerprint = _hf_split_table(prepared, split, features.arrow_schema)
        splits[split] = datasets.Dataset(
            table,
            info=datasets.DatasetInfo(features=features),
            split=datasets.NamedSplit(split),
            # a content hash, not datasets' own fingerprint: state.json stays reproducible
            # whatever fingerprint scheme the installed datasets version uses
            fingerprint=fingerprint,
        )
    path = out_dir / HF_DATASET_DIR
    with atomic_directory(path) as staging, _quiet_progress_bars():
        # one shard per split: the default shard count depends on byte size thresholds
        datasets.DatasetDict(splits).save_to_disk(str(staging), num_shards=dict.fromkeys(splits, 1))
    del splits
    # Arrow's allocator keeps freed memory for reuse; the split tables were the export's
    # largest allocation, and what reads the export back next is not Arrow
    pa.default_memory_pool().release_unused()
    return path


def write_hf_dataset(tasks: Sequence[Mapping[str, Any]], out_dir: Path) -> Path:
    """``out_dir/hf_dataset``: a ``DatasetDict`` (train, validation) via ``save_to_disk``.

    Load it with ``datasets.load_from_disk(path)``. Rows carry the GooseReason fields plus
    ``answer_index``, the rendered ``prompt``, ``source``, ``license`` (filter on it to
    drop non-commercial rows), ``difficulty_bucket`` and ``pass_rate``. Measured with
    datasets 5.2.0: every file of the directory (``dataset_dict.json``, ``*.arrow``,
    ``dataset_info.json``, ``state.json``) is byte-identical across re-exports and
    processes.
    """
    return _write_hf(_prepare(tasks), Path(out_dir))


def push_hf_dataset_to_hub(
    export_dir: Path, repo_id: str, token: str, *, private: bool = True
) -> None:
    """Upload the card, then push ``export_dir/hf_dataset`` to the Hub as ``repo_id``.

    NOT TESTED HERE: the build machine has no network access to the Hub. The card is
    uploaded first because ``push_to_hub`` reads an existing README and merges its
    dataset_info YAML into it rather than replacing it, so the licence terms survive the
    push. The token is passed through and never logged.
    """
    import datasets
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    api.upload_file(
        path_or_fileobj=str(Path(export_dir) / CARD_FILE),
        path_in_repo=CARD_FILE,
        repo_id=repo_id,
        repo_type="dataset",
    )
    dataset = datasets.load_from_disk(str(Path(export_dir) / HF_DATASET_DIR))
    dataset.push_to_hub(repo_id, token=token, private=private)


def write_card(tasks: Sequence[Mapping[str, Any]], out_dir: Path, info: CardInfo) -> Path:
    """``out_dir/README.md``: the dataset card (see ``publish/dataset_card.py``)."""
    for task in tasks:
        _validate_task(task)
    path = Path(out_dir) / CARD_FILE
    atomic_write_bytes(path, render_card(tasks, info).encode("utf-8"))
    return path


# ------------------------------------------------------------------------ everything


@dataclass(frozen=True, slots=True)
class ExportManifest:
    """Where an export went and what it holds (also written as manifest.json)."""

    export_dir: Path
    files: dict[str, dict[str, Any]]
    rows: dict[str, int]
    # how the mix chose its rows and why a domain has none (for `goose summary` and tools)
    mix: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        # relative paths only: the manifest must not change when GOOSE_HOME moves
        return {"files": self.files, "rows": self.rows, **({"mix": self.mix} if self.mix else {})}


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _file_digests(export_dir: Path) -> dict[str, dict[str, Any]]:
    digests: dict[str, dict[str, Any]] = {}
    for path in sorted(export_dir.rglob("*")):
        parts = path.relative_to(export_dir).parts
        relative = "/".join(parts)
        # hidden names are staging leftovers of an interrupted write, not export content,
        # and neither is anything inside one (a retired `.hf_dataset.old-*` directory)
        if any(part.startswith(".") for part in parts) or relative == MANIFEST_FILE or not path.is_file():
            continue
        digests[relative] = {"sha256": _sha256_file(path), "bytes": path.stat().st_size}
    return digests


def write_exports(
    tasks: pl.DataFrame | Sequence[Mapping[str, Any]], root: str | os.PathLike[str], info: CardInfo
) -> ExportManifest:
    """Write every export of one mix under ``<root>/<info.mix_name>/`` and its manifest.

    ``root`` is the exports root the caller resolved (``$GOOSE_HOME/exports``). Raises
    ValueError, before writing anything, on an unsafe mix name, a target path escaping
    ``root``, or malformed tasks (missing keys, duplicate ids, a letter that disagrees
    with its index). Every export holds the same rows; ``rows`` counts them per split.
    Holds ``export_lock(root, info.mix_name)`` while it writes.
    """
    prepared = _prepare(tasks)
    out_dir = export_dir_for(root, info.mix_name)
    for name in (GOOSEREASON_FILE, VERL_DIR, OPENRLHF_DIR, HF_DATASET_DIR, CARD_FILE):
        _ensure_inside(out_dir, out_dir / name)
    with export_lock(root, info.mix_name):
        return _write_exports(prepared, out_dir, info)


def _write_exports(prepared: _Prepared, out_dir: Path, info: CardInfo) -> ExportManifest:
    out_dir.mkdir(parents=True, exist_ok=True)

    _write_goosereason(prepared, out_dir)
    _write_verl(prepared, out_dir)
    _write_openrlhf(prepared, out_dir)
    _write_hf(prepared, out_dir)
    atomic_write_bytes(out_dir / CARD_FILE, render_card(prepared.table.card_rows(), info).encode("utf-8"))

    split_counts = {split: len(members) for split, members in prepared.by_split.items()}
    mix_facts = {k: info.mix_report[k] for k in ("selection", "weighted", "left_out") if k in info.mix_report}
    if info.empty_domains:
        mix_facts["empty_domains"] = dict(sorted(info.empty_domains.items()))
    manifest = ExportManifest(
        out_dir, _file_digests(out_dir), {split: split_counts[split] for split in SPLITS}, mix_facts
    )
    manifest_text = json.dumps(manifest.to_json(), indent=2, sort_keys=True) + "\n"
    atomic_write_bytes(out_dir / MANIFEST_FILE, manifest_text.encode("utf-8"))
    return manifest
