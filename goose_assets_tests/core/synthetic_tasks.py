"""Synthetic filtered tasks for the mixing and export tests (no pipeline run needed)."""

from __future__ import annotations

import random
from typing import Any

# licence strings as the shared corpora state them, so the card logic sees real text
SOURCES: dict[str, tuple[str, str]] = {
    "math": (
        "openai/grade-school-math:grade_school_math/data/train.jsonl",
        "MIT (openai/grade-school-math)",
    ),
    "code": ("TheAlgorithms/Python:maths/gcd.py", "MIT (TheAlgorithms/Python LICENSE.md)"),
    "science": (
        "openstax/osbooks-chemistry-bundle:modules/m1/index.cnxml",
        "CC BY-NC-SA 4.0 (NON-COMMERCIAL; per repo LICENSE and collection md:license)",
    ),
    "cyber": (
        "mitre/cti:enterprise-attack/attack-pattern/x.json",
        "MITRE ATT&CK Terms of Use (royalty-free incl. commercial; must reproduce MITRE "
        "copyright notice: '© 2025 The MITRE Corporation. This work is reproduced and "
        "distributed with the permission of The MITRE Corporation.')",
    ),
}
# 16 rollouts per task: pass rates are k/16, plus tasks never rolled out (None)
PASS_RATES: tuple[float | None, ...] = (None, *(k / 16 for k in range(16)))


def make_task(
    index: int, domain: str, pass_rate: float | None, n_options: int = 9
) -> dict[str, Any]:
    source, license_text = SOURCES.get(domain, (f"{domain}/repo:file", "MIT"))
    answer_index = index % n_options
    return {
        "task_id": f"task_{domain}_{index:05d}",
        "domain": domain,
        "question": f"Select the option that fills [MASK].\n\nSolution: step one [MASK] step {index} — ü",
        "options": [f"{domain} option {index}.{k}" for k in range(n_options)],
        "answer_letter": chr(ord("A") + answer_index),
        "answer_index": answer_index,
        "doc_id": f"doc_{domain}_{index // 2:05d}",
        "pass_rate": pass_rate,
        "license": license_text,
        "source": source,
    }


def make_tasks(per_domain: dict[str, int], seed: int = 7) -> list[dict[str, Any]]:
    """``per_domain[d]`` tasks of domain d with pass rates drawn from PASS_RATES."""
    rng = random.Random(seed)
    return [
        make_task(index, domain, rng.choice(PASS_RATES))
        for domain, count in sorted(per_domain.items())
        for index in range(count)
    ]
