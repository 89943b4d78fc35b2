"""The router: live color, preview header, atomic switch, drain, faithful forwarding."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest

from arxdeploy.domain.states import Color
from tests.fixtures.local import ECHO_APP, ENV, Local
from tests.support import wait_until


def version_of(response: httpx.Response) -> str:
    return str(response.json()["version"])


def test_no_live_version_answers_503_with_a_reason(local: Local) -> None:
    target = local.target()
    local.start(target, "blue", "v1")
    response = httpx.get(local.url + "/api/version")
    assert response.status_code == 503
    assert response.text == "demo-api/staging: no live version (nothing deployed yet)\n"
    state = target.inspect(environment=ENV)
    assert state.live_color is None
    assert state.live_url == state.preview_url == local.url


def test_switch_routes_to_the_live_color_and_preview_reaches_the_other(local: Local) -> None:
    target = local.target()
    local.start(target, "blue", "v1", replicas=2)
    local.start(target, "green", "v2", replicas=2)
    target.switch(environment=ENV, color=Color.BLUE)
    with httpx.Client(base_url=local.url) as http:
        answers = [http.get("/api/version").json() for _ in range(4)]
        assert {a["version"] for a in answers} == {"v1"}
        assert {a["replica"] for a in answers} == {"1", "2"}  # round-robin
        preview = http.get("/api/version", headers={"X-Arxdeploy-Color": "green"})
        assert version_of(preview) == "v2"
        target.switch(environment=ENV, color=Color.GREEN)
        assert version_of(http.get("/api/version")) == "v2"
        assert version_of(http.get("/api/version", headers={"X-Arxdeploy-Color": "blue"})) == "v1"
        target.switch(environment=ENV, color=None)
        assert http.get("/").status_code == 503
    assert target.inspect(environment=ENV).live_color is None


def test_preview_of_a_color_that_does_not_run_answers_503(local: Local) -> None:
    target = local.target()
    local.start(target, "blue", "v1")
    response = httpx.get(local.url + "/", headers={"X-Arxdeploy-Color": "green"})
    assert response.status_code == 503
    assert "'green' is not running" in response.text


@dataclass(frozen=True)
class Sample:
    sent: float
    answered: float
    version: str | None  # None: the request failed
    error: str = ""


def test_switch_is_atomic_under_load(local: Local) -> None:
    target = local.target()
    local.start(target, "blue", "v1", replicas=2)
    local.start(target, "green", "v2", replicas=2)
    target.switch(environment=ENV, color=Color.BLUE)
    samples: list[Sample] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=local.url, timeout=5.0) as http:
            for _ in range(20_000):  # bounded, whatever happens
                if stop.is_set():
                    return
                sent = time.monotonic()
                try:
                    response = http.get("/api/version")
                    ok = response.status_code == 200
                    version = version_of(response) if ok else None
                    samples.append(Sample(sent, time.monotonic(), version, response.text))
                except httpx.HTTPError as exc:
                    samples.append(Sample(sent, time.monotonic(), None, repr(exc)))

    worker = threading.Thread(target=load)
    worker.start()
    try:
        switched: list[tuple[float, float, str]] = []  # (called, returned, version now live)
        for color, version in ((Color.GREEN, "v2"), (Color.BLUE, "v1"), (Color.GREEN, "v2")):
            count = len(samples)
            wait_until(lambda: len(samples) >= count + 50, what="requests to flow")  # noqa: B023 (called at once)
            called = time.monotonic()
            target.switch(environment=ENV, color=color)
            switched.append((called, time.monotonic(), version))
        count = len(samples)
        wait_until(lambda: len(samples) >= count + 50, what="requests after the last switch")
    finally:
        stop.set()
        worker.join(timeout=10)
    failures = [s for s in samples if s.version is None]
    assert not failures, failures[:5]
    for index, (_, returned, version) in enumerate(switched):
        next_called = switched[index + 1][0] if index + 1 < len(switched) else float("inf")
        # Sent after this switch returned, answered before the next one began: only one color.
        after = [s.version for s in samples if returned < s.sent and s.answered < next_called]
        assert after, "no request between two switches"
        assert set(after) == {version}, f"after switch {index + 1} to {version}: {sorted(map(str, set(after)))}"


@pytest.mark.slow
def test_requests_in_flight_on_the_old_color_finish_before_it_stops(local: Local) -> None:
    target = local.target()
    local.start(target, "blue", "v1")
    local.start(target, "green", "v2")
    target.switch(environment=ENV, color=Color.BLUE)
    slow: list[tuple[int, str, float]] = []

    def slow_request() -> None:
        response = httpx.get(local.url + "/slow?ms=1500", timeout=10.0)
        slow.append((response.status_code, response.text, time.monotonic()))

    worker = threading.Thread(target=slow_request)
    worker.start()
    try:
        wait_until(lambda: in_flight(local, "blue") == 1, what="the slow request to reach blue")
        target.switch(environment=ENV, color=Color.GREEN)
        assert version_of(httpx.get(local.url + "/api/version")) == "v2"
        target.stop_color(environment=ENV, color=Color.BLUE, drain_timeout=timedelta(seconds=10))
        stopped = time.monotonic()
    finally:
        worker.join(timeout=10)
    assert slow and slow[0][:2] == (200, "slow answer from v1\n")
    assert slow[0][2] <= stopped, "stop_color returned before the request in flight had its answer"
    assert Color.BLUE not in target.inspect(environment=ENV).colors


def in_flight(local: Local, color: str) -> int:
    return int(local.control("GET", f"/v1/environments/{ENV}").json()["colors"][color]["in_flight"])


def test_a_replica_that_refuses_connections_is_skipped(local: Local) -> None:
    target = local.target()
    local.start(target, "blue", "v1", replicas=2)
    target.switch(environment=ENV, color=Color.BLUE)
    replica = target.inspect(environment=ENV).colors[Color.BLUE].replicas[0]
    assert replica.pid is not None
    with httpx.Client(base_url=local.url) as http:
        os.kill(replica.pid, signal.SIGKILL)  # its port is closed until the restart
        statuses = [http.get("/api/version").status_code for _ in range(40)]
    assert set(statuses) == {200}


@pytest.fixture
def echo(local: Local) -> Local:
    target = local.target(command=(sys.executable, str(ECHO_APP), "--port", "{port}"))
    local.start(target, "blue", "v1")
    target.switch(environment=ENV, color=Color.BLUE)
    return local


def test_router_forwards_method_path_headers_and_body(echo: Local) -> None:
    body = bytes(range(256)) * 800  # 200 kB, larger than one buffered write
    response = httpx.post(
        echo.url + "/a%20b/c?x=1&y=%2F",
        content=body,
        headers={"X-Custom": "yes", "Keep-Alive": "timeout=5", "X-Forwarded-For": "10.1.2.3"},
    )
    assert response.status_code == 201
    assert response.headers["X-Upstream"] == "echo"
    assert response.headers["Set-Cookie"] == "session=from-upstream"
    seen = response.json()
    headers = {k.lower(): v for k, v in seen["headers"]}
    assert (seen["method"], seen["path"], seen["body_length"]) == ("POST", "/a%20b/c?x=1&y=%2F", len(body))
    assert seen["body_start"] == body[:64].decode("latin-1")
    assert headers["x-custom"] == "yes"
    assert headers["content-length"] == str(len(body))
    assert headers["x-forwarded-for"] == "10.1.2.3, 127.0.0.1"
    assert headers["x-forwarded-host"] == echo.listen
    assert headers["x-forwarded-proto"] == "http"
    assert "keep-alive" not in headers
    assert headers["host"] != echo.listen  # the replica's own address
    assert "user-agent" in headers and "aiohttp" not in headers["user-agent"]


def test_router_streams_chunked_bodies_both_ways_and_keeps_no_cookies(echo: Local) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(10):
            yield b"y" * 10_000

    with httpx.Client(base_url=echo.url) as http:
        uploaded = http.put("/upload", content=chunks()).json()
        assert uploaded["body_length"] == 100_000
        big = http.get("/big?bytes=3000000")
        assert big.status_code == 200 and len(big.content) == 3_000_000
    # The router must not keep the upstream's Set-Cookie and send it with someone else's request.
    fresh = httpx.get(echo.url + "/who").json()
    assert "cookie" not in {k.lower() for k, _ in fresh["headers"]}


def test_router_answers_expect_100_continue_itself(echo: Local) -> None:
    host, port = echo.listen.split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(b"hello")
        answer = b""
        while b"}" not in answer:
            answer += sock.recv(65536)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 201")
    seen = json.loads(body)
    assert seen["body_start"] == "hello"
    assert "expect" not in {k.lower() for k, _ in seen["headers"]}


def test_a_client_leaving_before_its_answer_is_not_an_error(local: Local) -> None:
    target = local.target()
    local.start(target, "blue", "v1")
    target.switch(environment=ENV, color=Color.BLUE)
    host, port = local.url.removeprefix("http://").split(":")
    for _ in range(3):
        with socket.create_connection((host, int(port))) as client:
            client.sendall(b"GET /slow?ms=300 HTTP/1.1\r\nHost: x\r\n\r\n")
            wait_until(lambda: in_flight(local, "blue") == 1, what="the request to reach blue")
        # The client is gone; the answer arrives later and has nowhere to go.
        wait_until(lambda: in_flight(local, "blue") == 0, what="the router to finish the orphaned request")
    assert httpx.get(local.url + "/api/version").status_code == 200
    log = (local.state_dir / "runtime.log").read_text()
    assert "Error handling request" not in log
    assert "Traceback" not in log
