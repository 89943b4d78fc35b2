"""kill -9 of `arxdeploy deploy` and of the runtime: the next command recovers."""

from __future__ import annotations

import os
import signal

import psutil
import pytest

from tests.support import wait_until

from .conftest import Service

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("state", "ends"),
    [("verifying", "failed"), ("monitoring", "rolled_back"), ("finalizing", "rolled_back")],
)
def test_kill_9_of_deploy_is_recovered_by_the_next_command(service: Service, state: str, ends: str) -> None:
    assert service.run("deploy", "--env", "staging", "--version", "v1").returncode == 0
    # Long waits in the step to kill, so that the kill lands inside it.
    if state == "finalizing":
        service.write(monitoring="1s", scale_down="30s")
    else:
        service.write(monitoring="30s", deadline="30s")
    version = "v2-slow-start-3s" if state == "verifying" else "v2"
    proc = service.start("deploy", "--env", "staging", "--version", version)
    wait_until(lambda: (n := service.newest()) and n["version"] == version and n["state"] == state, 40, what=state)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert service.served_version() == ("v2" if state in ("monitoring", "finalizing") else "v1")

    status = service.run("status", "--env", "staging")
    assert status.returncode == 0, status.stderr
    newest = service.newest()
    assert newest is not None and newest["version"] == version and newest["state"] == ends
    shown = service.json("show", newest["id"])
    assert "interrupted" in shown["failure"]["reason"]
    assert service.served_version() == "v1"
    # Only the live color's replicas are left.
    state_now = service.json("status")["environments"][0]
    assert (state_now["live_version"], state_now["health"]["status"]) == ("v1", "healthy")
    assert len(service.replica_pids()) == 2


def test_killed_runtime_is_restored_by_the_next_command(service: Service) -> None:
    assert service.run("deploy", "--env", "staging", "--version", "v1").returncode == 0
    assert service.run("deploy", "--env", "staging", "--version", "v2").returncode == 0
    runtime = service.runtime_pid()
    assert runtime is not None
    replicas = service.replica_pids()
    os.kill(runtime, signal.SIGKILL)
    wait_until(lambda: not any(psutil.pid_exists(p) for p in replicas), 10, what="replicas to die with the runtime")
    assert service.served_version() is None

    status = service.json("status", "--env", "staging")
    row = status["environments"][0]
    assert (row["live_version"], row["live_color"], row["health"]["status"]) == ("v2", "green", "healthy")
    assert service.served_version() == "v2"
    assert service.runtime_pid() != runtime
