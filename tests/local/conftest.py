"""Fixtures for the local target: real runtimes, real processes, real sockets (``tests.fixtures.local``)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.local import DEMO_APP, Local, local_setup


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Local]:
    """The demo app; crash loops are reported after 2 restarts."""
    command = (sys.executable, str(DEMO_APP), "--port", "{port}", "--version", "{version}")
    with local_setup(tmp_path, command=command, env={"GREETING": "hello"}, crash_loop_restarts=2) as setup:
        yield setup
