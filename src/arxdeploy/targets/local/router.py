"""The front door of one environment: sends each request to a replica of the live color.

A request picks its pool (the live color, or the color named by the preview header) once, when
it arrives; the switch is one assignment of ``Router.live``, so there is no moment when a
request finds no color or half of one. Each pool counts the requests in flight on it so that a
color can be drained before it is stopped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Protocol

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

log = logging.getLogger("arxdeploy.runtime")

COLOR_HEADER = "X-Arxdeploy-Color"
# RFC 9110 7.6.1: meaningful for one connection only, never forwarded.
HOP_BY_HOP = (
    "Connection",
    "Keep-Alive",
    "Proxy-Authenticate",
    "Proxy-Authorization",
    "Proxy-Connection",
    "TE",
    "Trailer",
    "Transfer-Encoding",
    "Upgrade",
)
BUFFER_LIMIT = 64 * 1024  # bodies up to this size are sent in one write; larger ones stream
SAFE_TO_RESEND = frozenset({"GET", "HEAD", "OPTIONS"})


class Upstream(Protocol):
    """A replica as the router sees it (``supervisor.Replica`` is one)."""

    url: str
    running: bool


class Pool:
    """The replicas of one color, picked round-robin, with the count of requests in flight."""

    __slots__ = ("_next", "color", "in_flight", "upstreams", "version")

    def __init__(self, color: str, version: str, upstreams: Sequence[Upstream]) -> None:
        self.color = color
        self.version = version
        self.upstreams = tuple(upstreams)
        self.in_flight = 0
        self._next = 0

    def running(self) -> bool:
        return any(u.running for u in self.upstreams)

    def candidates(self) -> list[Upstream]:
        """Running replicas, starting with the next in turn: a failed connection tries the next."""
        ups = self.upstreams
        count = len(ups)
        start = self._next
        self._next = (start + 1) % count if count else 0
        return [u for i in range(count) if (u := ups[(start + i) % count]).running]

    async def drain(self, timeout: float) -> bool:
        """Wait until no request is in flight here; False if some still were after ``timeout``."""
        deadline = time.monotonic() + timeout
        while self.in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.02)  # polling keeps the request path free of bookkeeping
        return self.in_flight == 0


class Router:
    def __init__(self, *, service: str, environment: str, host: str, port: int) -> None:
        self.service = service
        self.environment = environment
        self.host = host
        self.port = port
        self.live: Pool | None = None
        self.pools: dict[str, Pool] = {}  # by color, for previews
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.ServerRunner | None = None

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Bind the listen address; OSError if it is taken."""
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=30, enable_cleanup_closed=False),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=5),
            cookie_jar=aiohttp.DummyCookieJar(),  # never mix one client's cookies into another's request
            auto_decompress=False,  # pass bodies through as they are
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
        )
        server = web.Server(self._handle, access_log=None)
        self._runner = web.ServerRunner(server, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host or None, self.port, backlog=1024)
        try:
            await site.start()
        except OSError:
            await self.stop()
            raise
        if self.port == 0:
            self.port = site.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- the request path ------------------------------------------------------------------

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        wanted = request.headers.get(COLOR_HEADER)
        pool = self.live if wanted is None else self.pools.get(wanted.strip().lower())
        if pool is None:
            return self._unavailable(wanted)
        pool.in_flight += 1
        try:
            return await self._forward(request, pool)
        except ConnectionResetError:
            # The client left before its answer was written: nothing went wrong on our side.
            # (aiohttp's own closing of the response then fails quietly on the closed transport.)
            return web.Response(status=499)
        finally:
            pool.in_flight -= 1

    async def _forward(self, request: web.BaseRequest, pool: Pool) -> web.StreamResponse:
        upstreams = pool.candidates()
        if not upstreams:
            return self._text(503, f"no running replica of {pool.color} ({pool.version})")
        assert self._session is not None
        path = request.raw_path
        if not path.startswith("/"):
            return self._text(400, f"cannot route request target {path[:100]!r}")
        headers = _forwarded_headers(request)
        if "100-continue" in headers.popall("Expect", ()) and request.version >= (1, 1):
            # Answer "go on" ourselves (as aiohttp does for applications): the body then
            # streams straight through instead of after the client's wait for it (curl: 1 s).
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = request.content if request.body_exists else None
        resend = body is None and request.method in SAFE_TO_RESEND
        for upstream in upstreams:
            try:
                response = await self._session.request(
                    request.method,
                    URL(upstream.url + path, encoded=True),
                    headers=headers,
                    data=body,
                    allow_redirects=False,
                )
            except aiohttp.ClientConnectorError:
                continue  # nothing was sent: safe to try the next replica
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
                if resend:
                    continue
                return self._text(502, f"{pool.color} replica at {upstream.url} dropped the request: {exc}")
            except aiohttp.ClientError as exc:
                return self._text(502, f"{pool.color} replica at {upstream.url} gave a bad answer: {exc}")
            async with response:
                length = response.content_length
                if length is None or length > BUFFER_LIMIT:
                    return await _stream(request, response)
                try:
                    content = await response.read()
                except aiohttp.ClientError as exc:
                    return self._text(502, f"{pool.color} replica at {upstream.url} broke off its answer: {exc}")
                return await _send(request, response, content)
        return self._text(503, f"no replica of {pool.color} ({pool.version}) accepts connections yet")

    def _unavailable(self, wanted: str | None) -> web.Response:
        if wanted is None:
            return self._text(503, "no live version (nothing deployed yet)")
        return self._text(503, f"color {wanted.strip()!r} is not running (preview header {COLOR_HEADER})")

    def _text(self, status: int, message: str) -> web.Response:
        return web.Response(status=status, text=f"{self.service}/{self.environment}: {message}\n")


def _forwarded_headers(request: web.BaseRequest) -> CIMultiDict[str]:
    headers = request.headers.copy()
    connection = headers.get("Connection")
    if connection:  # it may name more hop-by-hop headers
        for name in connection.split(","):
            headers.popall(name.strip(), None)
    for name in HOP_BY_HOP:
        headers.popall(name, None)
    host = headers.popall("Host", None)
    peer = request.remote or ""
    prior = headers.get("X-Forwarded-For")
    headers["X-Forwarded-For"] = f"{prior}, {peer}" if prior else peer
    headers.setdefault("X-Forwarded-Proto", request.scheme)
    if host:
        headers.setdefault("X-Forwarded-Host", host[0])
    return headers


# Both return once the answer is fully written, so the in-flight count covers the sending.


async def _send(request: web.BaseRequest, upstream: aiohttp.ClientResponse, content: bytes) -> web.Response:
    """A small answer, already read: one write."""
    out = web.Response(status=upstream.status, reason=upstream.reason, body=content, headers=_answer_headers(upstream))
    await out.prepare(request)
    await out.write_eof()
    return out


async def _stream(request: web.BaseRequest, upstream: aiohttp.ClientResponse) -> web.StreamResponse:
    """A large or open-ended answer, chunk by chunk. If the replica breaks off, so do we."""
    out = web.StreamResponse(status=upstream.status, reason=upstream.reason, headers=_answer_headers(upstream))
    await out.prepare(request)
    async for chunk in upstream.content.iter_chunked(BUFFER_LIMIT):
        await out.write(chunk)
    await out.write_eof()
    return out


def _answer_headers(upstream: aiohttp.ClientResponse) -> CIMultiDict[str]:
    headers = upstream.headers.copy()
    for name in HOP_BY_HOP:
        headers.popall(name, None)
    return headers
