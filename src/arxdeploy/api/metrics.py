"""Prometheus metrics in a registry of the server's own (never the process-global one).

Gauges are read from the store at scrape time, so they say what the record says now; the
request counter is fed by the server's middleware. Every label takes its values from a fixed
set, whatever a client sends: a stranger cannot add series to /metrics.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

if TYPE_CHECKING:
    from arxdeploy.bootstrap import App

RECENT = 500  # deployments per environment counted by arxdeploy_deployments

# Request labels: a method outside these is "other"; a path no route matched is "unmatched";
# a status this server does not answer with is counted by its class ("4xx").
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
STATUSES = frozenset({200, 201, 307, 400, 401, 403, 404, 405, 409, 413, 415, 422, 500})


class RecordCollector:
    """Deployments by state, pending approvals and the live release, per environment."""

    def __init__(self, app: App) -> None:
        self._app = app

    def describe(self) -> Iterable[Metric]:
        return [
            GaugeMetricFamily("arxdeploy_deployments", _DEPLOYMENTS, labels=["environment", "state"]),
            GaugeMetricFamily("arxdeploy_pending_approvals", _PENDING, labels=["environment"]),
            GaugeMetricFamily("arxdeploy_live_info", _LIVE, labels=["environment", "version", "color"]),
        ]

    def collect(self) -> Iterator[Metric]:
        app = self._app
        deployments = GaugeMetricFamily("arxdeploy_deployments", _DEPLOYMENTS, labels=["environment", "state"])
        pending = GaugeMetricFamily("arxdeploy_pending_approvals", _PENDING, labels=["environment"])
        live = GaugeMetricFamily("arxdeploy_live_info", _LIVE, labels=["environment", "version", "color"])
        approvals = app.approvals
        for environment in app.environments():
            history = app.store.history(service=app.service, environment=environment, limit=RECENT)
            for state, count in sorted(Tally(s.state.value for s in history).items()):
                deployments.add_metric([environment, state], count)
            waiting = approvals.pending(service=app.service, environment=environment)
            pending.add_metric([environment], len(waiting))
            release = app.store.live(service=app.service, environment=environment)
            if release is not None:
                color = release.color.value if release.color else ""
                live.add_metric([environment, release.version or "", color], 1)
        yield deployments
        yield pending
        yield live


_DEPLOYMENTS = f"Deployments by state among the {RECENT} most recent of each environment."
_PENDING = "Deployments whose approval gate waits for people."
_LIVE = "The version and color that take traffic, by the record (always 1)."


class Metrics:
    def __init__(self, app: App) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = Counter(
            "arxdeploy_http_requests",
            "HTTP requests answered by arxdeploy server.",
            labelnames=["method", "route", "status"],
            registry=self.registry,
        )
        self.registry.register(RecordCollector(app))

    def count_request(self, *, method: str, route: str | None, status: int) -> None:
        """One answered request. ``route``: the template of the route that matched, if one did."""
        self.requests.labels(
            method if method in METHODS else "other",
            route or "unmatched",
            str(status) if status in STATUSES else f"{status // 100}xx",
        ).inc()
