"""Fixtures for the notification tests: a sample notice, an HTTP client, throwaway TLS certificates."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from arxdeploy.notify import Notice
from tests.notify.servers import Certificates, make_certificates

AT = datetime(2026, 3, 14, 9, 26, 53, tzinfo=UTC)


def make_notice(**changes: Any) -> Notice:
    """A production approval request with every field set; override what a test is about."""
    base = Notice(
        kind="approval_requested",
        service="arxos",
        environment="production",
        version="v1.2.0",
        deployment_id="d-0042",
        at=AT,
        previous_version="v1.1.0",
        requested_by="alice@arxos.com",
        reason="release 1.2: faster search",
        detail="staging has run v1.2.0 for a day",
        changes=("search: new index", "api: /v2/search"),
        approve_url="https://deploy.arxos.com/approvals/d-0042",
        approvers=("admin@arxos.com", "devops@arxos.com"),
    )
    return replace(base, **changes)


@pytest.fixture
def notice() -> Notice:
    return make_notice()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client() as http:
        yield http


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    directory: Path = tmp_path_factory.mktemp("tls")
    return make_certificates(directory)
