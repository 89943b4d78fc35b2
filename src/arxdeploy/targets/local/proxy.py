"""The router's data path: HTTP/1.1 between clients and replicas, on asyncio protocols.

httptools (llhttp, Node.js's parser) reads both sides; bytes are written as they arrive, so
bodies stream both ways, with flow control (a side that cannot take more pauses the other).
Per request, one at a time on a client's connection (pipelined requests wait their turn):

1. Its head is read and rewritten for the replica: hop-by-hop headers dropped (RFC 9110 7.6.1,
   with the names ``Connection`` lists), ``Host`` set to the replica, ``X-Forwarded-For``,
   ``-Host`` and ``-Proto`` added, ``Expect: 100-continue`` answered here so the body streams at
   once. The router picks the color (``Router.dispatch``).
2. It goes to a running replica of that color on a kept-alive connection, or a new one. A
   refused connection tries the next replica (nothing was sent). A connection that the replica
   closed before answering is tried again only for GET, HEAD and OPTIONS without a body: a
   replica may have acted on anything else.
3. The answer goes back as it arrives: by its length, or chunked when the replica gave none
   (close-delimited to HTTP/1.0 clients). A replica that breaks off an answer already begun
   makes the router break off the client's connection too, so the client sees it was cut.
4. An ``Upgrade`` request (WebSocket) gets a new connection; on ``101 Switching Protocols``
   both connections are joined and bytes pass both ways until either side closes.

A color's in-flight count covers each request until its answer was handed to the client's
connection (an upgraded connection: until it closes): that is what draining waits for.

This module is the clients' side (``ClientConnection``, one ``Exchange`` per request); steps 2
to 4 happen in ``upstream``.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import TYPE_CHECKING, cast

import httptools

from arxdeploy.targets.local.traffic import ERROR, Series, outcome

if TYPE_CHECKING:
    from arxdeploy.targets.local.pools import Pool
    from arxdeploy.targets.local.router import Router
    from arxdeploy.targets.local.upstream import UpstreamConnection

SAFE_TO_RESEND = frozenset({b"GET", b"HEAD", b"OPTIONS"})
MAX_HEAD = 64 * 1024  # a request head larger than this is refused (431)
HIGH_WATER = 256 * 1024  # bytes held for a replica not connected yet before the client is paused

# What the request's header pass does with a name (lowercase); any other name is forwarded.
DROP, HOST, XFF, XFP, EXPECT, CONNECTION, LENGTH, ENCODING, COLOR, SYNTHETIC, STICKY, COOKIE, UPGRADE = range(13)
REQUEST_HEADERS = {
    b"keep-alive": DROP,
    b"proxy-authenticate": DROP,
    b"proxy-authorization": DROP,
    b"proxy-connection": DROP,
    b"te": DROP,
    b"trailer": DROP,
    b"host": HOST,
    b"x-forwarded-for": XFF,
    b"x-forwarded-proto": XFP,
    b"expect": EXPECT,
    b"connection": CONNECTION,
    b"content-length": LENGTH,
    b"transfer-encoding": ENCODING,
    b"upgrade": UPGRADE,
    b"x-arxdeploy-color": COLOR,
    b"x-arxdeploy-synthetic": SYNTHETIC,
}
CONNECTION_OPTIONS = frozenset({b"close", b"keep-alive", b"upgrade"})  # not header names
REASONS = {
    400: b"Bad Request",
    431: b"Request Header Fields Too Large",
    502: b"Bad Gateway",
    503: b"Service Unavailable",
}


def header_table(sticky_header: bytes | None, sticky_cookie: bytes | None) -> dict[bytes, int]:
    """``REQUEST_HEADERS`` with a router's sticky header or cookie."""
    table = dict(REQUEST_HEADERS)
    if sticky_header is not None:
        table.setdefault(sticky_header.lower(), STICKY)
    if sticky_cookie is not None:
        table[b"cookie"] = COOKIE
    return table


