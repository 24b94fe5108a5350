"""Trainer-ready exports of a training mix: atomic, byte-reproducible, licence-aware.

``write_exports(tasks, root, card_info)`` writes everything for one mix under
``<root>/<mix name>/`` (the caller passes ``root = $GOOSE_HOME/exports``)::

    goosereason.jsonl             {question, options, answer} + task_id, domain, source_doc_id, split
    verl/train.parquet            verl RL rows (and verl/validation.parquet)
    openrlhf/train.jsonl          OpenRLHF prompt data (and openrlhf/validation.jsonl)
    hf_dataset/                   datasets.DatasetDict.save_to_disk (train, validation)
    README.md                     dataset card: sources, licences, counts, generator, filters, lineage
    manifest.json                 sha256 and size of every file above, row counts per split

Input tasks are the output of ``goose_assets.core.mixing.build_mix``: mappings with
``REQUIRED_EXPORT_KEYS`` (``split`` included). ``question`` must hold the instruction and
the masked context *without* the options; ``options`` are unlettered strings and
``answer_letter`` is the letter of ``options[answer_index]``. Optional keys used when
present: ``pass_rate``, ``difficulty_bucket``, ``backend``, ``model``, ``prompt_version``.

Guarantees:

* **Atomic.** Every file is written to a hidden temp file in its own directory, fsynced,
  then ``os.replace``d; the HF dataset directory is built in a temp directory and swapped
  in with two renames (a reader can miss the directory for the instant between them,
  never see half of it). A crash leaves the old export intact; a hard kill can leave a
  hidden ``.<name>.tmp-*`` sibling behind.
* **Reproducible.** Rows are ordered by split, then by a hash of ``task_id`` (never by
  input order), JSON is written with fixed key order, parquet with fixed writer settings,
  the HF dataset with a content-derived fingerprint, and nothing contains a timestamp.
  Re-exporting the same tasks with the same library versions gives byte-identical files,
  the HF dataset directory included (``manifest.json`` lists every hash).
* **Contained.** The mix name must be a slug, and every target path must resolve inside
  ``root`` (a symlink pointing elsewhere is refused).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from goose_assets.core.mixing import REQUIRED_TASK_KEYS, SPLITS, validate_mix_name
from goose_assets.core.prompts import template

if TYPE_CHECKING:
    import datasets
    import pyarrow as pa

__all__ = [
    "CARD_FILE",
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
    "export_order",
    "format_options",
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

GOOSEREASON_FILE = "goosereason.jsonl"
VERL_DIR = "verl"
OPENRLHF_DIR = "openrlhf"
HF_DATASET_DIR = "hf_dataset"
CARD_FILE = "README.md"
MANIFEST_FILE = "manifest.json"
OPENRLHF_INPUT_KEY = "prompt"
OPENRLHF_LABEL_KEY = "label"
REQUIRED_EXPORT_KEYS: tuple[str, ...] = (*REQUIRED_TASK_KEYS, "split")
STUDENT_TEMPLATE = "student"
LINEAGE: tuple[str, ...] = (
    "raw_documents",
    "extracted_passages",
    "masked_items",
    "mcq_tasks",
    "task_difficulty",
    "filtered_tasks",
    "training_mix",
)
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
_MITRE_NOTICE = (
    "© 2025 The MITRE Corporation. This work is reproduced and distributed with the "
    "permission of The MITRE Corporation."
)


# ------------------------------------------------------------------------ atomic writes


def _staging_sibling(path: Path, tag: str) -> Path:
    # hidden, unique, same directory: os.replace is atomic only within one filesystem
    return path.with_name(f".{path.name}.{tag}-{os.getpid()}-{secrets.token_hex(6)}")


def _fsync_path(path: Path) -> None:
    if os.name == "nt":  # directories cannot be opened for fsync on Windows
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_file(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp path beside ``path``; on success it replaces ``path`` atomically.

    Whatever the block writes to the temp path is fsynced, then renamed over ``path``,
    then the directory entry is fsynced. On an exception the temp file is removed and
    ``path`` is untouched. The temp file is created through ``open`` so it gets the
    usual umask permissions (``mkstemp`` would make it 0600).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = _staging_sibling(target, "tmp")
    try:
        with open(staging, "xb"):
            pass
        yield staging
        _fsync_path(staging)
        os.replace(staging, target)
        _fsync_path(target.parent)
    finally:
        staging.unlink(missing_ok=True)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (see ``atomic_file``)."""
    with atomic_file(path) as staging:
        staging.write_bytes(data)


