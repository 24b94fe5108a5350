"""Functions longer than a limit (default 40 lines, `def` to last line, docstring included).

    python -m bench.long_functions [--limit 40] [path ...]   (default: goose_assets)

Prints one line per function, longest first, and a count; a Dagster definition's function
is marked `[dagster]`: decorated with an asset/check/sensor decorator, or passed to one
(`dg.asset(...)(fn)`, as the stage factories in defs/ do).
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterator
from pathlib import Path

DAGSTER_DECORATORS = {"asset", "multi_asset", "asset_check", "multi_asset_check", "sensor", "op"}


def _decorator_name(node: ast.expr) -> str:
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def long_functions(paths: list[Path], limit: int) -> Iterator[tuple[int, str, bool]]:
    """(lines, 'path:line name', is_dagster) for every function longer than `limit`."""
    for root in paths:
        files = [root] if root.is_file() else sorted(root.rglob("*.py"))
        for path in files:
            tree = ast.parse(path.read_text(encoding="utf-8"))
            wrapped = {
                node.args[0].id for node in ast.walk(tree)
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Call) and node.args
                and isinstance(node.args[0], ast.Name) and _decorator_name(node.func) in DAGSTER_DECORATORS
            }
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    lines = node.end_lineno - node.lineno + 1
                    if lines > limit:
                        dagster = node.name in wrapped or any(
                            _decorator_name(d) in DAGSTER_DECORATORS for d in node.decorator_list
                        )
                        yield lines, f"{path}:{node.lineno} {node.name}", dagster


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=40)
    ap.add_argument("paths", nargs="*", type=Path, default=[Path("goose_assets")])
    args = ap.parse_args(argv)
    found = sorted(long_functions(args.paths, args.limit), reverse=True)
    for lines, where, dagster in found:
        print(f"{lines:4d}  {where}{'  [dagster]' if dagster else ''}")
    n_dagster = sum(1 for *_, d in found if d)
    print(f"{len(found)} functions over {args.limit} lines ({n_dagster} of them Dagster definitions)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
