"""The demo app on its own: its behaviours are picked by the version string."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.local import DEMO_APP, answers
from tests.support import free_port, marked, wait_until


class App:
    def __init__(self, version: str, tmp_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.output = tmp_path / f"{version}.log"
        with self.output.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, str(DEMO_APP), "--port", str(self.port), "--version", version],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=marked({"ARXDEPLOY_COLOR": "green", "ARXDEPLOY_REPLICA": "2", "PATH": "/usr/bin:/bin"}),
            )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


@pytest.fixture
def start_app(tmp_path: Path) -> Iterator[Callable[..., App]]:
    apps: list[App] = []

    def start(version: str, wait: bool = True) -> App:
        app = App(version, tmp_path)
        apps.append(app)
        if wait:
            wait_until(lambda: answers(app.url + "/api/metrics"), what=f"{version} to answer")
        return app

    yield start
    for app in apps:
        app.stop()


def test_answers_its_version_color_and_replica(start_app: Callable[..., App]) -> None:
    app = start_app("v1.2.3")
    assert httpx.get(app.url + "/api/version").json() == {"version": "v1.2.3", "color": "green", "replica": "2"}
    assert httpx.get(app.url + "/").text == "hello from v1.2.3\n"
    for path in ("/health", "/api/health"):
        assert httpx.get(app.url + path).status_code == 200
    assert "demo_up 1" in httpx.get(app.url + "/api/metrics").text
    assert httpx.get(app.url + "/nope").status_code == 404
    assert "starting on port" in app.output.read_text()


def test_unhealthy_version_fails_its_health_endpoints(start_app: Callable[..., App]) -> None:
    app = start_app("v2-unhealthy")
    assert httpx.get(app.url + "/health").status_code == 500
    assert httpx.get(app.url + "/api/health").status_code == 500
    assert httpx.get(app.url + "/").status_code == 200


def test_fails_after_version_turns_unhealthy(start_app: Callable[..., App]) -> None:
    app = start_app("v3-fails-after-1s")
    assert httpx.get(app.url + "/health").status_code == 200
    wait_until(lambda: httpx.get(app.url + "/health").status_code == 500, timeout=5, what="health to fail")
    assert httpx.get(app.url + "/").status_code == 500


def test_crash_version_exits_with_status_1(start_app: Callable[..., App]) -> None:
    app = start_app("v4-crash", wait=False)
    assert app.process.wait(timeout=10) == 1
    assert "crashing on purpose" in app.output.read_text()


def test_slow_start_opens_its_port_late(start_app: Callable[..., App]) -> None:
    started = time.monotonic()
    start_app("v5-slow-start-1s")
    assert time.monotonic() - started >= 1.0  # a lower bound the app's own wait guarantees


def test_sigterm_lets_requests_in_flight_finish(start_app: Callable[..., App]) -> None:
    app = start_app("v6")
    results: list[int | str] = []

    def slow_request() -> None:
        try:
            results.append(httpx.get(app.url + "/slow?ms=700", timeout=10).status_code)
        except httpx.HTTPError as exc:
            results.append(repr(exc))

    slow = threading.Thread(target=slow_request)
    slow.start()
    in_flight = "demo_requests_in_flight 1\n"
    wait_until(lambda: in_flight in httpx.get(app.url + "/api/metrics").text, what="the slow request to arrive")
    app.process.send_signal(signal.SIGTERM)
    slow.join(timeout=10)
    assert results == [200]
    assert app.process.wait(timeout=10) == 0
    assert "stopped" in app.output.read_text()
