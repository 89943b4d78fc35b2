"""The runtime daemon: one per state directory, token-protected, and nothing outlives it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import httpx
import psutil
import pytest

from arxdeploy.domain.states import Color
from arxdeploy.targets.local.client import ensure_runtime, read_runtime
from tests.fixtures.local import ENV, Local, alive
from tests.support import Children, wait_until


def test_constructing_a_target_starts_nothing_and_teardown_needs_no_runtime(local: Local) -> None:
    target = local.target()
    target.stop_environment(environment=ENV)
    target.shutdown_runtime()
    assert read_runtime(local.state_dir) is None
    assert not local.state_dir.exists() or not (local.state_dir / "runtime.json").exists()
    assert not target.runtime_started


def test_reads_start_no_runtime_the_first_start_does_and_later_ones_reuse_it(local: Local) -> None:
    first = local.target()
    assert first.inspect(environment=ENV).colors == {}
    assert not first.runtime_started and read_runtime(local.state_dir) is None
    first.start_color(environment=ENV, color=Color.BLUE, version="v1", replicas=1)
    assert first.runtime_started
    info = read_runtime(local.state_dir)
    assert info is not None
    assert oct((local.state_dir / "runtime.json").stat().st_mode & 0o777) == "0o600"
    second = local.target()
    second.start_color(environment=ENV, color=Color.BLUE, version="v1", replicas=1)
    assert not second.runtime_started
    assert read_runtime(local.state_dir) == info
    # The daemon is nobody's child here: killing the CLI cannot take it down with it.
    assert psutil.Process(info.pid).ppid() != os.getpid()


def test_control_api_requires_the_token(local: Local) -> None:
    ensure_runtime(local.state_dir)
    for token in ("", "wrong"):
        response = local.control("GET", "/v1/healthz", token=token)
        assert response.status_code == 401
        assert response.json()["error"] == "missing or wrong token"
    assert local.control("GET", "/v1/healthz").json()["ok"] is True
    unknown = local.control("GET", "/v1/nothing-here")
    assert unknown.status_code == 404 and "error" in unknown.json()
    bad = local.control("PUT", f"/v1/environments/{ENV}/colors/blue", content=b"{not json")
    assert bad.status_code == 400 and bad.json()["error"] == "the request body is not JSON"
    assert local.control("GET", "/v1/environments/..").status_code in (400, 404)


def test_two_processes_racing_to_start_the_runtime_get_the_same_one(local: Local, children: Children) -> None:
    script = textwrap.dedent(
        f"""
        import json, sys
        from pathlib import Path
        from arxdeploy.targets.local.client import ensure_runtime
        info, started = ensure_runtime(Path({str(local.state_dir)!r}))
        print(json.dumps({{"pid": info.pid, "started": started}}))
        """
    )
    racers = [children.popen([sys.executable, "-c", script], stdout=subprocess.PIPE) for _ in range(2)]
    results = [json.loads(racer.communicate(timeout=30)[0]) for racer in racers]
    assert results[0]["pid"] == results[1]["pid"]
    assert sorted(r["started"] for r in results) == [False, True]

    def runtimes() -> list[int]:  # the loser's daemon may take a moment to find the lock taken
        return [p.pid for p in local.processes() if "local.runtime" in " ".join(p.info["cmdline"] or ())]

    wait_until(lambda: runtimes() == [results[0]["pid"]], what="a single runtime")
    assert ensure_runtime(local.state_dir) == (read_runtime(local.state_dir), False)


def test_replicas_die_with_a_killed_runtime_and_a_fresh_one_starts(local: Local) -> None:
    target = local.target()
    local.start(target, "blue", "v1", replicas=2)
    target.switch(environment=ENV, color=Color.BLUE)
    pids = [r.pid for r in target.inspect(environment=ENV).colors[Color.BLUE].replicas]
    os.kill(local.runtime_pid(), signal.SIGKILL)
    wait_until(lambda: not any(alive(pid) for pid in pids if pid is not None), what="replicas to die")
    assert read_runtime(local.state_dir) is None
    fresh = local.target()
    state = fresh.inspect(environment=ENV)
    assert (state.live_color, state.colors) == (None, {})
    assert not fresh.runtime_started  # a read starts nothing
    local.start(fresh, "blue", "v1")
    assert fresh.runtime_started


def test_a_new_runtime_kills_what_a_killed_one_left_behind(local: Local) -> None:
    # sh stays the group leader (and dies with the runtime); python is its child and would not.
    command = ("sh", "-c", f"{sys.executable} {local.spec.command[1]} --port {{port}} --version {{version}}; true")
    target = local.target(command=command)
    local.start(target, "blue", "v1")
    leader = target.inspect(environment=ENV).colors[Color.BLUE].replicas[0].pid
    assert leader is not None
    app = wait_until(lambda: psutil.Process(leader).children(), what="the app under sh")[0]
    os.kill(local.runtime_pid(), signal.SIGKILL)
    wait_until(lambda: not alive(leader), what="sh to die with the runtime")
    assert alive(app.pid), "the orphan should survive until a new runtime cleans up"
    ensure_runtime(local.state_dir)  # a fresh runtime
    wait_until(lambda: not alive(app.pid), what="the orphan to be killed")


def test_stop_environment_stops_the_router_and_every_color(local: Local) -> None:
    target = local.target()
    local.start(target, "blue", "v1")
    local.start(target, "green", "v2")
    target.switch(environment=ENV, color=Color.BLUE)
    pids = [r.pid for c in target.inspect(environment=ENV).colors.values() for r in c.replicas]
    target.stop_environment(environment=ENV)
    state = target.inspect(environment=ENV)
    assert (state.live_color, state.colors, state.live_url) == (None, {}, None)
    assert not any(alive(pid) for pid in pids if pid is not None)
    with pytest.raises(httpx.ConnectError):
        httpx.get(local.url + "/")
