"""``plain_http``: one request over a real socket, and the three ways of getting no answer."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from arxdeploy import plain_http


class Echo(BaseHTTPRequestHandler):
    """Answers with what it received, as JSON (Latin-1 when the path asks for it)."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        received = {
            "method": self.command,
            "path": self.path,
            "content_type": self.headers.get("Content-Type"),
            "authorization": self.headers.get("Authorization"),
            "body": self.rfile.read(length).decode() if length else None,
        }
        if self.path.startswith("/latin"):
            body, kind = "café".encode("latin-1"), "text/plain; charset=ISO-8859-1"
        else:
            body, kind = json.dumps(received).encode(), "application/json"
        self.send_response(418 if self.path.startswith("/teapot") else 200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = do_DELETE = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echo() -> Iterator[int]:
    """The port of an Echo server on 127.0.0.1."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A socket that listens and never answers: the kernel completes the connection, nobody reads."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock


def serve_once(sock: socket.socket, then: Callable[[socket.socket], None]) -> threading.Thread:
    """Accept one connection on ``sock`` and hand it to ``then`` (which closes it), in a thread."""

    def run() -> None:
        conn, _ = sock.accept()
        with conn:
            then(conn)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_get_with_query_and_headers_returns_status_type_and_body(echo: int) -> None:
    reply = plain_http.request(
        "GET",
        f"http://127.0.0.1:{echo}/v1/things?a=1",
        params={"drain_timeout": "2.5"},
        headers={"Authorization": "Bearer t"},
        timeout=5,
    )
    assert (reply.status, reply.ok, reply.content_type) == (200, True, "application/json")
    received: dict[str, Any] = reply.json()
    assert received["path"] == "/v1/things?a=1&drain_timeout=2.5"
    assert received["authorization"] == "Bearer t"
    assert received["body"] is None


def test_a_json_body_is_sent_as_json(echo: int) -> None:
    reply = plain_http.request("PUT", f"http://127.0.0.1:{echo}/colors/blue", json={"replicas": 2}, timeout=5)
    received = reply.json()
    assert (received["method"], received["content_type"]) == ("PUT", "application/json")
    assert json.loads(received["body"]) == {"replicas": 2}


def test_any_status_is_an_answer_and_text_uses_the_named_charset(echo: int) -> None:
    teapot = plain_http.request("DELETE", f"http://127.0.0.1:{echo}/teapot", timeout=5)
    assert (teapot.status, teapot.ok) == (418, False)
    assert plain_http.request("GET", f"http://127.0.0.1:{echo}/latin", timeout=5).text() == "café"


def test_host_names_and_ipv6_addresses_are_reached_too(echo: int) -> None:
    assert plain_http.request("GET", f"http://localhost:{echo}/", timeout=5).status == 200
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    with socket.socket(socket.AF_INET6) as sock:
        try:
            sock.bind(("::1", 0))
        except OSError:
            pytest.skip("no IPv6 loopback on this machine")
        sock.listen(1)
        served = serve_once(sock, lambda conn: conn.sendall(b"HTTP/1.1 204 No Content\r\n\r\n"))
        assert plain_http.request("GET", f"http://[::1]:{sock.getsockname()[1]}/", timeout=5).status == 204
        served.join(timeout=10)


def test_a_closed_port_is_unreachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        with pytest.raises(plain_http.Unreachable, match=f"could not connect to 127.0.0.1:{port}"):
            plain_http.request("GET", f"http://127.0.0.1:{port}/", timeout=5)


def test_a_server_that_never_answers_times_out_after_connecting(listener: socket.socket) -> None:
    port = listener.getsockname()[1]
    with pytest.raises(plain_http.TimedOut, match=r"sent no answer within 0\.2s") as caught:
        plain_http.request("GET", f"http://127.0.0.1:{port}/", timeout=0.2, connect_timeout=5)
    assert not caught.value.connecting


def test_a_connection_closed_before_the_answer_is_dropped(listener: socket.socket) -> None:
    served = serve_once(listener, lambda conn: conn.recv(65536))  # reads the request, closes
    port = listener.getsockname()[1]
    with pytest.raises(plain_http.Dropped, match="closed the connection without a whole answer"):
        plain_http.request("GET", f"http://127.0.0.1:{port}/", timeout=5)
    served.join(timeout=10)


@pytest.mark.parametrize("url", ["https://127.0.0.1:1/", "ftp://127.0.0.1/", "http:///nohost", "http://h:port/"])
def test_what_is_not_a_plain_http_url_is_no_answer(url: str) -> None:
    with pytest.raises(plain_http.NoAnswer) as caught:
        plain_http.request("GET", url, timeout=1)
    assert type(caught.value) is plain_http.NoAnswer
