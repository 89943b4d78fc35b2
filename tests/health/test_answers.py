"""What a failed check says: the answer in a form people can read, never cut in the middle.

Every test runs twice: plain HTTP (``plain_http``, the local target's checks) and httpx (an
``Access``, the Kubernetes target's): both say the same.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from arxdeploy.domain.states import Color
from arxdeploy.health import Access, HttpHealthProbe
from arxdeploy.ports import Probe

LONG = " ".join(f"word{i}" for i in range(100))  # 690 characters
STATUS = {
    "kind": "Status",
    "apiVersion": "v1",
    "status": "Failure",
    "message": 'no endpoints available for service "arxos-preview"',
    "reason": "ServiceUnavailable",
    "code": 503,
}


class Answers(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/long":
            body, kind, code = LONG.encode(), "text/plain", 500
        else:
            body, kind, code = json.dumps(STATUS).encode(), "application/json", 503
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(params=["plain", "httpx"])
def access(request: pytest.FixtureRequest) -> Access | None:
    return Access() if request.param == "httpx" else None


def answers(url: str, endpoint: str, tmp_path: Path, access: Access | None, seconds: float = 5) -> str:
    probe = HttpHealthProbe(endpoints=[endpoint], cwd=tmp_path, environ={}, access=access)
    try:
        probes = [Probe(url, Color.BLUE, "v1", "blue replica 1")]
        result = probe.round(probes=probes, timeout=timedelta(seconds=seconds))
    finally:
        probe.close()
    (only,) = result.results
    assert only.check == f"GET {endpoint} on blue replica 1"
    assert not only.ok
    return only.answer


def test_a_long_body_is_cut_between_words_and_says_how_long_it_was(
    url: str, tmp_path: Path, access: Access | None
) -> None:
    answer = answers(url, "/long", tmp_path, access)
    assert answer.startswith("HTTP 500: word0 word1 ")
    assert answer.endswith(f" … ({len(LONG)} characters)")
    shown = answer.removeprefix("HTTP 500: ").split(" … ")[0]
    assert LONG.startswith(shown + " ")  # whole words only


def test_a_kubernetes_status_answer_is_its_message(url: str, tmp_path: Path, access: Access | None) -> None:
    answer = answers(url, "/status", tmp_path, access)
    assert answer == 'HTTP 503: no endpoints available for service "arxos-preview"'


def test_no_answer_is_said_the_same_way_by_both_clients(tmp_path: Path, access: Access | None) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, not listening: refused
        refused = answers(f"http://127.0.0.1:{closed.getsockname()[1]}", "/health", tmp_path, access)
    assert refused == "connection refused"

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # connections complete, nobody answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        assert answers(url, "/health", tmp_path, access, seconds=0.2) == "no answer within 0.2s"

    with socket.socket() as rude:
        rude.bind(("127.0.0.1", 0))
        rude.listen(8)

        def close_after_reading() -> None:
            conn, _ = rude.accept()
            with conn:
                conn.recv(65536)

        closer = threading.Thread(target=close_after_reading, daemon=True)
        closer.start()
        url = f"http://127.0.0.1:{rude.getsockname()[1]}"
        assert answers(url, "/health", tmp_path, access) == "connection closed without an answer"
        closer.join(timeout=10)
