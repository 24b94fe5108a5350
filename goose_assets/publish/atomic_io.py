"""Crash-safe file and directory writes: temp in the same directory, fsync, rename.

A reader of the target path sees either the old content or the new, never a half-written
file. Temp names are hidden (``.<name>.tmp-<pid>-<random>``) siblings, so ``os.replace``
stays within one filesystem, and they are removed on any exception. A hard kill (SIGKILL,
power loss) can leave such a sibling behind; it is never mistaken for content.

Atomic writes keep each file whole, not a set of files consistent: writers of one set
(an export directory and its manifest) take a ``FileLock`` so they go one at a time.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["FileLock", "atomic_directory", "atomic_file", "atomic_write_bytes"]


class FileLock:
    """An exclusive ``flock`` on one file: across processes one holder at a time, and
    re-entrant within a process (a nested ``held`` in the holding thread goes straight
    through; another thread waits). The lock goes with the process, so a killed holder
    never leaves it taken."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._guard = threading.RLock()
        self._depth = 0
        self._fd = -1

    @contextmanager
    def held(self) -> Iterator[None]:
        with self._guard:
            if self._depth == 0:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0:
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
                    os.close(self._fd)
                    self._fd = -1


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
