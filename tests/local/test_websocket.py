"""WebSocket (any ``Upgrade``) through the router: both directions, until either side closes, across a switch."""

from __future__ import annotations

import socket
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import websocket

from arxdeploy.domain.states import Color
from arxdeploy.targets.local.client import LocalTarget
from tests.fixtures.local import ENV, Local
from tests.local.scrape import scrape, value
from tests.support import wait_until

WS_APP = Path(__file__).with_name("ws_app.py")


@pytest.fixture
def sockets(local: Local) -> LocalTarget:
    """blue v1 live, green v2 started: both speak WebSocket on /ws."""
    target = local.target(command=(sys.executable, str(WS_APP), "--port", "{port}"))
    local.start(target, "blue", "v1")
    local.start(target, "green", "v2")
    target.switch(environment=ENV, color=Color.BLUE)
    return target


def connect(local: Local, **options: object) -> websocket.WebSocket:
    return websocket.create_connection(f"ws://{local.listen}/ws", timeout=10, **options)


def in_flight(local: Local, color: str) -> int:
    return int(local.control("GET", f"/v1/environments/{ENV}").json()["colors"][color]["in_flight"])


def test_a_websocket_keeps_its_color_across_a_switch_and_passes_both_ways(local: Local, sockets: LocalTarget) -> None:
    old = connect(local)
    assert old.recv() == "hello from v1"  # the replica speaks first
    old.send("a")
    assert old.recv() == "v1:a"
    assert in_flight(local, "blue") == 1  # an upgraded connection is in flight until it closes

    sockets.switch(environment=ENV, color=Color.GREEN)
    new = connect(local)
    assert new.recv() == "hello from v2"  # a new connection goes to the new live color...
    old.send("b")
    assert old.recv() == "v1:b"  # ...while the one opened before the switch stays where it was
    new.send("c")
    assert new.recv() == "v2:c"

    old.close()  # the client closes: the router closes the replica's side too
    wait_until(lambda: in_flight(local, "blue") == 0, what="the closed WebSocket to leave blue")
    new.send("bye")  # the replica closes: the client sees it
    opcode, frame = new.recv_data_frame(control_frame=True)  # (and answers with its own close frame)
    assert opcode == websocket.ABNF.OPCODE_CLOSE
    assert frame.data[2:] == b"bye from v2"
    assert new.sock.recv(1) == b""  # then the connection ends, from the replica through the router
    wait_until(lambda: in_flight(local, "green") == 0, what="the closed WebSocket to leave green")
    new.shutdown()
    samples = scrape(local)
    for color in ("blue", "green"):
        labels = {"environment": ENV, "color": color, "origin": "user", "class": "1xx"}
        assert value(samples, "arxdeploy_router_requests_total", **labels) == 1  # 101 Switching Protocols


def test_large_messages_pass_both_ways(local: Local, sockets: LocalTarget) -> None:
    ws = connect(local)
    assert ws.recv() == "hello from v1"
    payload = bytes(range(256)) * 16_384  # 4 MiB: more than any buffer on the way holds at once
    for _ in range(3):
        ws.send_binary(payload)
        assert ws.recv() == payload
    ws.close()


def test_a_refused_upgrade_is_answered_and_the_connection_closed(local: Local, sockets: LocalTarget) -> None:
    host, port = local.listen.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"GET /no-socket-here HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
            b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
        answer = b""
        while chunk := sock.recv(65536):  # until the router closes the connection
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 404 ")
    assert b"\r\nConnection: close\r\n" in answer
    assert httpx.get(local.url + "/api/version").json() == {"version": "v1"}


def test_stopping_a_color_waits_for_its_websockets_then_closes_them(local: Local, sockets: LocalTarget) -> None:
    ws = connect(local)
    assert ws.recv() == "hello from v1"
    sockets.switch(environment=ENV, color=Color.GREEN)
    sockets.stop_color(environment=ENV, color=Color.BLUE, drain_timeout=timedelta(seconds=0.5))
    # Drained for as long as allowed, then stopped: the connection ends with its replica (with
    # or without a close frame from it, as the app's own shutdown goes).
    try:
        ws.send("after the stop")
        opcode, _ = ws.recv_data(control_frame=True)
        ended = opcode == websocket.ABNF.OPCODE_CLOSE
    except (websocket.WebSocketConnectionClosedException, ConnectionError):
        ended = True
    assert ended
    ws.shutdown()
    assert in_flight(local, "green") == 0
