"""Fixtures of the analysis tests."""

from __future__ import annotations

from tests.config.conftest import write  # noqa: F401 (the config tests' fixture: a config file in tmp_path)
