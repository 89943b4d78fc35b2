"""A real server on a real socket over a real store; deployments made with a fake target.

Each test gets its own config folder, SQLite store and uvicorn server on a free port. The App's
engine is swapped for one over ``FakeTarget`` and a ``ManualClock``: deployments reach
``awaiting_approval`` without starting processes, and the gate's expiry is one ``advance`` away.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from arxdeploy.api import create_app
from arxdeploy.bootstrap import App, build, new_deployment_id
from arxdeploy.domain.events import Deployment
from arxdeploy.engine.locks import Leases
from arxdeploy.engine.run import Engine
from arxdeploy.ports import Hook, SecurityGates
from arxdeploy.testing.clock import ManualClock
from arxdeploy.testing.target import FakeHealth, FakeTarget
from tests.drive import deploy
from tests.support import free_port

SECRET = "s3cr3t-demo-value"
REQUESTER = "ana@example.com"
APPROVERS = ("ana@example.com", "bo@example.com", "cy@example.com")

CONFIG = """\
service: demo-api
target:
  type: local
  local:
    listen: 127.0.0.1:{port}
    command: ["{python}", "app.py", "--port", "{{port}}", "--version", "{{version}}"]
    env:
      DEMO_TOKEN: ${{DEMO_TOKEN}}
environments:
  staging:
    replicas: 1
    monitoring_duration: 10s
  production:
    replicas: 2
    monitoring_duration: 10s
approval_gates:
  enabled: true
  required_for: [production]
  approvers: [ana@example.com, bo@example.com, cy@example.com]
  min_approvals: 2
  timeout_minutes: 30
health_checks:
  endpoints: [/health]
"""


class LiveServer:
    """uvicorn in a background thread, started and stopped within a deadline."""

    def __init__(self, api: Any) -> None:
        self.port = free_port()
        config = uvicorn.Config(api, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name=f"uvicorn-{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise AssertionError(f"the server did not start on port {self.port} within {timeout}s")
            time.sleep(0.01)

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the server did not stop"


@dataclass
class World:
    app: App
    clock: ManualClock
    engine: Engine
    server: LiveServer
    client: httpx.Client
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    def token(self, email: str) -> str:
        if email not in self.tokens:
            _, text = self.app.tokens.create(email=email, created_by="admin@example.com")
            self.tokens[email] = text
        return self.tokens[email]

    def auth(self, email: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(email)}"}

    def request_production(self, version: str = "v2", reason: str = "ship it") -> Deployment:
        d, view = deploy(self.engine, plan=self.app.plan("production"), version=version, reason=reason, wait=False)
        assert view.state.value == "awaiting_approval"
        return d

    def deploy_staging(self, version: str = "v1") -> Deployment:
        d, view = deploy(self.engine, plan=self.app.plan("staging"), version=version, wait=True)
        assert view.state.value == "succeeded", view
        return d

    def deploy_staging_failed(self, version: str) -> Deployment:
        d, view = deploy(self.engine, plan=self.app.plan("staging"), version=version, wait=True)
        assert view.failure is not None, view
        return d

    def get(self, path: str, email: str = "bo@example.com", **kwargs: Any) -> httpx.Response:
        return self.client.get(path, headers=self.auth(email), **kwargs)

    def post(self, path: str, email: str, json: Any = None) -> httpx.Response:
        return self.client.post(path, headers=self.auth(email), json=json)


def make_app(folder: Path) -> tuple[App, ManualClock, Engine]:
    (folder / "deployment_config.yaml").write_text(
        CONFIG.format(port=free_port(), python=sys.executable), encoding="utf-8"
    )
    environ = {"PATH": os.environ.get("PATH", ""), "ARXDEPLOY_EMAIL": REQUESTER, "DEMO_TOKEN": SECRET}
    app = build(folder / "deployment_config.yaml", environ)
    clock, engine = on_manual_clock(app)
    return app, clock, engine


def on_manual_clock(
    app: App, *, hooks: Sequence[Hook] = (), security: SecurityGates | None = None
) -> tuple[ManualClock, Engine]:
    """``app``'s engine on a manual clock and a fake target, with its own hooks and ``hooks``."""
    clock = ManualClock(start=datetime.now(UTC).replace(microsecond=0))
    target = FakeTarget(clock=clock)
    # Manual time jumps minutes at once: a long lease keeps expiry out of these tests.
    leases = Leases(store=app.store, clock=clock, me=app.me, is_alive=lambda _holder: True, ttl=timedelta(days=1))
    engine = Engine(
        store=app.store,
        target=target,
        health=FakeHealth(target),
        clock=clock,
        leases=leases,
        new_id=new_deployment_id,
        backups=app.backups,
        hooks=[*app.hooks, *hooks],
        security=security,
    )
    # The server reads app.clock, app.approvals and app.tokens: they now use the manual clock.
    app.clock, app.leases, app.engine = clock, leases, engine
    return clock, engine


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    app, clock, engine = make_app(tmp_path)
    server = LiveServer(create_app(app))
    server.start()
    client = httpx.Client(base_url=server.url, timeout=10)
    try:
        yield World(app=app, clock=clock, engine=engine, server=server, client=client)
    finally:
        client.close()
        server.stop()
        app.close()
