"""Shared fixtures. Tests that read ../shared/corpora are marked `corpora` and skip with a
clear reason where that folder is absent (as on a user's fresh machine)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# as bench/common.py: $GOOSE_SHARED_CORPORA, else ../shared/corpora beside the checkout
CORPORA = Path(os.environ.get("GOOSE_SHARED_CORPORA") or REPO_ROOT / ".." / "shared" / "corpora").resolve()

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
warnings.filterwarnings("ignore", message=".*is currently in (preview|beta).*")


@pytest.fixture(scope="session")
def corpora_dir() -> Path:
    if not CORPORA.is_dir():
        pytest.skip(f"../shared/corpora not found at {CORPORA}: real-corpus tests need the shared data folder "
                    "(or GOOSE_SHARED_CORPORA)")
    return CORPORA


@pytest.fixture()
def goose_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "goose_home"
    monkeypatch.setenv("GOOSE_HOME", str(home))
    return home
