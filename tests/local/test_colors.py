"""Colors: starting replicas, supervising them, stopping them, and what goes wrong on the way."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
from datetime import timedelta

import httpx
import psutil
import pytest

from arxdeploy.domain.states import Color
from arxdeploy.errors import TargetError
from arxdeploy.ports import ColorState, ProblemKind, Replica
from tests.fixtures.local import ENV, Local, alive, answers
from tests.support import Children, wait_until


def test_replicas_answer_directly_with_their_identity_and_environment(local: Local) -> None:
    target = local.target()
    local.start(target, "green", "v7", replicas=2)
    state = target.inspect(environment=ENV)
    green = state.colors[Color.GREEN]
    assert (green.color, green.version, green.problem, green.size) == (Color.GREEN, "v7", None, 2)
    assert [r.index for r in green.replicas] == [1, 2]
    for replica in green.replicas:
        assert replica.running and replica.restarts == 0 and replica.pid is not None
        assert httpx.get(replica.url + "/api/version").json() == {
            "version": "v7",
            "color": "green",
            "replica": str(replica.index),
        }
        port = replica.url.rsplit(":", 1)[1]
        environ = psutil.Process(replica.pid).environ()
        assert {k: environ.get(k) for k in ("ARXDEPLOY_PORT", "PORT", "ARXDEPLOY_REPLICA")} == {
            "ARXDEPLOY_PORT": port,
            "PORT": port,
            "ARXDEPLOY_REPLICA": str(replica.index),
        }
        assert environ["ARXDEPLOY_VERSION"] == "v7"
        assert environ["ARXDEPLOY_COLOR"] == "green"
        assert environ["ARXDEPLOY_ENVIRONMENT"] == ENV
        assert environ["ARXDEPLOY_SERVICE"] == "demo-api"
        assert environ["GREETING"] == "hello"
        assert psutil.Process(replica.pid).cwd() == str(local.app_dir)


def test_start_color_is_idempotent_and_replaces_another_version(local: Local) -> None:
    target = local.target()
    local.start(target, "blue", "v1", replicas=2)
    pids = [r.pid for r in target.inspect(environment=ENV).colors[Color.BLUE].replicas]
    target.start_color(environment=ENV, color=Color.BLUE, version="v1", replicas=2)
    assert [r.pid for r in target.inspect(environment=ENV).colors[Color.BLUE].replicas] == pids
    local.start(target, "blue", "v2", replicas=1)
    blue = target.inspect(environment=ENV).colors[Color.BLUE]
    assert blue.version == "v2" and len(blue.replicas) == 1
    assert not any(alive(pid) for pid in pids if pid is not None)


def test_the_live_color_is_neither_stopped_nor_replaced(local: Local) -> None:
    target = local.target()
    local.start(target, "blue", "v1")
    target.switch(environment=ENV, color=Color.BLUE)
    with pytest.raises(TargetError, match="blue is live") as stopping:
        target.stop_color(environment=ENV, color=Color.BLUE, drain_timeout=timedelta(seconds=1))
    assert stopping.value.hint == "switch to the other color first"
    with pytest.raises(TargetError, match="cannot be replaced by v2"):
        target.start_color(environment=ENV, color=Color.BLUE, version="v2", replicas=1)
    assert httpx.get(local.url + "/").text == "hello from v1\n"
    # Stopping a color that does not run is fine (idempotent).
    target.stop_color(environment=ENV, color=Color.GREEN, drain_timeout=timedelta(seconds=1))


def test_switching_to_a_color_that_does_not_run_is_refused(local: Local) -> None:
    target = local.target()
    local.start(target, "blue", "v1")
    with pytest.raises(TargetError, match="green has no running replica"):
        target.switch(environment=ENV, color=Color.GREEN)


def test_a_replica_that_dies_is_restarted_after_a_backoff(local: Local) -> None:
    target = local.target()
    local.start(target, "blue", "v1")
    before = target.inspect(environment=ENV).colors[Color.BLUE].replicas[0]
    assert before.pid is not None
    killed = time.monotonic()
    os.kill(before.pid, signal.SIGKILL)

    def down() -> ColorState | None:
        blue = target.inspect(environment=ENV).colors[Color.BLUE]
        return blue if not blue.replicas[0].running else None

    # Until its restart (after a back-off of at least 0.5 s) the color waits: it may come back.
    blue = wait_until(down, what="the replica to be seen down")
    assert blue.problem is not None and blue.problem.kind is ProblemKind.WAITING
    assert blue.problem.reason == "Restarting" and "replica 1 was killed by SIGKILL" in blue.problem.detail

    def restarted() -> Replica | None:
        replica = target.inspect(environment=ENV).colors[Color.BLUE].replicas[0]
        return replica if replica.running and replica.restarts == 1 else None

    after = wait_until(restarted, what="the replica to be restarted")
    # A lower bound the supervisor's own wait guarantees: a busy machine only makes it longer.
    assert time.monotonic() - killed >= 0.5, "restarted without the first backoff"
    assert after.pid != before.pid and after.url == before.url
    wait_until(lambda: answers(after.url + "/health"), what="the restarted replica to answer")
    assert target.inspect(environment=ENV).colors[Color.BLUE].problem is None  # running again: nothing wrong


@pytest.mark.slow
def test_a_version_that_keeps_crashing_is_reported_crash_looping(local: Local) -> None:
    target = local.target()  # crash_loop_restarts=2: restarts after 0.5 s and 1 s
    target.start_color(environment=ENV, color=Color.GREEN, version="v9-crash", replicas=1)

    def crash_looping() -> ColorState | None:
        green = target.inspect(environment=ENV).colors[Color.GREEN]
        return green if green.failed else None

    green = wait_until(crash_looping, what="crash_looping")
    assert green.replicas[0].restarts >= 2
    assert green.problem is not None and green.problem.reason == "CrashLoop"
    assert "replica 1 exited with status 1" in green.problem.detail
    assert "crashing on purpose" in green.problem.detail  # the last output, from the log


def test_log_files_hold_the_apps_output(local: Local) -> None:
    target = local.target()
    assert target.log_files(environment=ENV) == []
    local.start(target, "blue", "v1", replicas=2)
    files = target.log_files(environment=ENV)
    assert [f.name for f in files] == ["blue-1.log", "blue-2.log"]
    text = files[0].read_text()
    assert text.startswith("==== arxdeploy:") and "start v1:" in text.splitlines()[0]
    assert "demo app v1 starting on port" in text


def test_a_command_that_cannot_start_is_a_clear_error(local: Local) -> None:
    target = local.target(command=("/nonexistent/app", "--port", "{port}"))
    with pytest.raises(TargetError, match="cannot start demo-api v1 as staging/blue") as error:
        target.start_color(environment=ENV, color=Color.BLUE, version="v1", replicas=1)
    assert "environments.staging.command" in (error.value.hint or "")
    bad = local.target(command=(sys.executable, "app.py", "--port", "{prot}"))
    with pytest.raises(TargetError, match="placeholder"):
        bad.start_color(environment=ENV, color=Color.BLUE, version="v1", replicas=1)
    with pytest.raises(TargetError, match="no local settings for environment 'prod'"):
        target.start_color(environment="prod", color=Color.BLUE, version="v1", replicas=1)


def test_a_listen_address_in_use_is_a_clear_error(local: Local) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = f"127.0.0.1:{squatter.getsockname()[1]}"
        target = local.target(listen=taken)
        with pytest.raises(TargetError, match=f"cannot listen on {taken} for staging") as error:
            target.start_color(environment=ENV, color=Color.BLUE, version="v1", replicas=1)
        assert "environments.staging.listen" in (error.value.hint or "")
    # Another environment of the same runtime on the same address.
    first = local.target()
    local.start(first, "blue", "v1")
    second = local.target()
    second.environments["qa"] = second.environments[ENV]
    with pytest.raises(TargetError, match=f"environment {ENV} of this runtime uses it"):
        second.start_color(environment="qa", color=Color.BLUE, version="v1", replicas=1)


def test_export_gives_the_runtimes_account_of_the_environment(local: Local) -> None:
    target = local.target()
    local.start(target, "blue", "v1")
    target.switch(environment=ENV, color=Color.BLUE)
    export = target.export(environment=ENV)
    assert set(export.files) == {"environment.json"} and export.versions == ("v1",)
    state = json.loads(export.files["environment.json"])
    assert (state["live_color"], state["colors"]["blue"]["version"], state["service"]) == ("blue", "v1", "demo-api")
    assert export.facts == {"listen": state["listen"]} and state["listen"]
    assert not (local.state_dir / "backups").exists()  # the target writes no backup itself


@pytest.mark.slow
def test_an_abandoned_candidate_is_stopped_but_the_live_color_is_not(local: Local, children: Children) -> None:
    owner = children.popen([sys.executable, "-c", "import time; time.sleep(60)"])
    target = local.target(owner_pid=owner.pid, abandon_after=timedelta(seconds=1))
    local.start(target, "blue", "v1")
    target.switch(environment=ENV, color=Color.BLUE)  # live: no longer a candidate
    local.start(target, "green", "v2")
    green_pids = [r.pid for r in target.inspect(environment=ENV).colors[Color.GREEN].replicas]
    owner.kill()
    owner.wait()
    wait_until(lambda: Color.GREEN not in target.inspect(environment=ENV).colors, what="green to be stopped")
    assert not any(alive(pid) for pid in green_pids if pid is not None)
    state = target.inspect(environment=ENV)
    assert state.live_color == Color.BLUE and state.colors[Color.BLUE].replicas[0].running
