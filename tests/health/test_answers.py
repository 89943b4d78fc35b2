"""What a failed check says: the answer in a form people can read, never cut in the middle."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from arxdeploy.domain.states import Color
from arxdeploy.health import HttpHealthProbe
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


def answers(url: str, endpoint: str, tmp_path: Path) -> str:
    probe = HttpHealthProbe(endpoints=[endpoint], cwd=tmp_path, environ={})
    try:
        result = probe.round(probes=[Probe(url, Color.BLUE, "v1", "blue replica 1")], timeout=timedelta(seconds=5))
    finally:
        probe.close()
    (only,) = result.results
    assert not only.ok
    return only.answer


def test_a_long_body_is_cut_between_words_and_says_how_long_it_was(url: str, tmp_path: Path) -> None:
    answer = answers(url, "/long", tmp_path)
    assert answer.startswith("HTTP 500: word0 word1 ")
    assert answer.endswith(f" … ({len(LONG)} characters)")
    shown = answer.removeprefix("HTTP 500: ").split(" … ")[0]
    assert LONG.startswith(shown + " ")  # whole words only


def test_a_kubernetes_status_answer_is_its_message(url: str, tmp_path: Path) -> None:
    assert answers(url, "/status", tmp_path) == 'HTTP 503: no endpoints available for service "arxos-preview"'
