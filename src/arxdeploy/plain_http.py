"""One HTTP/1.1 request without TLS, proxy or credentials, with the standard library's ``http.client``.

What the local target needs: its runtime's control API and its replicas and routers, all plain
HTTP on this machine. httpx takes longer to import than a whole ``arxdeploy status`` may take (it
loads HTTP/2, its command line and pretty printers), so the local target and its health checks do
without it; TLS, credentials and proxies (the Kubernetes target's checks) stay httpx's.

Each request has its own connection, closed after the answer: a check meets a replica as a new
client would, and there is no pool to keep or close.

Failures are ``NoAnswer``, in three kinds:

    NoAnswer           (itself: a URL that is not a usable http:// one)
    ├── Unreachable    no connection: refused, unreachable, unknown host
    ├── TimedOut       no connection or no answer within the time given (``connecting`` says which)
    └── Dropped        connected, but the connection was closed or broken before a whole answer
"""

from __future__ import annotations

import http.client
import json as jsonlib
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

_DEFAULT_CHARSET = "utf-8"


class NoAnswer(Exception):
    """No HTTP answer came back; ``str()`` says why."""


class Unreachable(NoAnswer):
    """No connection could be made."""


class TimedOut(NoAnswer):
    """The time given ran out: while ``connecting``, or waiting for (or reading) the answer."""

    def __init__(self, message: str, *, connecting: bool) -> None:
        super().__init__(message)
        self.connecting = connecting


class Dropped(NoAnswer):
    """The connection was closed or broken before a whole answer came."""


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str  # the Content-Type header as sent, "" without one
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def text(self) -> str:
        """The body decoded with the charset the answer names, UTF-8 otherwise (as httpx does)."""
        charset = _DEFAULT_CHARSET
        for param in self.content_type.split(";")[1:]:
            name, _, value = param.strip().partition("=")
            if name.lower() == "charset" and value:
                charset = value.strip("\"'")
        try:
            return self.body.decode(charset, errors="replace")
        except LookupError:  # a charset Python does not know
            return self.body.decode(_DEFAULT_CHARSET, errors="replace")

    def json(self) -> Any:
        """The body as JSON; ``ValueError`` if it is not."""
        return jsonlib.loads(self.body)


def request(
    method: str,
    url: str,
    *,
    timeout: float,
    connect_timeout: float | None = None,
    json: Any = None,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """Send one request to an ``http://`` URL and read the whole answer.

    ``timeout`` bounds connecting (unless ``connect_timeout`` is given) and then each wait for
    the answer's bytes, as httpx's timeout does. ``json``: a body sent as JSON (None: no body).
    Raises ``NoAnswer``; any answer, whatever its status, is a ``Reply``.
    """
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise NoAnswer(f"not a plain http:// URL: {url}")
    try:
        port = parts.port
    except ValueError as exc:
        raise NoAnswer(f"not a usable URL: {url} ({exc})") from None
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if params:
        target += ("&" if parts.query else "?") + urlencode(params)
    sent = dict(headers or {})
    body = None
    if json is not None:
        body = jsonlib.dumps(json).encode()
        sent["Content-Type"] = "application/json"
    connection = http.client.HTTPConnection(parts.hostname, port, timeout=connect_timeout or timeout)
    connection._create_connection = _connect  # type: ignore[attr-defined]  # (http.client's own hook)
    try:
        try:
            connection.connect()
        except TimeoutError as exc:
            message = f"could not connect to {parts.netloc} within {connect_timeout or timeout:g}s"
            raise TimedOut(message, connecting=True) from exc
        except OSError as exc:
            raise Unreachable(f"could not connect to {parts.netloc}: {exc.strerror or exc}") from exc
        if connection.sock is not None:
            connection.sock.settimeout(timeout)
        try:
            connection.request(method, target, body=body, headers=sent)
            response = connection.getresponse()
            data = response.read()
        except TimeoutError as exc:
            raise TimedOut(f"{parts.netloc} sent no answer within {timeout:g}s", connecting=False) from exc
        except (http.client.HTTPException, OSError) as exc:
            raise Dropped(f"{parts.netloc} closed the connection without a whole answer ({exc!r})") from exc
        return Reply(response.status, response.getheader("Content-Type", ""), data)
    finally:
        connection.close()


def _connect(address: tuple[str, int], timeout: float, source_address: tuple[str, int] | None = None) -> socket.socket:
    """``socket.create_connection``, without a name lookup for a numeric address (the local target's
    are all ``127.0.0.1``): the lookup encodes every host name with the "idna" codec, whose first
    use imports ``unicodedata`` and ``stringprep``, 2 to 4 ms of a whole ``arxdeploy status``."""
    host, port = address
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect((host, port))
        except BaseException:
            sock.close()
            raise
        return sock
    return socket.create_connection(address, timeout, source_address)
