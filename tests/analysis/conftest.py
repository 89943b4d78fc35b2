"""Fixtures of the analysis tests: a config file in tmp_path, a service run by the real
`arxdeploy` command (the end-to-end tests' ``service``), user traffic, and one real Prometheus
for the session."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from arxdeploy.testing.objectstores import MissingTool
from arxdeploy.testing.prometheus import PrometheusServer, prometheus
from tests.config.conftest import write  # noqa: F401 (the config tests' fixture: a config file in tmp_path)
from tests.e2e.conftest import Service, service  # noqa: F401 (real commands, replicas and router)
from tests.engine.conftest import world  # noqa: F401 (the engine against fakes)
from tests.support import wait_until


@pytest.fixture(scope="session")
def prom() -> Iterator[PrometheusServer]:
    """One Prometheus for the session, scraping every second what each test points it at."""
    try:
        with prometheus(interval="1s") as server:
            yield server
    except MissingTool as exc:
        pytest.skip(str(exc))


def scrape_runtime(server: PrometheusServer, svc: Service) -> None:
    """Point Prometheus at the service's runtime (its file-discovery file) and wait for a scrape."""
    targets = json.loads((svc.state_dir / "metrics-targets.json").read_text())
    server.set_targets(targets)
    address = targets[0]["targets"][0]
    wait_until(
        lambda: any(t["scrapeUrl"].startswith(f"http://{address}/") and t["health"] == "up" for t in server.scraped()),
        timeout=60,
        interval=0.2,
        what="Prometheus to scrape the runtime",
    )


@dataclass
class Users:
    """Real requests to the front door, as users send them (no synthetic mark): ``clients``
    users, each one request at a time."""

    url: str
    path: str = "/"
    clients: int = 3
    answers: dict[int, int] = field(default_factory=dict)  # status -> count
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        def send() -> None:
            with httpx.Client(base_url=self.url, timeout=10) as client:
                while not self._stop.wait(0.01):
                    try:
                        status = client.get(self.path).status_code
                    except httpx.HTTPError:
                        status = 0
                    with self._lock:
                        self.answers[status] = self.answers.get(status, 0) + 1

        self._threads = [threading.Thread(target=send, daemon=True) for _ in range(self.clients)]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)


@pytest.fixture
def users(service: Service) -> Iterator[Users]:  # noqa: F811 (the fixture imported above)
    found = Users(service.url)
    yield found
    found.stop()
