"""The runtime ends itself once nobody needs it: no environment and no request for a while."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from arxdeploy.clock import SystemClock
from arxdeploy.domain.states import Color
from arxdeploy.engine.seam import TargetSeam
from arxdeploy.errors import TransientTargetError
from arxdeploy.targets.local import runtime
from arxdeploy.targets.local.api import control_app
from arxdeploy.targets.local.client import ensure_runtime, read_runtime
from arxdeploy.targets.local.environments import Environments
from arxdeploy.targets.local.files import RuntimeFiles
from arxdeploy.targets.local.idle import Idleness
from tests.fixtures.local import ENV, Local, alive, answers
from tests.support import Children, wait_until

IDLE = "0.5"  # seconds: what these tests give ARXDEPLOY_RUNTIME_IDLE_EXIT
RUNTIME = [sys.executable, "-m", "arxdeploy.targets.local.runtime"]


@pytest.fixture
def short_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runtimes started by this test (they inherit this process's environment) idle out quickly."""
    monkeypatch.setenv(runtime.IDLE_EXIT_ENV, IDLE)


def runtime_log(local: Local) -> str:
    return (local.state_dir / "runtime.log").read_text(encoding="utf-8")


@pytest.mark.usefixtures("short_idle")
def test_the_runtime_exits_once_its_last_environment_is_stopped(local: Local) -> None:
    target = local.target()
    local.start(target, "blue", "v1")
    target.switch(environment=ENV, color=Color.BLUE)
    pid = local.runtime_pid()
    time.sleep(4 * float(IDLE))  # idle time passes several times over: an environment keeps it up
    assert alive(pid)
    assert answers(local.url + "/health")

    target.stop_environment(environment=ENV)
    wait_until(lambda: not alive(pid), what="the runtime to exit once idle")
    assert read_runtime(local.state_dir) is None
    assert not (local.state_dir / "runtime.json").exists()
    log = runtime_log(local)
    assert log.index(f"{ENV}: stopped") < log.index(f"no environment and no request for {IDLE}s: exiting")
    assert log.rstrip().endswith(f"runtime {pid} stopped")


@pytest.mark.usefixtures("short_idle")
def test_a_deployment_whose_runtime_left_meanwhile_starts_a_new_one(local: Local) -> None:
    target = local.target()
    local.start(target, "blue", "v1")
    first = local.runtime_pid()
    target.stop_environment(environment=ENV)
    wait_until(lambda: not alive(first), what="the idle runtime to exit")

    # The target still knows the gone runtime's address, like a deploy between two calls: its
    # next call fails as transient, and the engine's seam calls again, which starts a new runtime.
    with pytest.raises(TransientTargetError, match="cannot reach the local runtime"):
        target.start_color(environment=ENV, color=Color.BLUE, version="v1", replicas=1)
    seam = TargetSeam(target=target, clock=SystemClock())
    seam.start_color(environment=ENV, color=Color.GREEN, version="v2", replicas=1)
    assert target.runtime_started and local.runtime_pid() != first
    green = seam.inspect(environment=ENV).colors[Color.GREEN].replicas[0]
    wait_until(lambda: answers(green.url + "/health"), what="v2 to answer")
    seam.switch(environment=ENV, color=Color.GREEN)
    assert httpx.get(local.url + "/api/version").json()["version"] == "v2"


@pytest.mark.usefixtures("short_idle")
def test_a_runtime_scraped_for_metrics_still_exits_when_idle(local: Local) -> None:
    info, _ = ensure_runtime(local.state_dir)

    def scraped_and_gone() -> bool:
        # A scraper every 0.1 s, more often than the idle time: scrapes are not activity.
        with contextlib.suppress(httpx.TransportError):  # it left meanwhile
            assert httpx.get(info.url + "/metrics", timeout=1.0).status_code == 200
        return not alive(info.pid)

    wait_until(scraped_and_gone, interval=0.1, what="the scraped runtime to exit once idle")
    assert not (local.state_dir / "metrics-targets.json").exists()


def test_the_idle_exit_flag_ends_a_runtime_that_never_served(local: Local, children: Children) -> None:
    process = children.popen([*RUNTIME, "--state-dir", str(local.state_dir), "--idle-exit", "0.2"])
    info = wait_until(lambda: read_runtime(local.state_dir), what="the runtime to serve")
    assert info.pid == process.pid
    assert process.wait(timeout=30) == 0
    assert not (local.state_dir / "runtime.json").exists()


