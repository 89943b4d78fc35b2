"""The router's side towards the replicas: one connection per request at a time, kept alive.

``UpstreamConnection`` sends a request's head and body (``proxy.Exchange``) and reads the
answer back into the client's connection as it arrives (see ``proxy`` for the whole path);
``Connections`` keeps the idle ones per replica address and opens new ones, trying the next
replica when one refuses, and sends again only what is safe to send again.
"""

from __future__ import annotations

import asyncio
import time
from typing import cast

import httptools

from arxdeploy.targets.local.proxy import CONNECTION_OPTIONS, Exchange, without
from arxdeploy.targets.local.traffic import ERROR, outcome

Address = tuple[str, int]

CONNECT_TIMEOUT = 5.0
# An answer's hop-by-hop headers. Content-Length stays; the framing is decided per answer.
RESPONSE_DROP = frozenset(
    {b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-connection", b"te", b"trailer", b"upgrade"}
)


class UpstreamConnection(asyncio.Protocol):
    """One connection to a replica, kept alive between requests when both sides allow it."""

    def __init__(self, connections: Connections, address: Address) -> None:
        self.connections = connections
        self.address = address
        self.host = b"%b:%d" % (address[0].encode(), address[1])  # the Host header it is sent
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.reading_paused = False
        self.exchange: Exchange | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.reason = b""
        self.reused = False  # taken from the idle ones: the replica may have closed it meanwhile
        self.begun = False  # some of the answer arrived
        self.interim = False  # reading a 1xx answer that comes before the real one
        self.chunked_out = False  # the answer goes to the client chunked
        self.until_close = False  # the replica ends the answer by closing the connection
        self.keep_alive = True
        self.head_only = False  # an answer to HEAD: no body, whatever its headers announce
        self.complete = False
        self.closed = False
        self.idle_since = 0.0

    # --- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        exchange = self.exchange
        if exchange is None:  # nothing was asked: a replica that talks out of turn is not reused
            self.close()
            return
        client = exchange.client
        if exchange.tunnel:
            client.write(data)
            client.flush()
            return
        self.begun = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            if exchange.upgrade is None:
                self._broken(exchange, "switched protocols unasked")
            else:
                self._join(exchange, data[upgrade.args[0] :])
            return
        except httptools.HttpParserError as exc:
            self._broken(exchange, f"gave an answer that is not HTTP: {exc}")
            return
        if self.head_only and exchange.status:
            self.complete = True  # llhttp would wait for the body that Content-Length announces
            self.parser = httptools.HttpResponseParser(self)
        client.flush()
        if self.complete:
            self._done(exchange)

    def eof_received(self) -> bool | None:
        self.closed = True  # not to be taken for another request in the moment before it is lost
        self.connections.forget(self)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.connections.forget(self)
        exchange = self.exchange
        self.exchange = None
        if exchange is None or exchange.answered:
            return
        client = exchange.client
        if exchange.tunnel:
            client.finish(exchange)
        elif self.until_close and exchange.status and not self.complete:
            if self.chunked_out:
                client.write(b"0\r\n\r\n")
            client.flush()
            client.finish(exchange)
        elif not self.begun:
            self.connections.retry(exchange, self, exc)
        else:
            self._broken(exchange, "broke off its answer")

    def pause_writing(self) -> None:
        if self.exchange is not None:
            self.exchange.client.pause()

    def resume_writing(self) -> None:
        if self.exchange is not None:
            self.exchange.client.resume()

    # --- use --------------------------------------------------------------------------------

    def send(self, exchange: Exchange) -> None:
        """Start ``exchange`` here: its head, then whatever of its body was read."""
        self.exchange = exchange
        exchange.upstream = self
        self.headers = []
        self.reason = b""
        self.begun = self.interim = self.chunked_out = self.until_close = self.head_only = self.complete = False
        exchange.body.insert(0, exchange.request_line(self.host) + exchange.head)
        self.flush()
        exchange.client.resume()

    def flush(self) -> None:
        """Write the bytes the client sent for the replica so far."""
        exchange = self.exchange
        if exchange is None or self.transport is None:
            return
        body = exchange.body
        if body:
            data = b"".join(body) if len(body) > 1 else body[0]
            body.clear()
            self.transport.write(data)

    def pause_reading(self) -> None:
        if self.transport is not None and not self.closed and not self.reading_paused:
            self.reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self.closed and self.reading_paused:
            self.reading_paused = False
            self.transport.resume_reading()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def leave(self, *, graceful: bool) -> None:
        """The client left: the answer has nowhere to go (a tunnel: write out what it sent first)."""
        self.exchange = None
        self.closed = True
        if self.transport is not None:
            if graceful:
                self.transport.close()
            else:
                self.transport.abort()

    # --- httptools callbacks ----------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.headers = []
        self.reason = b""

    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        exchange = self.exchange
        assert exchange is not None
        status = self.parser.get_status_code()
        if status < 200 and status != 101:
            self.interim = True  # 100 Continue, 103 Early Hints: the real answer follows
            return
        exchange.status = status
        self.keep_alive = self.parser.should_keep_alive()
        lines = [b"HTTP/1.1 %d %b\r\n" % (status, self.reason)]
        listed: set[bytes] = set()
        length = chunked = False
        upgrade = None
        for name, value in self.headers:
            lower = name.lower()
            if lower == b"transfer-encoding":
                chunked = chunked or b"chunked" in value.lower()
            elif lower == b"connection":
                listed.update(t for part in value.split(b",") if (t := part.strip().lower()) not in CONNECTION_OPTIONS)
            elif lower == b"upgrade":
                upgrade = value
            elif lower not in RESPONSE_DROP:
                length = length or lower == b"content-length"
                lines += (name, b": ", value, b"\r\n")
        if listed:
            lines = without(lines, listed, start=1)
        if status == 101:
            lines += (b"Connection: Upgrade\r\nUpgrade: ", upgrade or exchange.upgrade or b"", b"\r\n")
        elif exchange.method == b"HEAD":
            self.head_only = True
        elif not length and status not in (204, 304):
            self.until_close = not chunked
            if exchange.close_after:
                self.chunked_out = False  # the end of the connection ends the answer
            else:
                self.chunked_out = True
                lines.append(b"Transfer-Encoding: chunked\r\n")
        if exchange.close_after and status != 101:
            lines.append(b"Connection: close\r\n")
        lines.append(b"\r\n")
        exchange.client.write(b"".join(lines))

    def on_body(self, body: bytes) -> None:
        exchange = self.exchange
        if exchange is None or self.interim:
            return
        if self.head_only:
            self.keep_alive = False  # a body after an answer to HEAD: the replica is out of step
            return
        exchange.client.write(b"%x\r\n%b\r\n" % (len(body), body) if self.chunked_out else body)

    def on_message_complete(self) -> None:
        if self.interim:
            self.interim = False
            return
        exchange = self.exchange
        if exchange is not None and self.chunked_out:
            exchange.client.write(b"0\r\n\r\n")
        self.complete = True

    # --- endings ----------------------------------------------------------------------------

    def _done(self, exchange: Exchange) -> None:
        """The whole answer went to the client: this connection is free for another request, or spent."""
        self.exchange = None
        reusable = self.keep_alive and not self.until_close and exchange.received and exchange.upgrade is None
        exchange.client.finish(exchange)
        if reusable and not self.closed:
            self.connections.release(self)
        else:
            self.close()

    def _broken(self, exchange: Exchange, what: str) -> None:
        self.exchange = None
        self.close()
        client = exchange.client
        if exchange.status:  # its head went out: the client must see the answer was cut short
            client.flush()
            exchange.close_after = True
            client.finish(exchange, kind=ERROR)
            if client.transport is not None:
                client.transport.abort()
            return
        pool = exchange.pool
        color = pool.color if pool is not None else "the"
        client.answer(exchange, 502, f"{color} replica at {self.address[0]}:{self.address[1]} {what}")

    def _join(self, exchange: Exchange, rest: bytes) -> None:
        """101: from here on, bytes pass both ways unread, until either side closes."""
        exchange.tunnel = True
        client = exchange.client
        if rest:
            client.write(rest)
        client.flush()
        series = exchange.series
        if series is not None:  # counted once, when the protocols switched
            exchange.series = None
            series.record(outcome(101), time.perf_counter() - exchange.started)
        self.flush()


class Connections:
    """The router's connections to replicas: kept-alive ones by address, and new ones on demand."""

    def __init__(self) -> None:
        self.idle: dict[Address, list[UpstreamConnection]] = {}
        self.connecting: set[asyncio.Task[None]] = set()  # held: the loop keeps only weak references

    def send(self, exchange: Exchange) -> None:
        """Send ``exchange`` to its first candidate replica."""
        pool = exchange.pool
        assert pool is not None
        address = pool.addresses[exchange.candidates[0]]
        if not exchange.fresh and exchange.upgrade is None:
            idle = self.idle.get(address)
            while idle:
                connection = idle.pop()
                if not connection.closed:
                    connection.reused = True
                    connection.send(exchange)
                    return
        task = asyncio.ensure_future(self._connect(exchange, address))
        self.connecting.add(task)
        task.add_done_callback(self.connecting.discard)

    async def _connect(self, exchange: Exchange, address: Address) -> None:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                _, connection = await loop.create_connection(lambda: UpstreamConnection(self, address), *address)
        except (OSError, TimeoutError):
            self.next_candidate(exchange)
            return
        if exchange.answered:  # the client left meanwhile: keep the connection for another
            self.release(connection)
            return
        connection.send(exchange)
        exchange.client.flush()

    def next_candidate(self, exchange: Exchange) -> None:
        """The current replica could not be reached: try the next one, or say that none can be."""
        exchange.fresh = False
        exchange.candidates.pop(0)
        if exchange.answered:
            return
        if exchange.candidates:
            self.send(exchange)
            return
        pool = exchange.pool
        assert pool is not None
        exchange.client.answer(exchange, 503, f"no replica of {pool.color} ({pool.version}) accepts connections yet")

    def retry(self, exchange: Exchange, connection: UpstreamConnection, exc: Exception | None) -> None:
        """``connection`` closed before any answer: send again if that is safe, else answer 502."""
        if exchange.answered:
            return
        exchange.upstream = None
        if not exchange.resendable:
            pool = exchange.pool
            color = pool.color if pool is not None else "the"
            where = f"{connection.address[0]}:{connection.address[1]}"
            reason = f": {exc}" if exc else ""
            exchange.client.answer(exchange, 502, f"{color} replica at {where} dropped the request{reason}")
            return
        exchange.body.clear()  # the head is rebuilt for the next connection
        if connection.reused:
            exchange.fresh = True  # a kept-alive connection went stale: the same replica, anew
            self.send(exchange)
        else:
            self.next_candidate(exchange)

    def release(self, connection: UpstreamConnection) -> None:
        connection.resume_reading()  # paused for a slow client, maybe, just before its answer ended
        connection.idle_since = time.monotonic()
        self.idle.setdefault(connection.address, []).append(connection)

    def forget(self, connection: UpstreamConnection) -> None:
        idle = self.idle.get(connection.address)
        if idle and connection in idle:
            idle.remove(connection)

    def close(self) -> None:
        for task in list(self.connecting):
            task.cancel()
        self.close_idle()

    def close_idle(self, older_than: float | None = None) -> None:
        """Close kept-alive connections (those idle since before ``older_than``, or all)."""
        for address, idle in list(self.idle.items()):
            for connection in [c for c in idle if older_than is None or c.idle_since < older_than]:
                idle.remove(connection)
                connection.close()
            if not idle:
                del self.idle[address]  # replicas come and go with their colors (and ports)
