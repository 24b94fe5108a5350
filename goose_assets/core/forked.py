"""Run one piece of work in a forked child process and hand its result back.

Why: a Python process does not return freed heap to the system, and the next step only
partly reuses it (BENCHMARKS, "Performance problems", items 11-12). A child per partition
run gives its heap back when it exits: on the 100K bench corpus math's and code's runs
then stay under 1,840 MB (2,032 MB with one process per partition, more with one for
all). It does not shrink a step: science's `masked_items` alone still reaches 4.4 GB.
Fork, not spawn: the child inherits the parent's imports (~3.3 s per spawn here).

The parent must not have run OpenMP work (a torch forward pass, a HistGradientBoosting
fit) before it forks: GNU OpenMP's thread pool does not survive fork, and a child that
uses it hangs (seen here with torch). Importing and loading a model are safe.
"""

from __future__ import annotations

import multiprocessing as mp
import signal
import sys
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, TypeVar

T = TypeVar("T")


class ForkedWorkError(RuntimeError):
    """The child ended without a result (killed, e.g. by the kernel's OOM killer), or raised
    an exception that could not be sent back; the message says which."""


def can_fork() -> bool:
    # Linux only: macOS's system libraries are not fork-safe once loaded (CPython's own
    # default there is spawn), and Windows has no fork; both run the work in-process
    return sys.platform.startswith("linux") and "fork" in mp.get_all_start_methods()


def _child(work: Callable[[], Any], writer: Connection) -> None:
    try:
        outcome: tuple[Any, ...] = ("result", work())
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent
        outcome = ("error", exc, traceback.format_exc())
    try:
        writer.send(outcome)
    except Exception:  # noqa: BLE001 - an unpicklable result or exception: send its text
        writer.send(("error", None, traceback.format_exc() if outcome[0] == "result" else outcome[2]))
    writer.close()


def _exit_text(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        hint = " (the kernel's OOM killer sends SIGKILL)" if name == "SIGKILL" else ""
        return f"killed by {name}{hint}"
    return f"exit code {exitcode}"


def run_forked(work: Callable[[], T]) -> T:
    """`work()` in a forked child: its return value, or its exception raised again here.
    Where fork is not used (not Linux), `work()` runs in this process."""
    if not can_fork():
        return work()
    ctx = mp.get_context("fork")
    reader, writer = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(work, writer), daemon=True)
    proc.start()
    writer.close()
    outcome = None
    try:
        # read before join: a result larger than the pipe's buffer would block the child
        outcome = reader.recv()
    except EOFError:
        pass
    finally:
        # Ctrl-C here, or a child that closed the pipe and hangs: do not leave it running
        if outcome is None and proc.is_alive():
            proc.terminate()
        proc.join()
        reader.close()
    if outcome is None:
        raise ForkedWorkError(f"the child process ended without a result: {_exit_text(proc.exitcode)}")
    if outcome[0] == "result":
        return outcome[1]
    _, exc, child_traceback = outcome
    if isinstance(exc, BaseException):
        raise exc
    raise ForkedWorkError(f"the child process failed:\n{child_traceback}")
