"""`store_url` in the config puts the deployment record in another database, PostgreSQL included."""

from __future__ import annotations

from pathlib import Path

import pytest

from arxdeploy.bootstrap import build
from arxdeploy.domain import events
from arxdeploy.domain.events import Deployment
from arxdeploy.domain.states import Color, State
from arxdeploy.testing.clock import ManualClock

CONFIG = """\
service: shared-api
store_url: "{url}"
target:
  type: local
  local:
    command: ["true"]
environments:
  staging:
    replicas: 1
"""


def record_one(config: Path) -> str:
    """Record a deployment through the wired store, as the engine would."""
    app = build(config, {})
    try:
        now = ManualClock().now()
        d = Deployment(
            id="20260101-000000-abcd",
            service="shared-api",
            environment="staging",
            version="v1",
            previous_version=None,
            new_color=Color.BLUE,
            old_color=None,
            created_at=now,
        )
        app.store.create(deployment=d, events=[events.entered(State.REQUESTED, now)])
        return app.store.get(deployment_id="20260101-000000").deployment.id
    finally:
        app.close()


def test_sqlite_url_elsewhere(tmp_path: Path) -> None:
    db = tmp_path / "shared" / "record.db"
    config = tmp_path / "deployment_config.yaml"
    config.write_text(CONFIG.format(url=f"sqlite:///{db}"))
    assert record_one(config) == "20260101-000000-abcd"
    assert db.exists()
    assert not (tmp_path / ".arxdeploy" / "state.db").exists()


@pytest.mark.usefixtures("postgres_server")
def test_postgresql_url(tmp_path: Path, postgres_url: str) -> None:
    config = tmp_path / "deployment_config.yaml"
    config.write_text(CONFIG.format(url=postgres_url))
    assert record_one(config) == "20260101-000000-abcd"
    app = build(config, {})
    try:
        [summary] = app.store.history(service="shared-api")
        assert summary.state is State.REQUESTED
    finally:
        app.close()
