"""Real PostgreSQL and Redis servers on loopback for the scale-out tests.

Both come from Debian packages (`apt-get install postgresql redis-server`); each server
runs in its own temp folder on a free port of 127.0.0.1 and is stopped afterwards. A
missing or unstartable server raises `ServerUnavailable` with the reason, which the
fixtures turn into a skip.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


class ServerUnavailable(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def postgres_bin() -> Path:
    # Debian keeps the server binaries off PATH, one folder per major version
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise ServerUnavailable("PostgreSQL is not installed: apt-get install -y postgresql")


@dataclass(frozen=True)
class Postgres:
    port: int
    user: str
    bin_dir: Path
    run_as: list[str]

    def catalog(self, dbname: str) -> str:
        """A DuckLake catalog string (what follows `ducklake:` in ATTACH)."""
        return f"postgres:dbname={dbname} host=127.0.0.1 port={self.port} user={self.user}"

    def createdb(self, dbname: str) -> str:
        _run([*self.run_as, str(self.bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, dbname])
        return self.catalog(dbname)


@contextmanager
def postgres_server() -> Iterator[Postgres]:
    bin_dir = postgres_bin()
    run_as: list[str] = []
    owner: pwd.struct_passwd | None = None
    if os.geteuid() == 0:
        # postgres refuses to run as root: run it as the package's own system user
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError as exc:
            raise ServerUnavailable("running as root and there is no 'postgres' user to run the server") from exc
        run_as = ["runuser", "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="goose-pg-"))
    if owner is not None:
        os.chown(root, owner.pw_uid, owner.pw_gid)
    data, log, port, user = root / "data", root / "server.log", free_port(), "goose"
    try:
        _run([*run_as, str(bin_dir / "initdb"), "-D", str(data), "-U", user, "--auth=trust", "-E", "UTF8", "--no-sync"])
        # fsync off and a short-lived cluster: this is a test catalog, not a durable one
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300"
        )
        _run([*run_as, str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(log), "-w", "-t", "60", "start"])
    except ServerUnavailable as exc:
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise ServerUnavailable(f"{exc}\n{tail}") from exc
    try:
        yield Postgres(port=port, user=user, bin_dir=bin_dir, run_as=run_as)
    finally:
        subprocess.run([*run_as, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                       capture_output=True, timeout=60, check=False)
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def redis_server() -> Iterator[str]:
    """A throwaway Redis (no persistence) on a free loopback port; yields its URL."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise ServerUnavailable("redis-server is not installed: apt-get install -y redis-server")
    root = Path(tempfile.mkdtemp(prefix="goose-redis-"))
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
         "--dir", str(root), "--protected-mode", "yes"],
        stdout=(root / "server.log").open("w"), stderr=subprocess.STDOUT,
    )
    try:
        _wait_for_port(port, proc, root / "server.log")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(root, ignore_errors=True)


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerUnavailable(f"server exited with {proc.returncode}: {log.read_text(errors='replace')[-1000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise ServerUnavailable(f"nothing listens on 127.0.0.1:{port} after {timeout_s:.0f}s")


def _run(cmd: list[str]) -> None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ServerUnavailable(f"{' '.join(cmd)}: {exc}") from exc
    if out.returncode != 0:
        raise ServerUnavailable(f"{' '.join(cmd)} exited {out.returncode}: {(out.stderr or out.stdout)[-1500:]}")
