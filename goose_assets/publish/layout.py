"""Names inside one mix's export directory, shared by the writers and the dataset card."""

from __future__ import annotations

from goose_assets.core.mixing import REQUIRED_TASK_KEYS

GOOSEREASON_FILE = "goosereason.jsonl"
# the keys of one goosereason.jsonl row, in file order
GOOSEREASON_COLUMNS: tuple[str, ...] = (
    "question", "options", "answer", "task_id", "domain", "source_doc_id", "split",
)
VERL_DIR = "verl"  # <split>.parquet inside
OPENRLHF_DIR = "openrlhf"  # <split>.jsonl inside
HF_DATASET_DIR = "hf_dataset"
CARD_FILE = "README.md"
MANIFEST_FILE = "manifest.json"

OPENRLHF_INPUT_KEY = "prompt"
OPENRLHF_LABEL_KEY = "label"
# the prompt template whose text (and version) every trainer format uses
STUDENT_TEMPLATE = "student"

# what a task must carry to be exported: a mixed task (it has its split)
REQUIRED_EXPORT_KEYS: tuple[str, ...] = (*REQUIRED_TASK_KEYS, "split")

# the Dagster assets a training row passes through, in order
LINEAGE: tuple[str, ...] = (
    "raw_documents",
    "extracted_passages",
    "masked_items",
    "mcq_tasks",
    "task_difficulty",
    "filtered_tasks",
    "training_mix",
)