def _fsync_tree(root: Path) -> None:
    for directory, _, files in os.walk(root):
        for name in files:
            _fsync_path(Path(directory) / name)
        _fsync_path(Path(directory))


@contextmanager
def atomic_directory(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty temp directory beside ``path``; on success it becomes ``path``.

    The old ``path`` (if any) is renamed aside, the new one renamed in, then the old one
    deleted. Linux offers no portable atomic swap of two directories, so for the instant
    between the renames ``path`` is absent; it is never half-written. On an exception the
    temp directory is removed and ``path`` is untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = _staging_sibling(target, "tmp")
    staging.mkdir()
    try:
        yield staging
        _fsync_tree(staging)
        _swap_in(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _swap_in(staging: Path, target: Path) -> None:
    retired = _staging_sibling(target, "old")
    had_old = target.exists() or target.is_symlink()
    if had_old:
        os.rename(target, retired)
    try:
        os.rename(staging, target)
    except OSError:
        if had_old:  # put the old export back rather than leave nothing
            os.rename(retired, target)
        raise
    _fsync_path(target.parent)
    if had_old:
        if retired.is_dir() and not retired.is_symlink():
            shutil.rmtree(retired)
        else:
            retired.unlink()


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


def _ensure_inside(root: Path, path: Path) -> Path:
    resolved = path.resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise ValueError(f"refusing to write {resolved}: outside {root.resolve()}")
    return resolved


# ------------------------------------------------------------------------ rows


def _validate_export_tasks(tasks: Sequence[Mapping[str, Any]]) -> None:
    seen: set[str] = set()
    for task in tasks:
        task_id = task.get("task_id")
        missing = [key for key in REQUIRED_EXPORT_KEYS if key not in task]
        if missing:
            raise ValueError(f"task {task_id!r} lacks keys {missing}")
        if task_id in seen:
            raise ValueError(f"duplicate task_id {task_id!r}")
        seen.add(task_id)
        options = task["options"]
        index = task["answer_index"]
        if task["split"] not in SPLITS:
            raise ValueError(f"task {task_id!r}: split {task['split']!r} not in {SPLITS}")
        if not isinstance(options, list | tuple) or not 1 <= len(options) <= 26:
            raise ValueError(f"task {task_id!r}: options must be a list of 1..26 strings")
        if not isinstance(index, int) or not 0 <= index < len(options):
            raise ValueError(f"task {task_id!r}: answer_index {index!r} out of range")
        if task["answer_letter"] != chr(ord("A") + index):
            raise ValueError(f"task {task_id!r}: answer_letter disagrees with answer_index")
        for text in (task["question"], *options):
            # a lone surrogate would make a file that some readers reject: fail here instead
            if not isinstance(text, str):
                raise ValueError(f"task {task_id!r}: question and options must be str")
            text.encode("utf-8")


def export_order(tasks: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Tasks in export order: train then validation, each shuffled by a hash of task_id.

    The order depends on the task ids only, so an export is byte-identical however the
    caller fetched the rows (a warehouse query without ORDER BY included).
    """

    def key(task: Mapping[str, Any]) -> tuple[int, str, str]:
        digest = hashlib.sha256(f"{_EXPORT_ORDER_SALT}\x1f{task['task_id']}".encode()).hexdigest()
        return (SPLITS.index(task["split"]), digest, task["task_id"])

    return sorted(tasks, key=key)


def format_options(options: Sequence[str]) -> str:
    """The lettered options block: "(A) first\\n(B) second ..."."""
    return "\n".join(f"({chr(ord('A') + i)}) {option}" for i, option in enumerate(options))


def user_prompt(question: str, options: Sequence[str]) -> str:
    """The user message a trainer sends: question, lettered options, answer-format line.

    It is the student template (``core/prompts/student.txt``), which asks for a final
    ``Answer: X`` that ``goose_assets.reward`` parses. The task_difficulty stage should
    render its rollouts with this same function so difficulty is measured on the exact
    prompt the policy will train on.
    """
    body = f"{question.rstrip()}\n\nOptions:\n{format_options(options)}"
    return template(STUDENT_TEMPLATE).render(question=body)


def _goosereason_row(task: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "question": task["question"],
        "options": list(task["options"]),
        "answer": task["answer_letter"],
        "task_id": task["task_id"],
        "domain": task["domain"],
        "source_doc_id": task["doc_id"],
        "split": task["split"],
    }


def _verl_row(task: Mapping[str, Any], index: int) -> dict[str, Any]:
    return {
        "data_source": f"goose/{task['domain']}",
        "prompt": [{"role": "user", "content": user_prompt(task["question"], task["options"])}],
        "ability": task["domain"],
        "reward_model": {"style": "rule", "ground_truth": task["answer_letter"]},
        "extra_info": {
            "split": task["split"],
            "index": index,
            "task_id": task["task_id"],
            "n_options": len(task["options"]),
        },
    }


def _openrlhf_row(task: Mapping[str, Any]) -> dict[str, Any]:
    return {
        OPENRLHF_INPUT_KEY: user_prompt(task["question"], task["options"]),
        OPENRLHF_LABEL_KEY: task["answer_letter"],
        "task_id": task["task_id"],
        "domain": task["domain"],
    }


def _hf_row(task: Mapping[str, Any]) -> dict[str, Any]:
    pass_rate = task.get("pass_rate")
    return {
        **_goosereason_row(task),
        "answer_index": task["answer_index"],
        "prompt": user_prompt(task["question"], task["options"]),
        "source": task["source"],
        "license": task["license"],
        "difficulty_bucket": task.get("difficulty_bucket") or "",
        "pass_rate": None if pass_rate is None else float(pass_rate),
    }


def _jsonl_bytes(rows: Iterable[Mapping[str, Any]]) -> bytes:
    lines = (json.dumps(row, ensure_ascii=False, separators=(",", ":")) for row in rows)
    return "".join(f"{line}\n" for line in lines).encode("utf-8")


def _by_split(tasks: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    grouped: dict[str, list[Mapping[str, Any]]] = {split: [] for split in SPLITS}
    for task in export_order(tasks):
        grouped[task["split"]].append(task)
    return grouped


# ------------------------------------------------------------------------ writers


def write_goosereason_jsonl(tasks: Sequence[Mapping[str, Any]], out_dir: Path) -> Path:
    """``out_dir/goosereason.jsonl``: the paper's released schema plus lineage and split."""
    _validate_export_tasks(tasks)
    path = Path(out_dir) / GOOSEREASON_FILE
    atomic_write_bytes(path, _jsonl_bytes(_goosereason_row(t) for t in export_order(tasks)))
    return path


def _verl_schema() -> pa.Schema:
    import pyarrow as pa

    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    return pa.schema(
        [
            ("data_source", pa.string()),
            ("prompt", pa.list_(message)),
            ("ability", pa.string()),
            ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
            (
                "extra_info",
                pa.struct(
                    [
                        ("split", pa.string()),
                        ("index", pa.int64()),
                        ("task_id", pa.string()),
                        ("n_options", pa.int64()),
                    ]
                ),
            ),
        ]
    )


def write_verl_parquet(tasks: Sequence[Mapping[str, Any]], out_dir: Path) -> dict[str, Path]:
    """``out_dir/verl/{train,validation}.parquet``, one verl row per task.

    Both files are always written (an empty split gets an empty file with the schema), so
    a stale file from an earlier export can never survive. ``extra_info.index`` is the row
    number within its split file.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    _validate_export_tasks(tasks)
    schema = _verl_schema()
    paths: dict[str, Path] = {}
    for split, members in _by_split(tasks).items():
        rows = [_verl_row(task, index) for index, task in enumerate(members)]
        table = pa.Table.from_pylist(rows, schema=schema)
        path = Path(out_dir) / VERL_DIR / f"{split}.parquet"
        with atomic_file(path) as staging:
            pq.write_table(table, staging, **_PARQUET_OPTIONS)
        paths[split] = path
    return paths


def write_openrlhf_jsonl(tasks: Sequence[Mapping[str, Any]], out_dir: Path) -> dict[str, Path]:
    """``out_dir/openrlhf/{train,validation}.jsonl`` for OpenRLHF's ``--prompt_data``.

    Use ``--input_key prompt --label_key label --apply_chat_template`` and the reward
    ``--remote_rm_url goose_assets/reward.py`` (``reward_func``).
    """
    _validate_export_tasks(tasks)
    paths: dict[str, Path] = {}
    for split, members in _by_split(tasks).items():
        path = Path(out_dir) / OPENRLHF_DIR / f"{split}.jsonl"
        atomic_write_bytes(path, _jsonl_bytes(_openrlhf_row(task) for task in members))
        paths[split] = path
    return paths


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

    # save_to_disk draws a progress bar on stderr; silence it only for this call
    was_disabled = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            datasets.enable_progress_bars()


def write_hf_dataset(tasks: Sequence[Mapping[str, Any]], out_dir: Path) -> Path:
    """``out_dir/hf_dataset``: a ``DatasetDict`` (train, validation) via ``save_to_disk``.

    Load it with ``datasets.load_from_disk(path)``. Each split gets a fingerprint derived
    from its rows (``Dataset.from_dict`` would draw one at random on some versions), so
    ``state.json`` is reproducible and the whole directory re-exports byte-identically.
    """
    import datasets
    import pyarrow as pa

    _validate_export_tasks(tasks)
    features = _hf_features()
    splits: dict[str, datasets.Dataset] = {}
    for split, members in _by_split(tasks).items():
        rows = [_hf_row(task) for task in members]
        table = pa.Table.from_pylist(rows, schema=features.arrow_schema)
        fingerprint = hashlib.sha256(_jsonl_bytes(rows)).hexdigest()[:16]
        splits[split] = datasets.Dataset(
            table,
            info=datasets.DatasetInfo(features=features),
            split=datasets.NamedSplit(split),
            fingerprint=fingerprint,
        )
    path = Path(out_dir) / HF_DATASET_DIR
    with atomic_directory(path) as staging, _quiet_progress_bars():
        # num_shards pinned to 1 per split: the default shard count depends on byte size
        datasets.DatasetDict(splits).save_to_disk(str(staging), num_shards=dict.fromkeys(splits, 1))
    return path


def push_hf_dataset_to_hub(
    export_dir: Path, repo_id: str, token: str, *, private: bool = True
) -> None:
    """Upload the card, then push ``export_dir/hf_dataset`` to the Hub as ``repo_id``.

    NOT TESTED HERE: the build machine has no network access to the Hub. The card is
    uploaded first because ``push_to_hub`` merges its dataset_info YAML into an existing
    README instead of replacing it, so the licence terms survive the push. The token is
    passed through and never logged.
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


# ------------------------------------------------------------------------ dataset card


@dataclass(frozen=True, slots=True)
class CardInfo:
    """What the card needs beyond the tasks themselves.

    ``mix_report`` is ``build_mix(...).report``. ``filter_drops`` maps domain -> drop
    reason -> count from the filtered_tasks stage. ``backend``/``model`` describe the
    generator; tasks carrying ``backend``/``model``/``prompt_version`` keys are also
    tallied. ``prompt_versions`` lists template versions used upstream (e.g.
    ``synthesize_qa@1``); the student prompt's version is always added.
    """

    mix_name: str
    mix_report: Mapping[str, Any] = field(default_factory=dict)
    backend: str = "offline"
    model: str = ""
    student_model: str = ""
    prompt_versions: Sequence[str] = ()
    filter_drops: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    hub_repo_id: str = ""


@dataclass(frozen=True, slots=True)
class LicenseTerms:
    """Obligations read from a source's licence string."""

    non_commercial: bool
    share_alike: bool
    attribution: bool
    mitre_notice: str
    restricted: bool

    def summary(self) -> str:
        terms = []
        if self.non_commercial:
            terms.append("**NON-COMMERCIAL only**")
        if self.share_alike:
            terms.append("**ShareAlike** (derivatives under the same licence)")
        if self.attribution:
            terms.append("attribution required")
        if self.mitre_notice:
            terms.append("reproduce the MITRE notice")
        if self.restricted:
            terms.append("**third-party copyright: check before redistributing**")
        return "; ".join(terms) or "permissive (keep the licence notice)"


_NC = re.compile(r"\bNC\b|non-?commercial", re.IGNORECASE)
_SA = re.compile(r"\bSA\b|share-?alike", re.IGNORECASE)
_BY = re.compile(r"\bCC[ -]?BY\b|\bCC-BY\b|attribution", re.IGNORECASE)
_RESTRICTED = re.compile(r"copyright of|all rights reserved|no licen[cs]e", re.IGNORECASE)
_QUOTED_NOTICE = re.compile(r"['\"](©[^'\"]+)['\"]")


def license_terms(license_text: str, source: str = "") -> LicenseTerms:
    """Obligations of a licence string such as "CC BY-NC-SA 4.0 (...)" or "MIT (...)"."""
    mitre = "mitre" in license_text.lower() or source.lower().startswith("mitre/")
    quoted = _QUOTED_NOTICE.search(license_text)
    return LicenseTerms(
        non_commercial=bool(_NC.search(license_text)),
        share_alike=bool(_SA.search(license_text)),
        attribution=bool(_BY.search(license_text)) or mitre,
        mitre_notice=(quoted.group(1) if quoted else _MITRE_NOTICE) if mitre else "",
        restricted=bool(_RESTRICTED.search(license_text)),
    )


def _source_repo(source: str) -> str:
    # corpus sources are "<owner/repo>:<path>"; the card credits the repository
    return source.split(":", 1)[0]


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return lines


_SPDX = {
    "mit": re.compile(r"^MIT\b"),
    "apache-2.0": re.compile(r"^Apache-2\.0\b"),
    "cc-by-4.0": re.compile(r"^CC BY 4\.0\b"),
    "cc-by-sa-4.0": re.compile(r"^CC BY-SA 4\.0\b"),
    "cc-by-nc-4.0": re.compile(r"^CC BY-NC 4\.0\b"),
    "cc-by-nc-sa-4.0": re.compile(r"^CC BY-NC-SA 4\.0\b"),
}


def _hub_license_id(licenses: set[str]) -> str:
    ids = {next((spdx for spdx, p in _SPDX.items() if p.match(text)), "other") for text in licenses}
    return ids.pop() if len(ids) == 1 else "other"


def _front_matter(tasks: Sequence[Mapping[str, Any]], info: CardInfo) -> list[str]:
    licenses = {task["license"] for task in tasks}
    hub_license = _hub_license_id(licenses)
    lines = ["---", f"license: {hub_license}"]
    if hub_license == "other":
        lines.append("license_name: mixed-per-source")
    lines += [
        f"pretty_name: Golden Goose training mix {info.mix_name}",
        "task_categories:",
        "- multiple-choice",
        "- question-answering",
        "tags:",
        "- rlvr",
        "- fill-in-the-middle",
        "- golden-goose",
        "---",
    ]
    return lines


def _licence_sections(tasks: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    """(banner lines for the top of the card, the sources-and-licences section)."""
    rows: Counter[tuple[str, str, str]] = Counter(
        (_source_repo(t["source"]), t["domain"], t["license"]) for t in tasks
    )
    terms = {key: license_terms(key[2], key[0]) for key in rows}
    nc_sources = sorted({k[0] for k, t in terms.items() if t.non_commercial})
    sa_sources = sorted({k[0] for k, t in terms.items() if t.share_alike})
    restricted = sorted({k[0] for k, t in terms.items() if t.restricted})
    notices = sorted({t.mitre_notice for t in terms.values() if t.mitre_notice})

    banner: list[str] = []
    if nc_sources:
        banner.append(
            "> **NON-COMMERCIAL DATA INSIDE.** Rows from "
            + ", ".join(nc_sources)
            + " are licensed CC BY-NC(-SA): they may not be used for commercial purposes. "
            "Filter on the `license` column of the HF dataset to drop them."
        )
    if restricted:
        banner.append(
            "> **Third-party copyrighted web text inside** ("
            + ", ".join(restricted)
            + "): check the rights before redistributing this mix."
        )

    section = ["## Sources and licences", ""]
    section += _table(
        ["source", "domain", "licence (as stated by the source)", "rows", "obligations"],
        (
            (repo, domain, text, count, terms[(repo, domain, text)].summary())
            for (repo, domain, text), count in sorted(rows.items())
        ),
    )
    section += ["", "Terms carried forward:", ""]
    section.append(
        "- Every row is a derivative of its source text (a masked span plus generated "
        "distractors), so each row stays under its source's licence; the `license` and "
        "`source` columns of the HF dataset say which."
    )
    if nc_sources:
        section.append(
            "- **NonCommercial (CC BY-NC / BY-NC-SA):** "
            + ", ".join(nc_sources)
            + ". These rows may not be used for commercial purposes; the licence text "
            "says what that covers."
        )
    if sa_sources:
        section.append(
            "- **ShareAlike (BY-SA / BY-NC-SA):** "
            + ", ".join(sa_sources)
            + ". If you redistribute these rows or adaptations of them, you must do so under "
            "the same licence, with attribution and a link to the licence."
        )
    section.append(
        "- **Attribution:** credit every source repository listed above when you "
        "redistribute its rows."
    )
    for notice in notices:
        section.append(f"- **MITRE ATT&CK:** reproduce this notice: \u201c{notice}\u201d")
    return banner, section


def _counts_section(tasks: Sequence[Mapping[str, Any]]) -> list[str]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for task in tasks:
        counts[task["domain"]][task["split"]] += 1
    rows = [
        (domain, c["train"], c["validation"], c["train"] + c["validation"])
        for domain, c in sorted(counts.items())
    ]
    rows.append(
        (
            "**total**",
            sum(r[1] for r in rows),
            sum(r[2] for r in rows),
            sum(r[3] for r in rows),
        )
    )
    return ["## Rows per domain", "", *_table(["domain", "train", "validation", "total"], rows)]


def _mix_section(report: Mapping[str, Any]) -> list[str]:
    if not report:
        return []
    lines = ["## Mix", ""]
    config = report.get("config", {})
    lines.append(
        f"Config: `{json.dumps(config, sort_keys=True, ensure_ascii=False)}`"
        if config
        else "Config: not recorded."
    )
    lines.append("")
    domains = report.get("domains", {})
    lines += _table(
        ["domain", "requested share", "realized share", "error (points)", "available", "selected"],
        (
            (
                d,
                row["requested_share"],
                row["realized_share"],
                row["share_error_points"],
                row["available"],
                row["selected"],
            )
            for d, row in sorted(domains.items())
        ),
    )
    buckets = report.get("buckets", {})
    if buckets:
        lines += ["", "Difficulty strata (student pass rate = n_correct / n):", ""]
        lines += _table(
            ["domain", "bucket", "available", "selected"],
            (
                (d, label, b["available"], b["selected"])
                for d, per_bucket in sorted(buckets.items())
                for label, b in per_bucket.items()
            ),
        )
    dropped = report.get("dropped", {})
    if any(dropped.values()):
        lines += ["", f"Left out by the mix: `{json.dumps(dropped, sort_keys=True)}`"]
    for warning in report.get("warnings", []):
        lines.append(f"- warning: {warning}")
    return lines


def _generation_section(tasks: Sequence[Mapping[str, Any]], info: CardInfo) -> list[str]:
    generators = Counter(
        (str(t.get("backend", "")), str(t.get("model", ""))) for t in tasks if "backend" in t
    )
    versions = set(info.prompt_versions) | {
        str(t["prompt_version"]) for t in tasks if t.get("prompt_version")
    }
    versions.add(template(STUDENT_TEMPLATE).version)
    lines = [
        "## Generation",
        "",
        f"- generator backend: `{info.backend}`"
        + (f", model `{info.model}`" if info.model else ""),
        f"- student model (difficulty rollouts): `{info.student_model or 'not recorded'}`",
        "- prompt versions: " + ", ".join(f"`{v}`" for v in sorted(versions)),
    ]
    for (backend, model), count in sorted(generators.items()):
        lines.append(f"- rows generated by `{backend}` / `{model or '-'}`: {count}")
    if info.backend == "offline":
        lines.append(
            "- the offline backend is rule-based (no LLM): spans and distractors are mined and "
            "mutated, of lower quality than an LLM generator."
        )
    return lines


def _filters_section(filter_drops: Mapping[str, Mapping[str, int]]) -> list[str]:
    lines = ["## Filters and drop counts", ""]
    reasons = sorted({reason for per in filter_drops.values() for reason in per})
    if not reasons:
        return [*lines, "No filter drop counts were recorded for this export."]
    domains = sorted(filter_drops)
    rows = [
        (
            reason,
            *(filter_drops[d].get(reason, 0) for d in domains),
            sum(filter_drops[d].get(reason, 0) for d in domains),
        )
        for reason in reasons
    ]
    return [*lines, *_table(["reason", *domains, "total"], rows)]


_LINEAGE_SQL = """\
SELECT t.task_id, t.item_id, m.doc_id, d.domain, d.source, d.license, d.title
FROM mcq_tasks AS t
JOIN masked_items AS m ON m.item_id = t.item_id
JOIN raw_documents AS d ON d.doc_id = m.doc_id
WHERE t.task_id = ?;"""


def _usage_section() -> list[str]:
    return [
        "## Files and how to train on them",
        "",
        f"- `{GOOSEREASON_FILE}`: `{{question, options, answer}}` (the GooseReason schema; "
        "`options` unlettered, `answer` the letter of the correct option) plus `task_id`, "
        "`domain`, `source_doc_id`, `split`.",
        f"- `{VERL_DIR}/train.parquet`, `{VERL_DIR}/validation.parquet`: verl rows "
        "(`data_source`, `prompt`, `ability`, `reward_model{style: rule, ground_truth}`, "
        "`extra_info{split, index, task_id, n_options}`). Reward: "
        "`custom_reward_function.path=goose_assets/reward.py "
        "custom_reward_function.name=compute_score`.",
        f"- `{OPENRLHF_DIR}/train.jsonl`, `{OPENRLHF_DIR}/validation.jsonl`: OpenRLHF prompt "
        f"data. Input key **`{OPENRLHF_INPUT_KEY}`**, label key **`{OPENRLHF_LABEL_KEY}`**: "
        f"`--input_key {OPENRLHF_INPUT_KEY} --label_key {OPENRLHF_LABEL_KEY} "
        "--apply_chat_template --remote_rm_url goose_assets/reward.py`.",
        f"- `{HF_DATASET_DIR}/`: `datasets.load_from_disk(...)` gives a DatasetDict "
        "(train, validation) with per-row `license` and `source`.",
        "",
        "The reward is binary: 1 when the response's final answer names the correct letter "
        "(`Answer: C`, `\\boxed{C}`, ...), 0 otherwise, including answers naming several "
        "letters.",
    ]


def _lineage_section() -> list[str]:
    return [
        "## Lineage",
        "",
        "Dagster assets, in order: " + " → ".join(f"`{name}`" for name in LINEAGE) + ".",
        "",
        "Every row's `task_id` leads back to its source row in the DuckDB warehouse "
        "(under `GOOSE_HOME`):",
        "",
        "```sql",
        _LINEAGE_SQL,
        "```",
    ]


def render_card(tasks: Sequence[Mapping[str, Any]], info: CardInfo) -> str:
    """The dataset card (README.md) as text; deterministic for the same inputs."""
    banner, licences = _licence_sections(tasks)
    sections = [
        _front_matter(tasks, info),
        [f"# Golden Goose training mix `{info.mix_name}`", ""],
        [*banner, ""] if banner else [],
        [
            "Multiple-choice fill-in-the-middle RL tasks built with the Golden Goose recipe "
            "(arXiv 2601.22975) by `goose_assets`: a span of key reasoning is masked and the "
            "model picks the missing span among lettered options.",
            "",
        ],
        [*_counts_section(tasks), ""],
        [*licences, ""],
        [*_usage_section(), ""],
        [*_generation_section(tasks, info), ""],
        [*_filters_section(info.filter_drops), ""],
        [*_mix_section(info.mix_report), ""] if info.mix_report else [],
        _lineage_section(),
    ]
    if info.hub_repo_id:
        sections.append(["", f"Hub copy: `{info.hub_repo_id}`."])
    return "\n".join(line for section in sections for line in section) + "\n"


def write_card(tasks: Sequence[Mapping[str, Any]], out_dir: Path, info: CardInfo) -> Path:
    """``out_dir/README.md`` (see ``render_card``)."""
    _validate_export_tasks(tasks)
    path = Path(out_dir) / CARD_FILE
    atomic_write_bytes(path, render_card(tasks, info).encode("utf-8"))
    return path


# ------------------------------------------------------------------------ everything


@dataclass(frozen=True, slots=True)
class ExportManifest:
    """Where an export went and what it holds (also written as manifest.json)."""

    export_dir: Path
    files: dict[str, dict[str, Any]]
    rows: dict[str, dict[str, int]]

    def to_json(self) -> dict[str, Any]:
        # relative paths only: the manifest must not change when GOOSE_HOME moves
        return {"files": self.files, "rows": self.rows}


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _file_digests(export_dir: Path) -> dict[str, dict[str, Any]]:
    digests: dict[str, dict[str, Any]] = {}
    for path in sorted(export_dir.rglob("*")):
        relative = path.relative_to(export_dir).as_posix()
        # hidden names are staging leftovers of an interrupted write, not export content
        if not path.is_file() or relative == MANIFEST_FILE or path.name.startswith("."):
            continue
        digests[relative] = {"sha256": _sha256_file(path), "bytes": path.stat().st_size}
    return digests


def write_exports(
    tasks: Sequence[Mapping[str, Any]], root: str | os.PathLike[str], info: CardInfo
) -> ExportManifest:
    """Write every export of one mix under ``<root>/<info.mix_name>/`` and its manifest.

    ``root`` is the exports root the caller resolved (``$GOOSE_HOME/exports``). Raises
    ValueError on an unsafe mix name, a path escaping ``root``, or malformed tasks;
    nothing is written in those cases. Files are replaced one at a time, each atomically;
    ``manifest.json`` is written last, so a manifest whose hashes match the files marks
    a complete export.
    """
    _validate_export_tasks(tasks)
    out_dir = export_dir_for(root, info.mix_name)
    for name in (GOOSEREASON_FILE, VERL_DIR, OPENRLHF_DIR, HF_DATASET_DIR, CARD_FILE):
        _ensure_inside(out_dir, out_dir / name)
    out_dir.mkdir(parents=True, exist_ok=True)

    write_goosereason_jsonl(tasks, out_dir)
    write_verl_parquet(tasks, out_dir)
    write_openrlhf_jsonl(tasks, out_dir)
    write_hf_dataset(tasks, out_dir)
    write_card(tasks, out_dir, info)

    split_counts = Counter(task["split"] for task in tasks)
    rows = {
        name: {split: split_counts[split] for split in SPLITS}
        for name in ("goosereason", "verl", "openrlhf", "hf_dataset")
    }
    manifest = ExportManifest(out_dir, _file_digests(out_dir), rows)
    manifest_bytes = json.dumps(manifest.to_json(), indent=2, sort_keys=True) + "\n"
    atomic_write_bytes(out_dir / MANIFEST_FILE, manifest_bytes.encode("utf-8"))
    return manifest
