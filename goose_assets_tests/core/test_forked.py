"""core/forked.py: work in a forked child hands back its result or its error, a killed
child is reported as such, and the child's heap never reaches the parent."""

from __future__ import annotations

import os
import signal

import pytest

from goose_assets.core.forked import ForkedWorkError, can_fork, run_forked

pytestmark = pytest.mark.skipif(not can_fork(), reason="fork is used on Linux only: elsewhere run_forked runs in-process")


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_the_result_comes_back_from_another_process() -> None:
    parent = os.getpid()
    child_pid, rows = run_forked(lambda: (os.getpid(), [{"task_id": "t1", "kept": True}]))
    assert child_pid != parent
    assert rows == [{"task_id": "t1", "kept": True}]


def test_a_large_result_is_read_before_the_child_is_joined() -> None:
    # larger than a pipe's buffer (64 KiB): joining first would deadlock
    assert len(run_forked(lambda: "x" * 5_000_000)) == 5_000_000


def test_the_childs_exception_is_raised_again_here() -> None:
    def fail() -> None:
        raise ValueError("science: masked_items failed")

    with pytest.raises(ValueError, match="science: masked_items failed"):
        run_forked(fail)


def test_an_unpicklable_result_fails_with_the_childs_traceback() -> None:
    with pytest.raises(ForkedWorkError, match="(?s)the child process failed:.*pickle"):
        run_forked(lambda: (lambda: None))


def test_a_killed_child_is_named_not_hung_on() -> None:
    def oom_killed() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    with pytest.raises(ForkedWorkError, match="killed by SIGKILL .*OOM"):
        run_forked(oom_killed)


def test_a_child_that_exits_without_a_result_is_reported() -> None:
    with pytest.raises(ForkedWorkError, match="exit code 3"):
        run_forked(lambda: os._exit(3))


def test_the_childs_heap_never_grows_this_process() -> None:
    before = _rss_mb()

    def grow() -> float:
        # measured from the child's own start: a fork maps file-backed pages lazily, so
        # the child's RSS begins below the parent's
        start = _rss_mb()
        blocks = [bytearray(2**20) for _ in range(300)]
        for block in blocks:
            block[::4096] = b"g" * len(block[::4096])  # touch every page
        return _rss_mb() - start

    assert run_forked(grow) > 250
    assert _rss_mb() - before < 50
