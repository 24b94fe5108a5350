"""Progress of a long step: done/total, rate and ETA, logged at most every few seconds.

One class for every caller: an asset streaming a partition logs through Dagster's log, an
LLM backend through its logger; either passes the `info` function it logs with. `fn`, when
given, sees every update (a backend reports its calls to the asset this way).
"""

from __future__ import annotations

import time
from collections.abc import Callable

# done, total
ProgressFn = Callable[[int, int], None]


class Progress:
    """Counts, rate and ETA to `log`, at most every `every_s` seconds and at the end."""

    def __init__(self, label: str, total: int, log: Callable[[str], None] | None = None,
                 every_s: float = 5.0, fn: ProgressFn | None = None) -> None:
        self.label, self.total, self.log, self.every_s, self.fn = label, total, log, every_s, fn
        self.done = 0
        self.start = self.last = time.monotonic()

    def __call__(self, done: int, total: int | None = None) -> None:
        self.done = done
        total = total or self.total
        if self.fn is not None:
            self.fn(done, total)
        now = time.monotonic()
        if now - self.last < self.every_s and done < total:
            return
        self.last = now
        if self.log is not None:
            self.log(self.line(now, total))

    def advance(self, k: int = 1) -> None:
        self(self.done + k)

    def line(self, now: float | None = None, total: int | None = None) -> str:
        total = total or self.total
        rate = self.done / max((now or time.monotonic()) - self.start, 1e-9)
        eta = f"{(total - self.done) / rate:.0f}s" if rate > 0 else "?"
        return f"{self.label}: {self.done}/{total} done, {rate:.1f}/s, ETA {eta}"


class BatchProgress:
    """A `Progress` fed by per-batch counts: batch k's `done` is offset by the rows of
    the batches before it, so the log shows the stage's total."""

    def __init__(self, progress: Progress) -> None:
        self.progress, self.offset = progress, 0

    def __call__(self, done: int, total: int | None = None) -> None:
        self.progress(self.offset + done, self.progress.total)

    def next_batch(self, size: int) -> None:
        self.offset += size