class Refused(Exception):
    """A request the router answers itself and then closes the connection for."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


class Exchange:
    """One request and its answer. Most fields keep their class defaults: a request sets few."""

    url = b""
    method = b""
    head = b""  # the forwarded head after its request line and Host (those are per replica)
    length = 0
    chunked = False
    expect_continue = False
    upgrade: bytes | None = None  # the Upgrade header of an upgrade request
    close_after = False  # the client's connection closes after this answer
    color: bytes | None = None  # the preview header
    sticky: bytes | None = None
    synthetic = False
    pool: Pool | None = None  # set while in flight on a color
    series: Series | None = None  # where the answer is counted
    candidates: list[int]  # replicas of the pool to try, the current one first (set when sent)
    fresh = False  # the next try needs a new connection
    upstream: UpstreamConnection | None = None
    resendable = False
    status = 0
    received = False  # the whole request was read
    answered = False  # the whole answer was handed to the client's connection
    tunnel = False

    def __init__(self, client: ClientConnection) -> None:
        self.client = client
        self.started = time.perf_counter()
        self.body: list[bytes] = []  # bytes for the replica that no connection has taken yet

    def request_line(self, host: bytes) -> bytes:
        return b"%b %b HTTP/1.1\r\nHost: %b\r\n" % (self.method, self.url, host)


class ClientConnection(asyncio.Protocol):
    """One client's connection to the router."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.transport: asyncio.Transport | None = None
        self.parser: httptools.HttpRequestParser | None = httptools.HttpRequestParser(self)
        self.headers: list[tuple[bytes, bytes]] = []
        self.exchanges: deque[Exchange] = deque()  # in arrival order; the first is being answered
        self.reading: Exchange | None = None  # the request being read
        self.outbox: list[bytes] = []
        self.peer = b""
        self.in_head = True
        self.head_bytes = 0  # the head's headers so far
        self.head_read = 0  # bytes received since the head began (a coarser bound, per read)
        self.closing = False
        self.paused = False
        self.last_active = 0.0

    # --- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses of it
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]).encode() if isinstance(peer, tuple) else b""
        self.last_active = time.monotonic()
        self.router.clients.add(self)

    def data_received(self, data: bytes) -> None:
        parser = self.parser
        if parser is None:  # upgraded, or refused: the bytes are the tunnel's, or nobody's
            self._tunnel_bytes(data)
            return
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self.parser = None  # what follows is not HTTP
            last = self.exchanges[-1] if self.exchanges else None
            if last is not None and last.upgrade is not None:
                if rest := data[upgrade.args[0] :]:
                    self._tunnel_bytes(rest)
            elif last is None or last.answered:  # CONNECT: refused (400) already, nothing to tunnel
                self.close()
            else:
                last.close_after = True
        except httptools.HttpParserError as exc:
            refused = exc.__context__
            if isinstance(refused, Refused):
                self._refuse(refused.status, refused.text)
            else:
                self._refuse(400, f"cannot read the request: {exc}")
        else:
            if self.in_head:  # bytes of a head not complete yet (httptools holds a partial header)
                self.head_read += len(data)
                if self.head_read > 2 * MAX_HEAD:
                    self._refuse(431, f"the request head is larger than {MAX_HEAD // 1024} KiB")
        self.flush()
        if self.exchanges and (upstream := self.exchanges[0].upstream) is not None:
            upstream.flush()

    def eof_received(self) -> bool | None:
        """The client stopped sending: answer what it asked, then close (a tunnel: pass the EOF on)."""
        if not self.exchanges:
            return False
        last = self.exchanges[-1]
        last.close_after = True  # after the last request it sent
        if last.tunnel and last.upstream is not None and last.upstream.transport is not None:
            last.upstream.transport.write_eof()
        return True  # keep the connection open for the answers

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.router.clients.discard(self)
        for exchange in self.exchanges:
            upstream = exchange.upstream
            if upstream is not None:
                upstream.leave(graceful=exchange.tunnel)
            exchange.answered = True
            self.settle(exchange)
        self.exchanges.clear()

    def pause_writing(self) -> None:
        if self.exchanges and (upstream := self.exchanges[0].upstream) is not None:
            upstream.pause_reading()

    def resume_writing(self) -> None:
        if self.exchanges and (upstream := self.exchanges[0].upstream) is not None:
            upstream.resume_reading()

    # --- httptools callbacks ----------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.reading = Exchange(self)
        self.headers = []
        self.in_head = True
        self.head_bytes = self.head_read = 0

    def on_url(self, url: bytes) -> None:
        assert self.reading is not None
        self.reading.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.in_head:  # trailers of a chunked body are not forwarded
            self.headers.append((name, value))
            self.head_bytes += len(name) + len(value)

    def on_headers_complete(self) -> None:
        exchange, parser = self.reading, self.parser
        assert exchange is not None and parser is not None
        if self.head_bytes + len(exchange.url) > MAX_HEAD:
            raise Refused(431, f"the request head is larger than {MAX_HEAD // 1024} KiB")
        self.in_head = False
        exchange.method = parser.get_method()
        self._rewrite(exchange, parser)
        http11 = parser.get_http_version() == "1.1"
        exchange.expect_continue = exchange.expect_continue and http11
        exchange.close_after = not http11 or not parser.should_keep_alive() or exchange.upgrade is not None
        self.exchanges.append(exchange)
        if len(self.exchanges) == 1:
            self.router.dispatch(exchange)
        else:
            self.pause()  # pipelined: read no further until its turn

    def on_body(self, body: bytes) -> None:
        exchange = self.reading
        assert exchange is not None
        if exchange.answered:
            return  # answered already (an error, or a replica that did not wait): the rest is dropped
        exchange.body.append(b"%x\r\n%b\r\n" % (len(body), body) if exchange.chunked else body)
        if exchange.upstream is None and held(exchange) > HIGH_WATER:
            self.pause()  # read on once a connection takes the bytes

    def on_message_complete(self) -> None:
        exchange = self.reading
        assert exchange is not None
        self.reading = None
        self.in_head = True
        exchange.received = True
        if exchange.answered:
            self.next(exchange)
        elif exchange.chunked:
            exchange.body.append(b"0\r\n\r\n")

    # --- answers ----------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Queue bytes for the client; they go out in one write at ``flush``."""
        self.outbox.append(data)

    def flush(self) -> None:
        outbox = self.outbox
        if outbox:
            data = b"".join(outbox) if len(outbox) > 1 else outbox[0]
            outbox.clear()
            transport = self.transport
            if transport is not None and not transport.is_closing():
                transport.write(data)

    def answer(self, exchange: Exchange, status: int, text: str) -> None:
        """An answer of the router's own (an error): plain text, counted as ``error`` for its color."""
        body = f"{self.router.service}/{self.router.environment}: {text}\n".encode()
        head = b"HTTP/1.1 %d %b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n%b\r\n" % (
            status,
            REASONS.get(status, b"Error"),
            len(body),
            b"Connection: close\r\n" if exchange.close_after else b"",
        )
        self.write(head if exchange.method == b"HEAD" else head + body)
        exchange.status = status
        self.finish(exchange, kind=ERROR)
        self.flush()

    def finish(self, exchange: Exchange, *, kind: int | None = None) -> None:
        """The answer was handed over (or given up): count it, then the next request's turn."""
        if exchange.answered:
            return
        exchange.answered = True
        exchange.upstream = None
        series = exchange.series
        if series is not None:
            series.record(outcome(exchange.status) if kind is None else kind, time.perf_counter() - exchange.started)
        self.settle(exchange)
        if exchange.close_after:
            self.flush()
            self.closing = True
            if self.transport is not None:
                self.transport.close()  # after what is buffered
        elif exchange.received:
            self.next(exchange)

    def settle(self, exchange: Exchange) -> None:
        """No longer in flight on its color."""
        pool = exchange.pool
        if pool is not None:
            exchange.pool = None
            pool.in_flight -= 1

    def next(self, exchange: Exchange) -> None:
        """``exchange`` was read and answered: on to the next request."""
        if self.exchanges and self.exchanges[0] is exchange:
            self.exchanges.popleft()
        self.last_active = time.monotonic()
        if self.closing:
            return
        if self.exchanges:
            self.router.dispatch(self.exchanges[0])
        self.resume()

    def _refuse(self, status: int, text: str) -> None:
        """Input that is not HTTP: answer it if nothing else is being answered, then close."""
        self.parser = None
        self.closing = True
        transport = self.transport
        if transport is None:
            return
        if not self.exchanges:
            body = f"{self.router.service}/{self.router.environment}: {text}\n".encode()
            transport.write(
                b"HTTP/1.1 %d %b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\n"
                b"Connection: close\r\n\r\n%b" % (status, REASONS[status], len(body), body)
            )
            transport.close()
        else:  # the answers under way finish, then the connection closes
            for exchange in self.exchanges:
                exchange.close_after = True

    def close(self, *, abort: bool = False) -> None:
        self.closing = True
        if self.transport is not None:
            if abort:
                self.transport.abort()
            else:
                self.transport.close()

    def pause(self) -> None:
        if not self.paused and self.transport is not None and not self.closing:
            self.paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        """Read on, unless a pipelined request waits or held bytes wait for a connection."""
        if not self.paused or self.closing or len(self.exchanges) > 1 or self.transport is None:
            return
        if self.exchanges and self.exchanges[0].upstream is None and held(self.exchanges[0]) > HIGH_WATER:
            return
        self.paused = False
        self.transport.resume_reading()

    # --- upgrades ---------------------------------------------------------------------------

    def _tunnel_bytes(self, data: bytes) -> None:
        exchange = self.exchanges[-1] if self.exchanges else None
        if exchange is None or exchange.upgrade is None or (exchange.answered and not exchange.tunnel):
            return  # no upgrade under way (refused input, or a refused upgrade): nobody reads these
        exchange.body.append(data)
        upstream = exchange.upstream
        if upstream is not None:
            upstream.flush()
        elif held(exchange) > HIGH_WATER:
            self.pause()

    # --- the forwarded head -----------------------------------------------------------------

    def _rewrite(self, exchange: Exchange, parser: httptools.HttpRequestParser) -> None:
        table = self.router.header_table
        lines: list[bytes] = []
        listed: set[bytes] = set()
        host = forwarded_for = proto = upgrade = None
        for name, value in self.headers:
            kind = table.get(name.lower())
            if kind is None:
                lines += (name, b": ", value, b"\r\n")
            elif kind == LENGTH:
                exchange.length = int(value)  # llhttp accepts digits only
                lines += (name, b": ", value, b"\r\n")
            elif kind == HOST:
                host = value
            elif kind == XFF:
                forwarded_for = value if forwarded_for is None else forwarded_for + b", " + value
            elif kind == ENCODING:
                exchange.chunked = exchange.chunked or b"chunked" in value.lower()
            elif kind == EXPECT:
                exchange.expect_continue = value.lower() == b"100-continue"
            elif kind == CONNECTION:
                listed.update(t for part in value.split(b",") if (t := part.strip().lower()) not in CONNECTION_OPTIONS)
            elif kind == UPGRADE:
                upgrade = value
            elif kind != DROP:
                lines += (name, b": ", value, b"\r\n")
                if kind == COLOR:
                    exchange.color = value
                elif kind == SYNTHETIC:
                    exchange.synthetic = True
                elif kind == STICKY:
                    exchange.sticky = value
                elif kind == COOKIE and exchange.sticky is None:
                    exchange.sticky = self.router.cookie_key(value)
                elif kind == XFP:
                    proto = value
        if listed:  # Connection names more headers that are for this hop only
            lines = without(lines, listed)
        peer = self.peer
        lines += (b"X-Forwarded-For: ", forwarded_for + b", " + peer if forwarded_for else peer, b"\r\n")
        if proto is None:
            lines.append(b"X-Forwarded-Proto: http\r\n")
        if host is not None:
            lines += (b"X-Forwarded-Host: ", host, b"\r\n")
        if exchange.chunked:
            lines.append(b"Transfer-Encoding: chunked\r\n")
        if upgrade is not None and parser.should_upgrade():
            exchange.upgrade = upgrade
            lines += (b"Connection: Upgrade\r\nUpgrade: ", upgrade, b"\r\n")
        lines.append(b"\r\n")
        exchange.head = b"".join(lines)
        exchange.resendable = (
            exchange.method in SAFE_TO_RESEND and not exchange.length and not exchange.chunked and upgrade is None
        )


def held(exchange: Exchange) -> int:
    return sum(map(len, exchange.body))


def without(lines: list[bytes], names: set[bytes], start: int = 0) -> list[bytes]:
    """Header ``lines`` (groups of name, ": ", value, CRLF after ``start``) less those called ``names``."""
    kept = lines[:start]
    for i in range(start, len(lines), 4):
        if lines[i].lower() not in names:
            kept += lines[i : i + 4]
    return kept
