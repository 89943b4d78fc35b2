"""The crash-trial script: 20 kills at random moments, recovery checked after each."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).parents[2] / "scripts" / "crash_trial.py"


def test_twenty_random_kills_all_recover() -> None:
    spec = importlib.util.spec_from_file_location("crash_trial", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    results = module.main(trials=20, seed=2026, verbose=False)
    assert len(results) == 20
