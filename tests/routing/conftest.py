"""Helpers for the routing tests: the seed config in tmp_path, and a process environment free of GitHub's variables."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.support import CACHE_DIR

SEED = Path(__file__).parents[1] / "config" / "fixtures" / "seed.yaml"


@pytest.fixture(autouse=True)
def _outside_github(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests may themselves run in GitHub Actions: start from an environment without its variables
    (the session's cache folder stays)."""
    for name in list(os.environ):
        if name.startswith(("GITHUB_", "RUNNER_", "ARXDEPLOY_")) and name != CACHE_DIR:
            monkeypatch.delenv(name)


@pytest.fixture
def seed_config(tmp_path: Path) -> Path:
    """The seed config (staging: develop; production: main and v*, with approval) copied to tmp_path."""
    path = tmp_path / "deployment_config.yaml"
    shutil.copyfile(SEED, path)
    return path
