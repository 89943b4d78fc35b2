"""A tiny HTTP service to deploy with arxdeploy. Standard library only.

    python3 app.py --port 8000 --version v2      (PORT and ARXDEPLOY_VERSION work too)

Its version string picks a behaviour, so demos and tests need no other configuration:

    ...crash...             exits with status 1 right after it starts
    ...unhealthy...         answers 500 on /health and /api/health
    ...fails-after-<N>s...  healthy for N seconds, then 500 on /health, /api/health and /
    ...slow-start-<N>s...   opens its port only after N seconds
    ...errors-<N>pct...     answers 500 on / for N % of its requests, spread evenly (a regression)
    ...latency-<N>ms...     answers / after N ms (a slower version)

SIGTERM stops it cleanly: it stops accepting, lets requests in flight finish, exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

STARTED = time.monotonic()
HEALTH_PATHS = ("/health", "/api/health")


def number_in(version: str, behaviour: str, unit: str) -> float | None:
    """``5`` from ``errors-5pct`` in ``v2-errors-5pct``; None without it."""
    match = re.search(rf"{behaviour}-(\d+(?:\.\d+)?){unit}", version)
    return float(match.group(1)) if match else None


def seconds_in(version: str, behaviour: str) -> float | None:
    """``fails-after-4s`` in ``v3-fails-after-4s`` -> 4.0."""
    match = re.search(rf"{behaviour}-(\d+(?:\.\d+)?)s", version)
    return float(match.group(1)) if match else None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so a router can pool connections
    disable_nagle_algorithm = True  # headers and body go out in two writes: don't delay the second
    server: Server

    def do_GET(self) -> None:
        with self.server.in_flight():
            url = urlsplit(self.path)
            version = self.server.version
            failing = self.server.failing()
            if url.path in HEALTH_PATHS:
                ok = not failing and "unhealthy" not in version
                self.reply(200 if ok else 500, "ok\n" if ok else "unhealthy\n")
            elif url.path == "/api/version":
                self.reply(200, json.dumps(self.server.identity()), "application/json")
            elif url.path == "/api/metrics":
                uptime = time.monotonic() - STARTED
                others = self.server.busy - 1  # not counting this request
                self.reply(200, f"demo_up 1\ndemo_uptime_seconds {uptime:.1f}\ndemo_requests_in_flight {others}\n")
            elif url.path == "/slow":
                time.sleep(int(parse_qs(url.query).get("ms", ["1000"])[0]) / 1000)
                self.reply(200, f"slow answer from {version}\n")
            elif url.path == "/":
                time.sleep(self.server.latency)
                failing = failing or self.server.error_now()
                self.reply(500 if failing else 200, f"hello from {version}\n")
            else:
                self.reply(404, "not found\n")

    def reply(self, status: int, body: str, content_type: str = "text/plain") -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", f"{content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per request would drown the start and stop lines


class Server(ThreadingHTTPServer):
    daemon_threads = True  # idle keep-alive connections must not block the exit

    def __init__(self, host: str, port: int, version: str) -> None:
        super().__init__((host, port), Handler)
        self.version = version
        self.fails_after = seconds_in(version, "fails-after")
        self.error_percent = number_in(version, "errors", "pct") or 0.0
        self.latency = (number_in(version, "latency", "ms") or 0.0) / 1000
        self.answered = 0  # requests to /, for error_now
        self.busy = 0  # requests being answered
        self._idle = threading.Condition()

    def identity(self) -> dict[str, str | None]:
        env = os.environ.get
        return {"version": self.version, "color": env("ARXDEPLOY_COLOR"), "replica": env("ARXDEPLOY_REPLICA")}

    def error_now(self) -> bool:
        """Whether this request to / is one of the error_percent: exactly N of every 100, spread out."""
        with self._idle:
            self.answered += 1
            n = self.answered
        return int(n * self.error_percent / 100) > int((n - 1) * self.error_percent / 100)

    def failing(self) -> bool:
        return self.fails_after is not None and time.monotonic() - STARTED > self.fails_after

    @contextmanager
    def in_flight(self) -> Iterator[None]:
        """Counts requests being answered, so SIGTERM can wait for them."""
        with self._idle:
            self.busy += 1
        try:
            yield
        finally:
            with self._idle:
                self.busy -= 1
                self._idle.notify_all()

    def wait_idle(self, timeout: float) -> None:
        with self._idle:
            self._idle.wait_for(lambda: self.busy == 0, timeout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"), help="0.0.0.0 in a container")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--version", default=os.environ.get("ARXDEPLOY_VERSION", "dev"))
    args = parser.parse_args()

    print(f"demo app {args.version} starting on port {args.port} (pid {os.getpid()})", flush=True)
    if "crash" in args.version:
        print(f"demo app {args.version}: crashing on purpose", file=sys.stderr, flush=True)
        sys.exit(1)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if stop.wait(seconds_in(args.version, "slow-start") or 0):
        return

    server = Server(args.host, args.port, args.version)
    threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True).start()
    stop.wait()
    server.shutdown()  # stop accepting; requests in flight go on in their threads
    server.wait_idle(timeout=30)
    server.server_close()
    print(f"demo app {args.version} stopped", flush=True)


if __name__ == "__main__":
    main()
