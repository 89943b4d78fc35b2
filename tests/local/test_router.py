"""The router: live color, preview header, atomic switch, drain, faithful forwarding."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from arxdeploy.domain.states import Color
from tests.fixtures.local import ECHO_APP, ENV, Local
from tests.local.load import Change, check_changes, steady_load
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


def test_switch_is_atomic_under_load(local: Local) -> None:
    target = local.target()
    local.start(target, "blue", "v1", replicas=2)
    local.start(target, "green", "v2", replicas=2)
    target.switch(environment=ENV, color=Color.BLUE)
    changes = []
    with steady_load(local.url) as load:
        for color, version in ((Color.GREEN, "v2"), (Color.BLUE, "v1"), (Color.GREEN, "v2")):
            load.more()
            called = time.monotonic()
            target.switch(environment=ENV, color=color)
            changes.append(Change(called, time.monotonic(), frozenset({version})))
        load.more(what="requests after the last switch")
    assert not load.failures(), load.failures()[:5]
    # Sent after a switch returned, answered before the next one began: only one color.
    check_changes(load, changes)


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
        answers = [http.get("/api/version") for _ in range(40)]
    assert [(a.status_code, a.text) for a in answers if a.status_code != 200] == []


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


def raw_exchange(local: Local, request: bytes) -> bytes:
    """Send ``request`` bytes as they are; everything the router answers until it closes."""
    host, port = local.listen.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_pipelined_requests_are_answered_in_order(echo: Local) -> None:
    requests = b"".join(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % n for n in range(5))
    answer = raw_exchange(echo, requests + b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    paths = [json.loads(body.split(b"\r\n\r\n", 1)[1] or b"{}").get("path") for body in _answers(answer)]
    assert paths == ["/0", "/1", "/2", "/3", "/4", "/last"]


def test_pipelined_requests_then_a_half_close_are_all_answered(echo: Local) -> None:
    host, port = echo.listen.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"".join(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % n for n in range(3)))
        sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    paths = [json.loads(body.split(b"\r\n\r\n", 1)[1]).get("path") for body in _answers(answer)]
    assert paths == ["/0", "/1", "/2"]


def _answers(raw: bytes) -> list[bytes]:
    """Split answers with Content-Length (the echo app's) into one bytes each."""
    answers = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        length = int(
            next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
        )
        answers.append(head + b"\r\n\r\n" + rest[:length])
        raw = rest[length:]
    return answers


def test_an_http_1_0_client_gets_the_answer_close_delimited(echo: Local) -> None:
    answer = raw_exchange(echo, b"GET /big?bytes=100000 HTTP/1.0\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert b"transfer-encoding" not in head.lower()  # HTTP/1.0 knows no chunks: the close ends it
    assert b"\r\nConnection: close" in head
    assert body == b"x" * 100000


def test_an_answer_without_a_length_goes_to_http_1_1_clients_chunked(echo: Local) -> None:
    with httpx.Client(base_url=echo.url) as http:
        response = http.get("/close-delimited")
        assert response.headers["Transfer-Encoding"] == "chunked"
        assert response.content == b"until the end of the connection\n" * 1000
        assert http.get("/after").json()["path"] == "/after"  # the client's connection stays usable


def test_head_answers_carry_no_body_and_keep_the_connection(echo: Local) -> None:
    with httpx.Client(base_url=echo.url) as http:
        head = http.head("/thing")
        assert head.status_code == 201
        assert int(head.headers["Content-Length"]) > 0 and head.content == b""
        for n in range(3):  # the router's connection to the replica is still in step
            assert http.get(f"/next-{n}").json()["path"] == f"/next-{n}"


def test_a_replica_that_breaks_off_its_answer_breaks_off_the_clients(echo: Local) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(echo.url + "/cut")
    assert httpx.get(echo.url + "/fine").status_code == 201


def test_a_request_the_replica_dropped_is_sent_again_only_if_that_is_safe(echo: Local) -> None:
    with httpx.Client(base_url=echo.url) as http:
        # One replica, one request at a time: the router's one kept-alive connection carries them all.
        assert http.get("/drop-next").status_code == 201
        again = http.get("/read-only")  # dropped unanswered: a GET is sent again on a new connection
        assert (again.status_code, again.json()["path"]) == (201, "/read-only")
        assert http.get("/drop-next").status_code == 201
        dropped = http.post("/order", content=b"one pizza")  # a POST may have been acted on: not sent again
        assert dropped.status_code == 502
        assert re.fullmatch(
            r"demo-api/staging: blue replica at 127\.0\.0\.1:\d+ dropped the request(: .*)?\n", dropped.text
        )
        assert http.get("/after").status_code == 201


def test_input_that_is_not_http_is_refused(echo: Local) -> None:
    answer = raw_exchange(echo, b"HELLO THERE\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"demo-api/staging: cannot read the request" in answer
    huge = b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-Filler: " + b"y" * 70_000 + b"\r\n\r\n"
    answer = raw_exchange(echo, huge)
    assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert raw_exchange(echo, b"GET http://elsewhere/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").startswith(
        b"HTTP/1.1 400 Bad Request\r\n"
    )
    # Not a forward proxy: CONNECT is refused and the connection closed (raw_exchange reads until then).
    answer = raw_exchange(echo, b"CONNECT elsewhere:443 HTTP/1.1\r\nHost: elsewhere:443\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"cannot route request target 'elsewhere:443'" in answer


def test_a_client_that_stops_sending_still_gets_its_answer(local: Local) -> None:
    target = local.target()
    local.start(target, "blue", "v1")
    target.switch(environment=ENV, color=Color.BLUE)
    host, port = local.listen.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"GET /slow?ms=200 HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.shutdown(socket.SHUT_WR)  # half-closed, as some clients do once the request is out
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert answer.endswith(b"slow answer from v1\n")
