"""A loopback door for custom check scripts, to URLs only the health probe's client can call.

On Kubernetes a color is reached through the API server's proxy, which wants the cluster's
credentials (a token that may need a plugin run, a client certificate) and its CA. A script gets
``http://127.0.0.1:PORT/<key>`` instead and calls it as is (``curl "$ARXDEPLOY_CHECK_URL/health"``):
the door forwards each request under ``/<key>`` to the URL the key was lent for, through the
probe's own ``httpx.Client``, which adds the credentials and checks the server's certificate.

Who can use it: it listens on 127.0.0.1 only, on a random port, and each key is 192 random bits
lent for one round of checks and withdrawn after it, so another user of the machine can neither
guess a way in nor keep one. A key reaches the tree under its URL only: dot segments (``..``,
encoded or not) are refused, so no key opens the rest of the API server. Paths are not logged.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

import httpx

from arxdeploy.errors import ArxdeployError

# Hop-by-hop headers (RFC 9110 7.6.1) and what the door sets itself.
_NOT_FORWARDED = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "authorization",  # the door's client sets the cluster's
        "content-length",
        "content-encoding",  # httpx hands over the body decoded
    }
)
_KEY_BYTES = 24


class CheckProxy:
    """Opened on first use, closed by ``close()``; keys are lent with ``lend()``, one round at a time."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.timeout = 10.0  # per forwarded request; set to the round's timeout by lend()
        self._lock = threading.Lock()
        self._lent: dict[str, str] = {}  # key -> the URL it opens
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int] | None:
        """Where it listens, while it does."""
        if self._server is None:
            return None
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @contextmanager
    def lend(self, urls: Sequence[str], *, timeout: float) -> Iterator[dict[str, str]]:
        """Loopback URLs for ``urls`` (each mapped to its own), usable until the block ends."""
        self._start()
        address = self.address
        assert address is not None
        keys = {url: secrets.token_urlsafe(_KEY_BYTES) for url in dict.fromkeys(urls)}
        with self._lock:
            self.timeout = timeout
            self._lent.update({key: url.rstrip("/") for url, key in keys.items()})
        try:
            yield {url: f"http://{address[0]}:{address[1]}/{key}" for url, key in keys.items()}
        finally:
            with self._lock:
                for key in keys.values():
                    self._lent.pop(key, None)

    def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def upstream(self, path: str) -> str | None:
        """The URL ``path`` (``/<key>[/rest][?query]``) opens now, or None."""
        head, _, query = path.partition("?")
        key, slash, rest = head.removeprefix("/").partition("/")
        with self._lock:
            base = next((url for lent, url in self._lent.items() if hmac.compare_digest(lent, key)), None)
        if base is None:
            return None
        if any(unquote(segment) in {".", ".."} or "/" in unquote(segment) for segment in rest.split("/")):
            return None
        return base + slash + rest + (f"?{query}" if query else "")

    def _start(self) -> None:
        if self._server is not None:
            return
        self._server = _Server(("127.0.0.1", 0), _Handler, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="arxdeploy-check-proxy"
        )
        self._thread.start()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], door: CheckProxy) -> None:
        super().__init__(address, handler)
        self.door = door


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass  # the path holds a key: never written anywhere

    def do_GET(self) -> None:
        self._forward()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def _forward(self) -> None:
        door = self.server.door
        url = door.upstream(self.path)
        if url is None:
            self._answer(404, b"no such check URL (it is lent for one round of checks only)\n")
            return
        if self.headers.get("Transfer-Encoding"):
            self._answer(411, b"send a Content-Length\n")
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in _NOT_FORWARDED]
        try:
            response = door.client.request(self.command, url, headers=headers, content=body, timeout=door.timeout)
        except ArxdeployError as exc:  # the credentials could not be had (a plugin failed)
            self._answer(502, f"arxdeploy check proxy: {exc.message}\n".encode())
            return
        except httpx.HTTPError as exc:
            self._answer(502, f"arxdeploy check proxy: {type(exc).__name__}: {exc}\n".encode())
            return
        self.send_response(response.status_code)
        for key, value in response.headers.multi_items():
            if key.lower() not in _NOT_FORWARDED and key.lower() not in {"date", "server"}:  # ours are sent
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(response.content)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.content)

    def _answer(self, status: int, text: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(text)
