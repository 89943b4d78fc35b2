"""The front door of one environment: sends each request to a replica of the live color, or of
the candidate for its share of the traffic.

A request picks its pool once, when its turn comes (``Router.dispatch``): the color named by the
preview header, else the one the split gives it. The switch and every change of weight is one
assignment of ``Router.split``, so there is no moment when a request finds no color or half a
change. Each pool counts the requests in flight on it, so a color can be drained before it is
stopped. The bytes are moved by ``proxy`` and counted in ``traffic``.
"""

from __future__ import annotations

import asyncio
import logging
import time

from arxdeploy.targets.local.pools import Pool
from arxdeploy.targets.local.proxy import ClientConnection, Exchange, header_table
from arxdeploy.targets.local.split import Split, Sticky, cookie_value
from arxdeploy.targets.local.traffic import Gauge, Traffic
from arxdeploy.targets.local.upstream import Connections

log = logging.getLogger("arxdeploy.runtime")

COLOR_HEADER = "X-Arxdeploy-Color"
UPSTREAM_KEEPALIVE = 30.0  # an idle connection to a replica is closed after this long
CLIENT_KEEPALIVE = 75.0  # an idle client connection is closed after this long (as aiohttp and nginx do)
SWEEP_EVERY = 5.0
STOP_GRACE = 2.0  # how long stopping waits for answers under way


class Router:
    def __init__(
        self,
        *,
        service: str,
        environment: str,
        host: str,
        port: int,
        traffic: Traffic | None = None,
        sticky: Sticky | None = None,
    ) -> None:
        self.service = service
        self.environment = environment
        self.host = host
        self.port = port
        self.traffic = traffic or Traffic()
        self.split: Split[Pool] = Split()
        self.pools: dict[str, Pool] = {}  # by color: every running color, for the split and previews
        self.clients: set[ClientConnection] = set()
        self.connections = Connections()
        self.header_table = header_table(None, None)
        self._sticky: Sticky | None = None
        self._cookie: bytes | None = None
        self.sticky = sticky
        self._turn = 0
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    @property
    def live(self) -> Pool | None:
        return self.split.live

    @property
    def sticky(self) -> Sticky | None:
        """Where a client's key for the split is read (a header or a cookie), or None: requests take turns."""
        return self._sticky

    @sticky.setter
    def sticky(self, sticky: Sticky | None) -> None:
        self._sticky = sticky
        header = sticky.header.encode() if sticky and sticky.header else None
        self._cookie = sticky.cookie.encode() if sticky and sticky.cookie else None
        self.header_table = header_table(header, self._cookie)

    # --- the colors -------------------------------------------------------------------------

    def add_pool(self, pool: Pool) -> None:
        """A running color: it can be previewed, switched to, or given a weight."""
        pool.series = self.traffic.series(self.environment, pool.color)
        self.pools[pool.color] = pool

    def remove_pool(self, color: str) -> Pool | None:
        """No new request goes to ``color`` (its weight drops to 0); those in flight go on."""
        pool = self.pools.pop(color, None)
        split = self.split
        if pool is not None and split.candidate is pool:
            self.split = Split(split.live)
        return pool

    def switch(self, pool: Pool | None) -> None:
        """Send every new request to ``pool`` (None: to nothing); ends any split."""
        self.split = Split(pool)

    def set_weight(self, pool: Pool, weight: int) -> None:
        """Send ``weight`` percent of new requests to ``pool`` and the rest to the live color."""
        self.split = Split(self.split.live, pool if weight else None, weight)

    def weights(self) -> dict[str, int]:
        """Each color's percent of new requests (colors that get none are left out)."""
        split = self.split
        weights = {}
        if split.live is not None and split.weight < 100:
            weights[split.live.color] = 100 - split.weight
        if split.candidate is not None:
            weights[split.candidate.color] = split.weight
        return weights

    def gauges(self) -> list[Gauge]:
        weights = self.weights()
        return [Gauge(self.environment, c, weights.get(c, 0), p.in_flight) for c, p in sorted(self.pools.items())]

    # --- the request path -------------------------------------------------------------------

    def dispatch(self, exchange: Exchange) -> None:
        """Choose the color of a request whose turn came, and send it there (or answer why not)."""
        client = exchange.client
        if exchange.url[:1] != b"/":
            client.answer(exchange, 400, f"cannot route request target {exchange.url[:100].decode('latin-1')!r}")
            return
        wanted = exchange.color
        if wanted is None:
            turn = self._turn
            self._turn = turn + 1
            pool = self.split.choose(turn, exchange.sticky)
        else:
            pool = self.pools.get(wanted.decode("latin-1").strip().lower())
        if pool is None:
            self.traffic.unrouted(self.environment)
            if wanted is None:
                client.answer(exchange, 503, "no live version (nothing deployed yet)")
            else:
                shown = wanted.decode("latin-1").strip()
                client.answer(exchange, 503, f"color {shown!r} is not running (preview header {COLOR_HEADER})")
            return
        exchange.series = pool.series[exchange.synthetic]
        candidates = pool.candidates()
        if not candidates:
            client.answer(exchange, 503, f"no running replica of {pool.color} ({pool.version})")
            return
        pool.in_flight += 1
        exchange.pool = pool
        exchange.candidates = candidates
        if exchange.expect_continue:
            # Say "go on" here (as aiohttp and nginx do): the body then streams straight through
            # instead of after the client's wait for it (curl waits 1 s).
            client.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.connections.send(exchange)

    def cookie_key(self, header: bytes) -> bytes | None:
        """The sticky cookie's value in a ``Cookie`` header."""
        return cookie_value(header, self._cookie) if self._cookie is not None else None

    # --- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the listen address; OSError if it is taken."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: ClientConnection(self), self.host or None, self.port, backlog=1024
        )
        if self.port == 0:
            self.port = int(self._server.sockets[0].getsockname()[1])
        self._sweeper = asyncio.create_task(self._sweep(), name=f"router {self.environment} keep-alive")

    async def stop(self) -> None:
        """Stop listening; answers under way get ``STOP_GRACE`` seconds, then every connection closes."""
        if self._server is None:
            return
        self._server.close()
        self._server = None
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        deadline = time.monotonic() + STOP_GRACE
        while True:
            for client in [c for c in self.clients if not c.exchanges]:
                client.close()
            if not self.clients or time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.02)
        for client in list(self.clients):
            client.close(abort=True)
        self.connections.close()

    async def _sweep(self) -> None:
        """Close connections left idle: kept-alive ones to replicas, and clients that went quiet."""
        while True:
            await asyncio.sleep(SWEEP_EVERY)
            now = time.monotonic()
            self.connections.close_idle(older_than=now - UPSTREAM_KEEPALIVE)
            for client in [c for c in self.clients if not c.exchanges and c.last_active < now - CLIENT_KEEPALIVE]:
                client.close()
