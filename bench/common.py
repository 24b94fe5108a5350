"""Shared helpers for the benchmarks: paths, machine facts, results, tables, subprocesses.

Every benchmark writes one JSON document to bench/results/<name>.json ($GOOSE_BENCH_RESULTS
when set) with the machine it ran on and the exact command, and prints a markdown table;
bench/report.py rebuilds the BENCHMARKS.md tables from those files only.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
# Both overridable so that a smoke run (CI, goose_assets_tests/test_bench_smoke.py) can
# write to a temp folder: the committed bench/results/*.json and a developer's bench/.data
# (corpora, warehouses) are then never touched. Children inherit the environment.
DATA = Path(os.environ.get("GOOSE_BENCH_DATA") or BENCH / ".data")  # gitignored: corpora, warehouses, logs
RESULTS = Path(os.environ.get("GOOSE_BENCH_RESULTS") or BENCH / "results")
COMMITTED_RESULTS = BENCH / "results"
# The shared corpora: $GOOSE_SHARED_CORPORA, else ../shared/corpora beside the repository
# (where the lead's checkout and the worktrees live). A clone elsewhere (/tmp, a user's
# machine) has neither; the benchmarks that need it are then skipped with this reason.
CORPORA = Path(os.environ.get("GOOSE_SHARED_CORPORA") or REPO.parent / "shared" / "corpora")
PEER_VENV = BENCH / ".venv-peer"
PEER_LLM_VENV = BENCH / ".venv-peer-llm"
DOMAINS = ("math", "code", "science", "cyber")

T = TypeVar("T")


def machine() -> dict[str, Any]:
    """What the numbers were measured on, read at run time (not assumed)."""
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "mem_gib": round(mem_kb / 1024 / 1024, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def corpora_missing() -> str | None:
    """Why the shared corpora cannot be used, or None when they can."""
    if (CORPORA / "math.jsonl").is_file():
        return None
    return (f"shared corpora not found at {CORPORA} (set GOOSE_SHARED_CORPORA to a folder with "
            f"math/code/science/cyber.jsonl, web_raw.jsonl and benchmarks/)")


def write_result(name: str, data: dict[str, Any], argv: Sequence[str] | None = None,
                 module: str | None = None) -> Path:
    """Atomically write bench/results/<name>.json with the machine and the command.

    `argv` are the arguments the benchmark's main() got: when bench.run calls it, the
    process's own sys.argv is bench.run's (`--quick`), not the benchmark's. `module`
    names the benchmark module when the result name differs (dedup_decontam_100k)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    args = sys.argv[1:] if argv is None else list(argv)
    doc = {
        "benchmark": name,
        "command": " ".join(["python -m bench." + (module or name), *args]),
        "finished_at": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": machine(),
        **data,
    }
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=False) + "\n")
    tmp.replace(path)
    return path


def write_text_atomic(path: Path, text: str) -> None:
    """Write a file that a concurrent benchmark may be reading or writing too."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def read_result(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def median_of(n: int, fn: Callable[[], T], key: Callable[[T], float]) -> tuple[T, list[float]]:
    """Run fn n times; return the run whose key is the median, and every key (noise shown)."""
    runs = [fn() for _ in range(n)]
    keys = [key(r) for r in runs]
    med = statistics.median_low(keys)
    return runs[keys.index(med)], keys


def peak_rss_mb() -> float:
    """This process's peak RSS (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_s_with_children() -> float:
    """CPU seconds of this process and of the children it has waited for (the forked
    partition runs of bench/pipeline_run.py's dagster mode)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def peak_child_rss_mb() -> float:
    """The peak RSS of the largest child process this one has waited for (0 if none)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def run_json_child(args: Sequence[str], timeout: float | None = None, env: dict[str, str] | None = None,
                   python: str | Path | None = None) -> dict[str, Any]:
    """Run `python <args>` in a fresh process and parse the last stdout line as JSON.

    A fresh process per measurement makes peak RSS that measurement's own, and keeps one
    tool's imports and caches from warming the next one.
    """
    cmd = [str(python or sys.executable), *args]
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=full_env, cwd=REPO)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"{' '.join(cmd)} printed no JSON:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return json.loads(lines[-1])


def peer_python(venv: Path) -> Path | None:
    py = venv / "bin" / "python"
    return py if py.exists() else None