def test_a_runtime_started_while_the_last_one_leaves_serves_after_it(local: Local, children: Children) -> None:
    files = RuntimeFiles(local.state_dir)
    files.root.mkdir(parents=True)
    leaving = runtime.Lock.take(files)  # this process plays a runtime on its way out: lock held, no runtime.json
    assert leaving is not None
    try:
        process = children.popen([*RUNTIME, "--state-dir", str(local.state_dir)])
        wait_until(lambda: "runtime.lock" in {p.name for p in _open_files(process.pid)}, what="it to wait")
        assert read_runtime(local.state_dir) is None
    finally:
        leaving.release()
    info = wait_until(lambda: read_runtime(local.state_dir), what="the new runtime to serve")
    assert info.pid == process.pid


def test_a_runtime_that_serves_makes_a_second_one_leave_at_once(local: Local, children: Children) -> None:
    ensure_runtime(local.state_dir)  # a runtime serves: lock held, runtime.json written
    second = children.popen([*RUNTIME, "--state-dir", str(local.state_dir)])
    assert second.wait(timeout=30) == 0
    assert read_runtime(local.state_dir) is not None


@pytest.mark.parametrize("value", ["soon", "-1", "nan", "inf"])
def test_a_bad_idle_time_is_refused_before_anything_starts(
    value: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(runtime.IDLE_EXIT_ENV, value)
    with pytest.raises(SystemExit) as exited:
        runtime.main(["--state-dir", str(tmp_path / "state")])
    assert exited.value.code == 2
    assert f"ARXDEPLOY_RUNTIME_IDLE_EXIT: {value!r} is not a number of seconds" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        runtime.main(["--state-dir", str(tmp_path / "state"), "--idle-exit", value])
    assert not (tmp_path / "state").exists()


# --- the decision, as values -------------------------------------------------------------------


def test_idle_counts_from_the_last_moment_something_needed_the_runtime() -> None:
    idle = Idleness(after=60, now=0)
    assert not idle.due(now=59, serving=False)
    assert not idle.due(now=100, serving=True)  # an environment: needed now
    assert not idle.due(now=159, serving=False)
    assert idle.due(now=160, serving=False)
    assert idle.closing


def test_idle_never_comes_while_a_request_is_handled_and_counts_from_its_end() -> None:
    idle = Idleness(after=60, now=0)
    idle.request_started()
    assert not idle.due(now=1000, serving=False)
    idle.request_ended(now=1001)
    assert not idle.due(now=1060, serving=False)
    assert idle.due(now=1061, serving=False)


def test_idle_zero_means_never() -> None:
    idle = Idleness(after=0, now=0)
    assert not idle.due(now=10**9, serving=False)
    assert not idle.closing


def test_a_closing_runtime_drops_requests_unanswered(tmp_path: Path) -> None:
    """A client that meets a closing runtime sees a dropped connection: it looks again, and retries."""

    async def scenario() -> list[str]:
        idleness = Idleness(after=60, now=0)
        environments = Environments(RuntimeFiles(tmp_path), on_change=lambda: None)

        async def shutdown(drain_timeout: float) -> None:
            raise AssertionError("not called")

        app = control_app(token="t", environments=environments, idleness=idleness, shutdown=shutdown)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = "http://{}:{}".format(*runner.addresses[0][:2])
        seen = []
        try:
            async with httpx.AsyncClient(headers={"Authorization": "Bearer t"}) as http:
                seen.append(str((await http.get(url + "/v1/healthz")).status_code))
                idleness.closing = True
                try:
                    await http.put(url + f"/v1/environments/{ENV}/colors/blue", json={})
                except httpx.TransportError as exc:
                    seen.append(type(exc).__name__)
        finally:
            await runner.cleanup()
        assert not environments.serving() and idleness.in_flight == 0
        return seen

    assert asyncio.run(scenario()) == ["200", "RemoteProtocolError"]


def _open_files(pid: int) -> list[Path]:
    import psutil

    try:
        return [Path(f.path) for f in psutil.Process(pid).open_files()]
    except psutil.Error:
        return []


def test_an_address_taken_over_by_another_runtime_is_looked_up_again(local: Local, tmp_path: Path) -> None:
    """After an idle exit the port may be reused by another state folder's runtime: its answer
    (401 to our token) must not fail the deployment but make the client look again."""
    import dataclasses

    target = local.target()
    local.start(target, "blue", "v1")
    other, _ = ensure_runtime(tmp_path / "other-state")
    try:
        assert target._info is not None
        target._info = dataclasses.replace(target._info, url=other.url)  # where ours used to listen
        with pytest.raises(TransientTargetError, match="no longer this state folder's runtime"):
            target.inspect(environment=ENV)
        assert target.inspect(environment=ENV).colors[Color.BLUE].version == "v1"  # found again
    finally:
        httpx.post(other.url + "/v1/shutdown", headers={"Authorization": f"Bearer {other.token}"}, timeout=30)
        wait_until(lambda: not alive(other.pid), what="the other runtime to exit")
