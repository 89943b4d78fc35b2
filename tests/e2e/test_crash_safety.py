"""kill -9 of `arxdeploy deploy` and of the runtime: `status` reports it, the next change recovers."""

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
    # Long waits in the step to kill, so that the kill lands inside it: minutes (the kill ends
    # them), so that a busy machine cannot make the test miss the state.
    if state == "finalizing":
        service.write(monitoring="1s", scale_down="300s")
    else:
        service.write(monitoring="300s", deadline="300s")
    version = "v2-slow-start-300s" if state == "verifying" else "v2"
    proc = service.start("deploy", "--env", "staging", "--version", version)
    service.wait_for(proc, version, state)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert service.served_version() == ("v2" if state in ("monitoring", "finalizing") else "v1")

    # `status` reads only: it names the abandoned deployment and leaves it to the next command.
    status = service.json("status", "--env", "staging")["environments"][0]
    killed = service.newest()
    assert killed is not None and killed["state"] == state
    assert any(f"was interrupted in {state}" in note for note in status["notes"]), status["notes"]
    assert service.served_version() == ("v2" if state in ("monitoring", "finalizing") else "v1")

    reconciled = service.run("reconcile", "--env", "staging")
    assert reconciled.returncode == 0, reconciled.stderr
    assert f"recovered interrupted deployment {killed['id']}" in reconciled.stdout + reconciled.stderr
    newest = service.newest()
    assert newest is not None and newest["id"] == killed["id"] and newest["state"] == ends
    shown = service.json("show", newest["id"])
    assert "interrupted" in shown["failure"]["reason"]
    assert service.served_version() == "v1"
    # Only the live color's replicas are left.
    state_now = service.json("status")["environments"][0]
    assert (state_now["live_version"], state_now["health"]["status"], state_now["drift"]) == ("v1", "healthy", None)
    assert len(service.replica_pids()) == 2


def test_a_killed_runtime_is_reported_by_status_and_brought_back_by_reconcile(service: Service) -> None:
    assert service.run("deploy", "--env", "staging", "--version", "v1").returncode == 0
    assert service.run("deploy", "--env", "staging", "--version", "v2").returncode == 0
    runtime = service.runtime_pid()
    assert runtime is not None
    replicas = service.replica_pids()
    os.kill(runtime, signal.SIGKILL)
    wait_until(lambda: not any(psutil.pid_exists(p) for p in replicas), 10, what="replicas to die with the runtime")
    assert service.served_version() is None

    # `status` reads only: it reports the drift and the fix, and starts nothing.
    row = service.json("status", "--env", "staging")["environments"][0]
    assert (row["live_version"], row["live_color"], row["health"]["status"]) == (None, None, "down")
    assert row["drift"]["message"] == "the record says v2 on green is live in staging, but nothing takes traffic there"
    assert row["drift"]["fix"] == "arxdeploy reconcile --env staging"
    assert service.runtime_pid() == runtime and not psutil.pid_exists(runtime)  # no new runtime
    assert service.served_version() is None

    reconciled = service.json("reconcile", "--env", "staging")
    assert (reconciled["kind"], reconciled["version"], reconciled["state"]) == ("reconcile", "v2", "succeeded")
    assert service.served_version() == "v2"
    assert service.runtime_pid() not in (None, runtime)
    row = service.json("status", "--env", "staging")["environments"][0]
    assert (row["live_version"], row["health"]["status"], row["drift"]) == ("v2", "healthy", None)
    assert [h["kind"] for h in service.json("history")][:3] == ["reconcile", "deploy", "deploy"]


def test_no_reading_command_starts_or_changes_anything_after_the_runtime_died(service: Service) -> None:
    assert service.run("deploy", "--env", "staging", "--version", "v1").returncode == 0
    deployment_id = service.json("history", "--limit", "1")[0]["id"]
    runtime = service.runtime_pid()
    assert runtime is not None
    os.kill(runtime, signal.SIGKILL)
    wait_until(lambda: not psutil.pid_exists(runtime), 10, what="the runtime to die")
    record = (service.state_dir / "state.db").read_bytes()

    for command in (
        ["status"],
        ["status", "--json"],
        ["history"],
        ["show", deployment_id],
        ["logs", "--env", "staging"],
        ["approvals"],
        ["backup", "list"],
        ["backup", "show", deployment_id],
        ["validate"],
        ["route", "--event", "push", "--ref", "refs/heads/develop", "--sha", "abc1234"],
        ["schema"],
        ["security", "check", "--env", "staging", "--version", "v9"],
    ):
        done = service.run(*command)
        assert done.returncode == 0, (command, done.stderr)
        assert service.runtime_pid() == runtime and not psutil.pid_exists(runtime), command  # none started
        assert service.served_version() is None, command
    assert (service.state_dir / "state.db").read_bytes() == record  # the record is untouched too
