"""The replicas of one color as the router sees them: picked in turn, with the requests in flight."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Protocol
from urllib.parse import urlsplit

from arxdeploy.targets.local.traffic import Series


class Upstream(Protocol):
    """A replica as the router sees it (``supervisor.Replica`` is one)."""

    url: str
    running: bool


def address(url: str) -> tuple[str, int]:
    """``http://127.0.0.1:8001`` -> ``("127.0.0.1", 8001)``."""
    parts = urlsplit(url)
    if parts.hostname is None or parts.port is None:
        raise ValueError(f"replica URL {url!r} has no host and port")
    return parts.hostname, parts.port


class Pool:
    """The replicas of one color, picked round-robin, with the count of requests in flight.

    ``in_flight`` counts every request (and every upgraded connection, such as a WebSocket) from
    the moment it was sent here until its answer was written out or it failed.
    """

    __slots__ = ("_next", "addresses", "color", "in_flight", "series", "upstreams", "version")

    def __init__(self, color: str, version: str, upstreams: Sequence[Upstream]) -> None:
        self.color = color
        self.version = version
        self.upstreams = tuple(upstreams)
        self.addresses = tuple(address(u.url) for u in self.upstreams)
        self.in_flight = 0
        self.series = (Series(), Series())  # (user, synthetic); the router gives it the runtime's
        self._next = 0

    def running(self) -> bool:
        return any(u.running for u in self.upstreams)

    def candidates(self) -> list[int]:
        """Indexes of the running replicas, the next in turn first: a failed connection tries the next."""
        ups = self.upstreams
        count = len(ups)
        start = self._next
        self._next = (start + 1) % count if count else 0
        return [i for n in range(count) if ups[i := (start + n) % count].running]

    async def drain(self, timeout: float) -> bool:
        """Wait until no request is in flight here; False if some still were after ``timeout``."""
        deadline = time.monotonic() + timeout
        while self.in_flight and time.monotonic() < deadline:
            await asyncio.sleep(0.02)  # polling keeps the request path free of bookkeeping
        return self.in_flight == 0
