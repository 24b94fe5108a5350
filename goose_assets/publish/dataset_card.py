"""The dataset card (README.md) of a training mix export.

The card is what a user reads before training, so it carries forward, clearly, every
obligation of the source licences: NonCommercial and ShareAlike terms, attribution, and
the MITRE ATT&CK notice that must be reproduced verbatim. It also records per-domain
counts, the generator backend and model, prompt versions, filter drop counts, the mix's
requested and realized shares, and the asset lineage with the SQL that traces a row back
to its source document. The text is a pure function of its inputs (no timestamps), so
re-exports stay byte-identical.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from goose_assets.core.prompts import template
from goose_assets.publish.layout import (
    GOOSEREASON_FILE,
    HF_DATASET_DIR,
    LINEAGE,
    OPENRLHF_DIR,
    OPENRLHF_INPUT_KEY,
    OPENRLHF_LABEL_KEY,
    STUDENT_TEMPLATE,
    VERL_DIR,
)

__all__ = ["CardInfo", "LicenseTerms", "license_terms", "render_card"]

# the notice the ATT&CK Terms of Use require, used when the licence string lacks it
MITRE_NOTICE = (
    "© 2025 The MITRE Corporation. This work is reproduced and distributed with the "
    "permission of The MITRE Corporation."
)


@dataclass(frozen=True, slots=True)
class CardInfo:
    """What the card needs beyond the tasks themselves.

    ``mix_report`` is ``build_mix(...).report``. ``filter_drops`` maps domain -> drop
    reason -> count from the filtered_tasks stage. ``backend``/``model`` describe the
    generator; tasks carrying ``backend``/``model``/``prompt_version`` keys are also
    tallied. ``prompt_versions`` lists template versions used upstream (e.g.
    ``synthesize_qa@1``); the student prompt's version is always added.
    ``empty_domains`` maps each domain that contributed no row to the upstream cause (no
    source, everything quarantined or screened out, ...): the card names it.
    """

    mix_name: str
    mix_report: Mapping[str, Any] = field(default_factory=dict)
    backend: str = "offline"
    model: str = ""
    student_model: str = ""
    prompt_versions: Sequence[str] = ()
    filter_drops: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    hub_repo_id: str = ""
    empty_domains: Mapping[str, str] = field(default_factory=dict)
    # the query that traces a row back to its source (storage.queries.LINEAGE_SQL); the
    # card prints it when given
    lineage_sql: str = ""


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
        mitre_notice=(quoted.group(1) if quoted else MITRE_NOTICE) if mitre else "",
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
        lines.append("license_name: mixed-per-source" if tasks else "license_name: empty-export")
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
    if report.get("selection"):
        lines += ["", f"Selection: {report['selection']}."]
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


def _lineage_section(lineage_sql: str) -> list[str]:
    lines = ["## Lineage", "", "Dagster assets, in order: " + " → ".join(f"`{name}`" for name in LINEAGE) + "."]
    if not lineage_sql:
        return lines
    return [
        *lines,
        "",
        "Every row's `task_id` leads back to its source row in the DuckDB warehouse "
        "(under `GOOSE_HOME`):",
        "",
        "```sql",
        lineage_sql.strip(),
        "```",
    ]


def _empty_sections(tasks: Sequence[Mapping[str, Any]], info: CardInfo) -> tuple[list[str], list[str]]:
    """(a banner when the export holds no row, the section naming each empty domain's cause)."""
    banner = (
        []
        if tasks
        else [
            "> **This export is empty: no task survived the pipeline.** Every file is valid "
            "and holds 0 rows; the section *Domains without rows* says why, per domain."
        ]
    )
    if not info.empty_domains:
        return banner, []
    section = ["## Domains without rows", ""]
    section += [f"- **{domain}**: {cause}" for domain, cause in sorted(info.empty_domains.items())]
    return banner, section


def render_card(tasks: Sequence[Mapping[str, Any]], info: CardInfo) -> str:
    """The dataset card (README.md) as text; deterministic for the same inputs."""
    empty_banner, empty_section = _empty_sections(tasks, info)
    banner, licences = _licence_sections(tasks)
    banner = [*empty_banner, *banner]
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
        [*empty_section, ""] if empty_section else [],
        [*licences, ""],
        [*_usage_section(), ""],
        [*_generation_section(tasks, info), ""],
        [*_filters_section(info.filter_drops), ""],
        [*_mix_section(info.mix_report), ""] if info.mix_report else [],
        _lineage_section(info.lineage_sql),
    ]
    if info.hub_repo_id:
        sections.append(["", f"Hub copy: `{info.hub_repo_id}`."])
    return "\n".join(line for section in sections for line in section) + "\n"
