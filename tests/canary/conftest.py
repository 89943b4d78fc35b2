"""Fixtures of the canary tests: the config tests' ``write``."""

from __future__ import annotations

from tests.config.conftest import write

__all__ = ["write"]
