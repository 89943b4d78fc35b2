"""Helpers shared by the suites that use real processes: wait on conditions, never sleep and hope."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

# Set by tests/conftest.py for the session; every process that inherits it is checked at the end.
SESSION_MARKER = "PYTEST_ARXDEPLOY_SESSION"
CACHE_DIR = "ARXDEPLOY_CACHE_DIR"  # the session's own folder for validated configs (config.cache)


def wait_until(predicate: Callable[[], T | None], timeout: float = 10.0, interval: float = 0.02, what: str = "") -> T:
    """Poll ``predicate`` until it returns something true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def answers(url: str) -> bool:
    """Whether ``url`` answers 200 now (a server that is up)."""
    import httpx

    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def marked(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` for a subprocess, with the session's marker so the end-of-run check can find it."""
    marker = os.environ.get(SESSION_MARKER)
    return {**env, SESSION_MARKER: marker} if marker else dict(env)


def without_arxdeploy_settings() -> dict[str, str]:
    """This process's environment without the ``ARXDEPLOY_`` settings of whoever runs the tests
    (an email, a token...), but with the session's cache folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARXDEPLOY_")}
    if CACHE_DIR in os.environ:
        env[CACHE_DIR] = os.environ[CACHE_DIR]
    return env


class Children:
    """Subprocesses one test started: SIGTERM, then SIGKILL after a grace, and always reaped."""

    def __init__(self) -> None:
        self._started: list[subprocess.Popen[Any]] = []

    def popen(self, args: Sequence[str | Path], **options: Any) -> subprocess.Popen[Any]:
        process: subprocess.Popen[Any] = subprocess.Popen(args, **options)
        self._started.append(process)
        return process

    def stop(self, grace: float = 10.0) -> None:
        for process in self._started:
            if process.poll() is None:
                process.terminate()
        for process in self._started:
            try:
                process.wait(grace)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            for stream in (process.stdin, process.stdout, process.stderr):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        self._started.clear()


class _Named(BaseHTTPRequestHandler):
    """Answers every GET with the name of its server, so a test can count where requests went."""

    def do_GET(self) -> None:
        body = self.server.name.encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def named_servers(names: Iterable[str]) -> Iterator[dict[str, str]]:
    """One real HTTP server on loopback per name, answering with that name: ``{name: base URL}``."""
    servers = {}
    try:
        for name in names:
            server = ThreadingHTTPServer(("127.0.0.1", 0), _Named)
            server.name = name  # type: ignore[attr-defined]
            threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
            servers[name] = server
        yield {name: f"http://127.0.0.1:{server.server_address[1]}" for name, server in servers.items()}
    finally:
        for server in servers.values():
            server.shutdown()
            server.server_close()
