"""(k) `/metrics` of `arxdeploy server` with 1,000 deployments in the record.

The demo service is deployed once with the real CLI (local target, SQLite record); its log (every
event the engine recorded, plus one ``analysis`` result, as metric analysis records it) is copied
1,000 times, each copy an hour earlier than the one after it. A real `arxdeploy server` process
is started on the record before the copies are written, so that its first scrape afterwards counts
every copy in its window (the 500 newest deployments of the environment: the worst scrape, each
log read once); then scrapes that find nothing new (the steady state: one history read per
environment, the gate and lease reads, no event log but the newest). A second server started on
the full record shows the first scrape after a restart. Each scrape is a GET of /metrics over
loopback (httpx), timed on this side.
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import httpx

from common import ARXDEPLOY, ENVIRONMENT, SERVICE, Service, Settings, free_port, log, run_alone, summary

NAME = "metrics"
DEPLOYMENTS = 1000
SETTINGS = Settings(replicas=1, monitoring=0.5, scale_down=0.0, interval=0.2, success_threshold=1)


def measure(quick: bool) -> dict[str, Any]:
    rounds = 5 if quick else 30
    count = 200 if quick else DEPLOYMENTS
    svc = Service(SETTINGS)
    try:
        svc.deploy("1.0")
        first = _Server(svc)
        try:
            log(f"metrics: {count} copies of the deploy's log into the record")
            _fill(svc, count)
            catch_up = first.scrape()
            held = first.scrape()  # the series met in the catch-up are served at 0 there, counted here
            steady = [first.scrape() for _ in range(rounds)]
            text = first.text()
        finally:
            first.stop()
        second = _Server(svc)
        try:
            restarted = second.scrape()
        finally:
            second.stop()
        in_process = _in_process(svc, rounds)
    finally:
        svc.close()
    return {
        "deployments": count + 1,
        "window": 500,
        "rounds": rounds,
        "store": "sqlite",
        "catch_up_scrape_ms": round(catch_up, 1),
        "next_scrape_ms": round(held, 1),
        "steady_scrape_ms": summary(steady, digits=1),
        "first_scrape_after_restart_ms": round(restarted, 1),
        "in_process": in_process,
        "exposition_bytes": len(text.encode()),
        "samples": sum(1 for line in text.splitlines() if line and not line.startswith("#")),
    }


class _Server:
    """A real `arxdeploy server` process on the service's record."""

    def __init__(self, svc: Service) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        port = self.url.rsplit(":", 1)[1]
        self._process = subprocess.Popen(
            [ARXDEPLOY, "-c", str(svc.config), "server", "--port", port],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._client = httpx.Client(base_url=self.url, timeout=60)
        deadline = time.monotonic() + 60
        while not self._healthy():
            if time.monotonic() > deadline or self._process.poll() is not None:
                raise RuntimeError("arxdeploy server did not start")
            time.sleep(0.05)

    def _healthy(self) -> bool:
        try:
            return self._client.get("/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    def scrape(self) -> float:
        """One GET /metrics, in ms."""
        start = time.perf_counter()
        answer = self._client.get("/metrics")
        seconds = time.perf_counter() - start
        answer.raise_for_status()
        return seconds * 1000

    def text(self) -> str:
        return self._client.get("/metrics").text

    def stop(self) -> None:
        self._client.close()
        self._process.terminate()
        self._process.wait(timeout=30)


def _in_process(svc: Service, rounds: int) -> dict[str, Any]:
    """A steady scrape's work without HTTP (the collectors, as the server registers them), and
    the one read every scrape makes, the environment's newest 500 deployments, alone; in ms."""
    from prometheus_client import generate_latest

    from arxdeploy.api.metrics import Metrics
    from arxdeploy.bootstrap import build

    app = build(svc.config, {}, reads_only=True)
    try:
        metrics = Metrics(app)
        generate_latest(metrics.registry)
        generate_latest(metrics.registry)
        scrapes, reads = [], []
        for _ in range(rounds):  # interleaved, so that other work on the machine falls on both
            start = time.perf_counter()
            generate_latest(metrics.registry)
            scrapes.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            app.store.history(service=SERVICE, environment=ENVIRONMENT, limit=500)
            reads.append((time.perf_counter() - start) * 1000)
        return {"scrape_ms": summary(scrapes, digits=2), "history_500_ms": summary(reads, digits=2)}
    finally:
        app.close()


def _fill(svc: Service, count: int) -> None:
    """``count`` deployments like the real one, its log shifted back an hour each (``started``
    too, so that the durations are the real ones) and an analysis result added."""
    from arxdeploy.bootstrap import build
    from arxdeploy.domain.events import Event

    app = build(svc.config, {})
    try:
        (summary_,) = app.store.history(service=SERVICE, environment=ENVIRONMENT)
        real = summary_.deployment
        events = app.store.events(deployment_id=real.id)
        analysis = Event("analysis", events[-1].at, {"verdict": "pass", "phase": "monitor", "metric": "error-rate"})
        template = [*events[:-1], analysis, events[-1]]
        for n in range(count, 0, -1):
            shift = timedelta(hours=n)
            created = real.created_at - shift
            name = f"{created:%Y%m%d-%H%M%S}-{n % 0x10000:04x}"
            d = replace(real, id=name, version=f"0.{count - n}", created_at=created)
            copied = [Event(e.type, e.at - shift, _shifted(e.data, shift)) for e in template]
            app.store.create(deployment=d, events=copied)
    finally:
        app.close()


def _shifted(data: Any, shift: timedelta) -> dict[str, Any]:
    if "started" not in data:
        return dict(data)
    return {**data, "started": (datetime.fromisoformat(str(data["started"])) - shift).isoformat()}


def headline(figures: dict[str, Any]) -> str:
    steady, restart = figures["steady_scrape_ms"], figures["first_scrape_after_restart_ms"]
    return (
        f"{figures['deployments']} deployments: catch-up scrape {figures['catch_up_scrape_ms']} ms, steady "
        f"median {steady['median']} ms (p90 {steady['p90']}), after a restart {restart} ms"
    )


if __name__ == "__main__":
    run_alone(sys.modules[__name__])
