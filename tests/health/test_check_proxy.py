"""The loopback door check scripts use to reach URLs only the probe's client can call.

A stand-in upstream records what reached it; the door is reached with real HTTP clients (httpx,
and curl from a real check script).
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Generator, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from arxdeploy.check_proxy import CheckProxy
from arxdeploy.domain.states import Color
from arxdeploy.health import Access, HttpHealthProbe, ScriptCheck
from arxdeploy.ports import Probe


class Upstream:
    """Answers every request with what it received, as JSON; 401 without the right credential."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                record = {
                    "method": self.command,
                    "path": self.path,
                    "body": self.rfile.read(length).decode() if length else "",
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                }
                seen.append(record)
                status = 200 if self.headers.get("Authorization") == "Bearer cluster-token" else 401
                body = json.dumps(record).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Upstream", "yes")
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


class ClusterToken(httpx.Auth):
    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = "Bearer cluster-token"
        yield request


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    made = Upstream()
    yield made
    made.close()


@pytest.fixture
def door() -> Iterator[CheckProxy]:
    client = httpx.Client(auth=ClusterToken(), trust_env=False)
    made = CheckProxy(client)
    yield made
    made.close()
    client.close()


def test_a_lent_url_forwards_with_the_probes_credentials_and_only_during_its_round(
    door: CheckProxy, upstream: Upstream
) -> None:
    color = upstream.url + "/api/v1/namespaces/ns/services/web:http/proxy"
    with door.lend([color], timeout=5) as urls:
        local = urls[color]
        assert local.startswith("http://127.0.0.1:")
        answer = httpx.post(
            local + "/orders?limit=2", content=b"hello", headers={"Authorization": "Bearer script", "X-Mine": "1"}
        )
        assert answer.status_code == 200
        assert answer.headers["x-upstream"] == "yes"
        got = answer.json()
        assert (got["method"], got["path"], got["body"]) == (
            "POST",
            "/api/v1/namespaces/ns/services/web:http/proxy/orders?limit=2",
            "hello",
        )
        assert got["headers"]["authorization"] == "Bearer cluster-token"  # the door's, not the script's
        assert got["headers"]["x-mine"] == "1"
        assert httpx.get(local).json()["path"] == "/api/v1/namespaces/ns/services/web:http/proxy"
    after = httpx.get(local + "/orders")
    assert after.status_code == 404  # the key was withdrawn with its round
    assert len(upstream.seen) == 2


def raw_status(url: str, path: str) -> int:
    """GET ``path`` as sent, dot segments and all (httpx would resolve them before sending)."""
    host, port = url.split("/")[2].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        connection.request("GET", "/" + url.split("/", 3)[3] + path)
        return connection.getresponse().status
    finally:
        connection.close()


@pytest.mark.parametrize("path", ["/../../secrets", "/%2e%2e/secrets", "/a/%2E%2E/%2e%2e/x", "/a%2f..%2fb", "/./x"])
def test_a_key_opens_nothing_outside_its_url(door: CheckProxy, upstream: Upstream, path: str) -> None:
    color = upstream.url + "/api/v1/namespaces/ns/services/web:http/proxy"
    with door.lend([color], timeout=5) as urls:
        base = urls[color]
        assert raw_status(base, path) == 404
        assert raw_status(base, "/fine") == 200
        wrong = base.rsplit("/", 1)[0] + "/" + "A" * 32
        assert raw_status(wrong, "/health") == 404
    assert [seen["path"] for seen in upstream.seen] == ["/api/v1/namespaces/ns/services/web:http/proxy/fine"]


def test_the_door_listens_on_loopback_and_is_gone_when_closed(upstream: Upstream) -> None:
    client = httpx.Client(auth=ClusterToken(), trust_env=False)
    door = CheckProxy(client)
    try:
        with door.lend([upstream.url], timeout=5):
            address = door.address
        assert address is not None and address[0] == "127.0.0.1"
    finally:
        door.close()
        client.close()
    assert door.address is None
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(address, timeout=5).close()


def curl_script(tmp_path: Path) -> ScriptCheck:
    script = tmp_path / "check.sh"
    script.write_text(
        '#!/bin/sh\ncurl -fsS -o /dev/null "$ARXDEPLOY_CHECK_URL/health" && echo "via $ARXDEPLOY_CHECK_URL"\n'
    )
    script.chmod(0o755)
    return ScriptCheck("curl", script, content=script.read_bytes())


def test_a_script_curls_through_the_door_and_its_answer_names_the_color_url(tmp_path: Path, upstream: Upstream) -> None:
    color = upstream.url + "/api/v1/namespaces/ns/services/web:http/proxy"
    probe = HttpHealthProbe(
        endpoints=[],
        scripts=[curl_script(tmp_path)],
        cwd=tmp_path,
        environ={"PATH": "/usr/bin:/bin"},
        access=Access(auth=ClusterToken(), door=True),
    )
    try:
        [result] = probe.round(probes=[Probe(color, Color.BLUE, "1.0", "blue")], timeout=timedelta(seconds=10)).results
    finally:
        probe.close()
    assert result.ok, result.answer
    assert result.answer == f"exit 0: via {color}"  # the door's URL is not for the record
    [seen] = upstream.seen
    assert seen["path"] == "/api/v1/namespaces/ns/services/web:http/proxy/health"


def test_without_a_door_a_script_gets_the_replicas_own_url(tmp_path: Path, upstream: Upstream) -> None:
    """The local target: replicas answer plain HTTP on loopback, scripts call them directly."""
    probe = HttpHealthProbe(endpoints=[], scripts=[curl_script(tmp_path)], cwd=tmp_path, environ={})
    try:
        [result] = probe.round(
            probes=[Probe(upstream.url, Color.BLUE, "1.0", "blue replica 1")], timeout=timedelta(seconds=10)
        ).results
    finally:
        probe.close()
    assert result.answer == "exit 22: curl: (22) The requested URL returned error: 401"  # no token: a direct call
    [seen] = upstream.seen
    assert seen["path"] == "/health" and "authorization" not in seen["headers"]
