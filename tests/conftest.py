"""Fixtures more than one suite uses. Heavy imports wait inside them: most suites need none."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.fixtures.kube import Cluster


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """One Kubernetes API emulator for the whole session (or the real cluster in ARXDEPLOY_TEST_KUBECONFIG)."""
    from tests.fixtures.kube import open_cluster

    with open_cluster() as made:
        yield made
