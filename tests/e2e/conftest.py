"""End-to-end: the real `arxdeploy` command in subprocesses, real replicas, the real router."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from arxdeploy.errors import StoreError
from arxdeploy.ports import Summary
from arxdeploy.store.sql import SqlStore
from tests.support import Children, free_port, wait_until, without_arxdeploy_settings

CONFIG = """\
service: e2e-api
target:
  type: local
  local:
    listen: 127.0.0.1:{port}
    command: ["{python}", "app.py", "--port", "{{port}}", "--version", "{{version}}"]
    drain_timeout: 5s
{local_extra}
environments:
  staging:
    branches: [develop]
    replicas: 2
    monitoring_duration: {monitoring}
    rollback_timeout: 20s
deployment_strategy:
  type: blue_green
  blue_green:
    traffic_switch_delay: 0
    scale_down_delay: {scale_down}
health_checks:
  endpoints: [/health, /api/version]
  interval: 200ms
  timeout: 1s
  success_threshold: 2
  failure_threshold: 3
  progress_deadline: {deadline}
{checks_extra}
"""


@dataclass
class Background:
    """A command run by ``Service.start``; its output is kept in files to show when a test fails."""

    args: tuple[str, ...]
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def describe(self) -> str:
        status = self.process.poll()
        state = "still running" if status is None else f"exit status {status}"
        return "\n".join(
            [f"$ arxdeploy {' '.join(self.args)}  [pid {self.process.pid}, {state}]"]
            + [f"--- {path.name}\n{_tail(path)}" for path in (self.stdout, self.stderr)]
        )


def _tail(path: Path, size: int = 4000) -> str:
    text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
    return text[-size:] or "(nothing)"


@dataclass
class Service:
    folder: Path
    port: int
    env: dict[str, str] = field(default_factory=dict)
    background: list[Background] = field(default_factory=list)
    children: Children = field(default_factory=Children)

    @property
    def config(self) -> Path:
        return self.folder / "deployment_config.yaml"

    @property
    def state_dir(self) -> Path:
        return self.folder / ".arxdeploy"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write(
        self,
        *,
        monitoring: str = "2s",
        deadline: str = "8s",
        scale_down: str = "500ms",
        local_extra: str = "",
        checks_extra: str = "",
    ) -> None:
        self.config.write_text(
            CONFIG.format(
                port=self.port,
                python=sys.executable,
                monitoring=monitoring,
                deadline=deadline,
                scale_down=scale_down,
                local_extra=local_extra,
                checks_extra=checks_extra,
            ),
            encoding="utf-8",
        )

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "arxdeploy.cli.main", "-c", str(self.config), *args]

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args), capture_output=True, text=True, timeout=timeout, env=self.env, check=False
        )

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        """Run a command in the background; stopped and reaped after the test whatever happens.

        What it prints goes to files beside the config: a failing test's report shows them.
        """
        name = f"background-{len(self.background) + 1}-{args[0]}"
        stdout, stderr = self.folder / f"{name}.stdout", self.folder / f"{name}.stderr"
        with stdout.open("wb") as out, stderr.open("wb") as err:
            process = self.children.popen(self.command(*args), stdout=out, stderr=err, env=self.env)
        self.background.append(Background(args, process, stdout, stderr))
        return process

    def output(self, process: subprocess.Popen[bytes]) -> str:
        """What a command started by ``start`` printed on its stdout so far."""
        (command,) = (b for b in self.background if b.process is process)
        return command.stdout.read_text(encoding="utf-8")

    def json(self, *args: str) -> Any:
        done = self.run(*args, "--json")
        assert done.stdout, done.stderr
        return json.loads(done.stdout)

    def newest(self) -> dict[str, Any] | None:
        rows = self.json("history", "--limit", "1")
        return rows[0] if rows else None

    def recorded(self) -> Summary | None:
        """The newest deployment as recorded, read in this process: cheap enough to poll.

        (A command per poll costs a second of CPU, seconds on a busy machine, and slows down
        the very process the test waits for.)
        """
        db = self.state_dir / "state.db"
        if not db.exists():
            return None
        try:
            with SqlStore(f"sqlite:///{db}") as store:
                rows = store.history(service="e2e-api", limit=1)
        except StoreError:  # the command holds the new file while it creates the schema: look again
            return None
        return rows[0] if rows else None

    def wait_for(self, process: subprocess.Popen[bytes], version: str, state: str) -> Summary:
        """Wait until ``process`` recorded ``version`` in ``state``; fail at once if it exits first."""

        def reached() -> Summary | None:
            exited = process.poll()
            newest = self.recorded()
            if newest is not None and newest.deployment.version == version and newest.state.value == state:
                return newest
            assert exited is None, f"the command exited with {exited} before {version} was {state}"
            return None

        # Generous: the condition is normally met within seconds; a busy machine only slows it down.
        return wait_until(reached, timeout=120, interval=0.2, what=f"{version} to be {state}")

    def served_version(self) -> str | None:
        try:
            response = httpx.get(f"{self.url}/api/version", timeout=2)
        except httpx.HTTPError:
            return None
        return response.json()["version"] if response.status_code == 200 else None

    def runtime_pid(self) -> int | None:
        path = self.state_dir / "runtime.json"
        return json.loads(path.read_text())["pid"] if path.exists() else None

    def replica_pids(self) -> set[int]:
        pid = self.runtime_pid()
        if pid is None or not psutil.pid_exists(pid):
            return set()
        return {p.pid for p in psutil.Process(pid).children(recursive=True)}


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    app = resources.files("arxdeploy.demo_app").joinpath("app.py").read_text(encoding="utf-8")
    (tmp_path / "app.py").write_text(app, encoding="utf-8")
    env = without_arxdeploy_settings()
    svc = Service(folder=tmp_path, port=free_port(), env=env)
    svc.write()
    yield svc
    try:
        svc.children.stop()  # first: a command still running could start a new runtime
    finally:
        _shutdown(svc)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test shows how far each of its background commands got, and the runtime's log."""
    report = yield
    svc = getattr(item, "funcargs", {}).get("service")
    if report.failed and isinstance(svc, Service):
        for command in svc.background:
            report.sections.append((f"background command {command.stdout.stem}", command.describe()))
        for log in ("arxdeploy.log", "runtime.log"):
            if (svc.state_dir / log).exists():
                report.sections.append((log, _tail(svc.state_dir / log)))
    return report


def _shutdown(svc: Service) -> None:
    pid = svc.runtime_pid()
    pids = svc.replica_pids()
    if pid is not None and psutil.pid_exists(pid):
        os.kill(pid, signal.SIGTERM)
        try:
            psutil.Process(pid).wait(timeout=15)
        except psutil.TimeoutExpired:
            os.kill(pid, signal.SIGKILL)
    survivors = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    for p in survivors:
        os.kill(p, signal.SIGKILL)
    assert not survivors, f"replica processes outlived the runtime: {survivors}"
    shutil.rmtree(svc.state_dir, ignore_errors=True)
