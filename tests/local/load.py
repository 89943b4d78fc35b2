"""Steady load on a router from a client thread, every answer recorded with when it was sent."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx

from tests.support import wait_until


@dataclass(frozen=True)
class Sample:
    sent: float
    answered: float
    version: str | None  # None: the request failed
    error: str = ""


@dataclass
class Load:
    """Requests one after another on one kept-alive connection, until stopped (at most 20,000)."""

    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=5.0, headers=dict(self.headers)) as http:
            for _ in range(20_000):  # bounded, whatever happens
                if self._stop.is_set():
                    return
                sent = time.monotonic()
                try:
                    response = http.get("/api/version")
                    ok = response.status_code == 200
                    version = str(response.json()["version"]) if ok else None
                    self.samples.append(Sample(sent, time.monotonic(), version, response.text))
                except httpx.HTTPError as exc:
                    self.samples.append(Sample(sent, time.monotonic(), None, repr(exc)))

    def more(self, count: int = 50, what: str = "requests to flow") -> None:
        """Wait until ``count`` more answers came."""
        seen = len(self.samples)
        wait_until(lambda: len(self.samples) >= seen + count, what=what)

    def failures(self) -> list[Sample]:
        return [s for s in self.samples if s.version is None]

    def between(self, after: float, before: float) -> list[str | None]:
        """Versions of the requests sent after ``after`` and answered before ``before``."""
        return [s.version for s in self.samples if after < s.sent and s.answered < before]


@contextmanager
def steady_load(url: str, headers: Mapping[str, str] | None = None) -> Iterator[Load]:
    load = Load(url, headers or {})
    worker = threading.Thread(target=load.run)
    worker.start()
    try:
        yield load
    finally:
        load._stop.set()
        worker.join(timeout=10)


@dataclass(frozen=True)
class Change:
    """One change made under load: when it was called, when it returned, and what should follow."""

    called: float
    returned: float
    expect: frozenset[str]


def check_changes(load: Load, changes: list[Change]) -> None:
    """Between each change's return and the next change's call, only the expected versions answered."""
    for index, change in enumerate(changes):
        next_called = changes[index + 1].called if index + 1 < len(changes) else float("inf")
        seen = load.between(change.returned, next_called)
        assert seen, f"no request between change {index + 1} and the next"
        assert set(seen) <= change.expect, f"after change {index + 1}: {sorted(map(str, set(seen)))}"
