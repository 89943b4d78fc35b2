"""Fixtures of the canary tests: the config tests' ``write``, the end-to-end tests' ``service``."""

from __future__ import annotations

from tests.config.conftest import write
from tests.e2e.conftest import service

__all__ = ["service", "write"]
