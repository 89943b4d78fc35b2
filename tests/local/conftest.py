"""Fixtures for the local target: real runtimes, real processes, real sockets.

Every test gets its own state directory and router port, and its runtime is shut down after
it; the teardown then checks that no process the test started is left.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

import arxdeploy.demo_app.app
from arxdeploy.domain.states import Color
from arxdeploy.targets.local.client import LocalEnvironmentSpec, LocalTarget, read_runtime
from arxdeploy.targets.local.files import RuntimeFiles, read_json
from tests.support import free_port, wait_until

DEMO_APP = Path(arxdeploy.demo_app.app.__file__)
ECHO_APP = Path(__file__).with_name("echo_app.py")
ENV = "staging"


def alive(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code < 500
    except httpx.TransportError:
        return False


@dataclass
class Local:
    """One test's local target setup: state dir, app dir, router address, and targets on them."""

    root: Path
    state_dir: Path
    app_dir: Path
    listen: str
    spec: LocalEnvironmentSpec
    targets: list[LocalTarget] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{self.listen}"

    def target(self, *, owner_pid: int | None = None, **changes: Any) -> LocalTarget:
        target = LocalTarget(
            state_dir=self.state_dir,
            service="demo-api",
            environments={ENV: replace(self.spec, **changes)},
            owner_pid=owner_pid,
        )
        self.targets.append(target)
        return target

    def start(self, target: LocalTarget, color: str, version: str, replicas: int = 1) -> None:
        """Start a color and wait until every replica answers."""
        target.start_color(environment=ENV, color=Color(color), version=version, replicas=replicas)
        state = target.inspect(environment=ENV).colors[Color(color)]
        for replica in state.replicas:
            health = replica.url + "/health"
            wait_until(lambda: answers(health), what=f"{color} replica {replica.index}")  # noqa: B023 (called at once)

    def runtime_pid(self) -> int:
        info = read_json(RuntimeFiles(self.state_dir).info)
        assert isinstance(info, dict)
        return int(info["pid"])

    def control(self, method: str, path: str, *, token: str | None = None, **kwargs: Any) -> httpx.Response:
        """A raw control API call (token from runtime.json unless given; "" sends none)."""
        info = read_runtime(self.state_dir)
        assert info is not None
        token = info.token if token is None else token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.request(method, info.url + path, headers=headers, timeout=30.0, **kwargs)

    def processes(self) -> list[psutil.Process]:
        """Live processes this test started: the runtime (by its command line), replicas (by cwd)."""
        mine = []
        for proc in psutil.process_iter(["cmdline", "cwd", "status"]):
            if proc.info["status"] == psutil.STATUS_ZOMBIE or proc.pid == os.getpid():
                continue
            cmdline = " ".join(proc.info["cmdline"] or ())
            cwd = proc.info["cwd"] or ""
            if str(self.root) in cmdline or cwd.startswith(str(self.root)):
                mine.append(proc)
        return mine


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Local]:
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    listen = f"127.0.0.1:{free_port()}"
    spec = LocalEnvironmentSpec(
        command=(sys.executable, str(DEMO_APP), "--port", "{port}", "--version", "{version}"),
        cwd=app_dir,
        env={"GREETING": "hello"},
        listen=listen,
        crash_loop_restarts=2,
        crash_loop_window=timedelta(seconds=60),
    )
    setup = Local(root=tmp_path, state_dir=tmp_path / "state", app_dir=app_dir, listen=listen, spec=spec)
    try:
        yield setup
    finally:
        cleaner = LocalTarget(state_dir=setup.state_dir, service="demo-api", environments={})
        try:
            cleaner.shutdown_runtime()
        finally:
            cleaner.close()
            for target in setup.targets:
                target.close()
        leftovers = _wait_gone(setup)
        assert not leftovers, f"processes left behind: {leftovers}"


def _wait_gone(setup: Local, timeout: float = 10.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while (left := setup.processes()) and time.monotonic() < deadline:
        time.sleep(0.05)
    described = [f"{p.pid}: {' '.join(p.info['cmdline'] or ())}" for p in left]
    for proc in left:  # don't let one failed test leak into the next ones
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
    return described
