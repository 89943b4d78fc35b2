"""Prometheus metrics in a registry of the server's own (never the process-global one).

Gauges are read from the store at scrape time, so they say what the record says now; the
deployments' durations, rollbacks, approval waits and analysis results are counted from the
record at scrape time too (``record_metrics``); the request counter is fed by the server's
middleware. Every label takes its values from a fixed
set, whatever a client sends: a stranger cannot add series to /metrics.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from arxdeploy.api.record_metrics import UNHEALTHY_REASONS, Reading, Tally
from arxdeploy.domain.states import Kind, State
from arxdeploy.errors import ArxdeployError
from arxdeploy.ports import LiveRelease, Summary

if TYPE_CHECKING:
    from arxdeploy.bootstrap import App

log = logging.getLogger(__name__)

RECENT = 500  # deployments per environment counted by arxdeploy_deployments

# Request labels: a method outside these is "other"; a path no route matched is "unmatched";
# a status this server does not answer with is counted by its class ("4xx").
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
STATUSES = frozenset({200, 201, 307, 400, 401, 403, 404, 405, 409, 413, 415, 422, 500})


class RecordCollector:
    """Deployments by state, pending approvals and the live release, per environment; and,
    through ``record_metrics``, what the deployments' event logs say (durations, rollbacks...)."""

    def __init__(self, app: App) -> None:
        self._app = app
        self.tally = Tally(store=app.store, service=app.service)
        for environment in app.environments():
            try:
                self.tally.start(environment, self._history(environment))
            except ArxdeployError as error:  # the server starts anyway; the first scrape that reads it starts it
                log.warning("deployment metrics of %s start at the first scrape: %s", environment, error)

    def _history(self, environment: str) -> list[Summary]:
        return self._app.store.history(service=self._app.service, environment=environment, limit=RECENT)

    def describe(self) -> Iterable[Metric]:
        return [
            GaugeMetricFamily("arxdeploy_deployments", _DEPLOYMENTS, labels=["environment", "state"]),
            GaugeMetricFamily("arxdeploy_pending_approvals", _PENDING, labels=["environment"]),
            GaugeMetricFamily("arxdeploy_live_info", _LIVE, labels=["environment", "version", "color"]),
            GaugeMetricFamily("arxdeploy_approval_oldest_wait_seconds", _OLDEST, labels=_WHERE),
            GaugeMetricFamily("arxdeploy_last_deployment_info", _LAST, labels=[*_WHERE, *_LAST_LABELS]),
            GaugeMetricFamily("arxdeploy_canary_weight", _CANARY, labels=[*_WHERE, "version"]),
            GaugeMetricFamily("arxdeploy_environment_unhealthy", _UNHEALTHY, labels=[*_WHERE, "reason"]),
        ]

    def collect(self) -> Iterator[Metric]:
        app = self._app
        service, now = app.service, app.clock.now()
        deployments = GaugeMetricFamily("arxdeploy_deployments", _DEPLOYMENTS, labels=["environment", "state"])
        pending = GaugeMetricFamily("arxdeploy_pending_approvals", _PENDING, labels=["environment"])
        live = GaugeMetricFamily("arxdeploy_live_info", _LIVE, labels=["environment", "version", "color"])
        oldest = GaugeMetricFamily("arxdeploy_approval_oldest_wait_seconds", _OLDEST, labels=_WHERE)
        last = GaugeMetricFamily("arxdeploy_last_deployment_info", _LAST, labels=[*_WHERE, *_LAST_LABELS])
        canary = GaugeMetricFamily("arxdeploy_canary_weight", _CANARY, labels=[*_WHERE, "version"])
        unhealthy = GaugeMetricFamily("arxdeploy_environment_unhealthy", _UNHEALTHY, labels=[*_WHERE, "reason"])
        approvals = app.approvals
        for environment in app.environments():
            history = self._history(environment)
            for state, count in sorted(collections.Counter(s.state.value for s in history).items()):
                deployments.add_metric([environment, state], count)
            waiting = approvals.pending(service=service, environment=environment)
            pending.add_metric([environment], len(waiting))
            asked = [gate.request.asked_at for _, gate in waiting if gate.request is not None]
            oldest.add_metric([service, environment], max(((now - at).total_seconds() for at in asked), default=0))
            release = app.store.live(service=service, environment=environment)
            if release is not None:
                color = release.color.value if release.color else ""
                live.add_metric([environment, release.version or "", color], 1)
            reading = self.tally.update(environment, history)
            if history:
                d, state = history[0].deployment, history[0].state
                last.add_metric([service, environment, d.id, d.version, d.kind.value, state.value], 1)
                if reading is not None and reading.canary_weight is not None:
                    canary.add_metric([service, environment, d.version], reading.canary_weight)
            for reason, bad in self._unhealthy(environment, history, reading, release, now).items():
                unhealthy.add_metric([service, environment, reason], 1 if bad else 0)
        yield deployments
        yield pending
        yield live
        yield oldest
        yield last
        yield canary
        yield unhealthy
        yield from self.tally.collect()

    def _unhealthy(
        self,
        environment: str,
        history: list[Summary],
        reading: Reading | None,
        release: LiveRelease | None,
        now: datetime,
    ) -> dict[str, bool]:
        """Why the record says the environment is not in a good state (see docs/metrics.md), by
        reason; a reason the server cannot tell is left out."""
        if not history:
            return dict.fromkeys(UNHEALTHY_REASONS, False)
        newest = history[0]
        stopped = newest.deployment.kind is Kind.STOP and newest.state is State.SUCCEEDED
        reasons = {
            "undo_failed": reading is not None and reading.undo_failed and newest.state.terminal,
            "no_traffic": (release is None or release.color is None) and newest.state.terminal and not stopped,
            "stalled": False,
        }
        running = [s for s in history if not s.state.terminal and s.state is not State.AWAITING_APPROVAL]
        if running:
            # Driven by a runner that holds the environment's lease; none holds it: it died.
            try:
                holder = self._app.store.lock_holder(service=self._app.service, environment=environment)
            except ArxdeployError as error:  # e.g. a Role without Leases: say nothing rather than guess
                log.warning("no lease of %s read, so whether it is stalled is not served: %s", environment, error)
                del reasons["stalled"]
            else:
                gone = holder is None or holder.expires_at <= now or holder.deployment_id != running[0].deployment.id
                reasons["stalled"] = gone
        return reasons


_DEPLOYMENTS = f"Deployments by state among the {RECENT} most recent of each environment."
_PENDING = "Deployments whose approval gate waits for people."
_LIVE = "The version and color that take traffic, by the record (always 1)."
_WHERE = ["service", "environment"]
_LAST_LABELS = ["deployment", "version", "kind", "state"]
_OLDEST = "Seconds the oldest deployment waiting at its approval gate has waited (0: none waits)."
_LAST = "The newest deployment of each environment: its id, version, kind and state (always 1)."
_CANARY = "Percent of traffic on the new version of the newest canary deployment (100 promoted, 0 undone)."
_UNHEALTHY = "1 when the record says the environment is not in a good state, by reason (see docs/metrics.md)."


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
