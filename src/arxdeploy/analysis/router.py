"""The local router's own counts as figures: per color, over the window between two scrapes of
the runtime's ``/metrics`` (``arxdeploy_router_requests_total`` and the latency histogram,
user and synthetic requests together).

A window's figures come from counter deltas, as Prometheus' ``rate()`` and
``histogram_quantile()`` would compute them from two scrapes: error rate is 5xx and unanswered
(``error``) over all answers; quantiles interpolate linearly inside the bucket they fall in.
A counter that went back (a new runtime) makes that window's figures unusable, not negative.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from arxdeploy import plain_http
from arxdeploy.domain.plan import MetricCheck
from arxdeploy.errors import MetricsError
from arxdeploy.ports import Measurement, MetricScope

REQUESTS = "arxdeploy_router_requests_total"
BUCKETS = "arxdeploy_router_request_duration_seconds_bucket"
SECONDS = "arxdeploy_router_request_duration_seconds_sum"
BAD = frozenset({"5xx", "error"})
QUANTILES = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}


@dataclass
class Counts:
    """One color's counters at one scrape."""

    by_class: dict[str, float] = field(default_factory=dict)
    buckets: dict[float, float] = field(default_factory=dict)  # upper bound -> cumulative count
    seconds: float = 0.0

    def minus(self, earlier: Counts) -> Counts | None:
        """The window's counts; None when a counter went back (the runtime restarted)."""
        window = Counts(
            {k: v - earlier.by_class.get(k, 0.0) for k, v in self.by_class.items()},
            {k: v - earlier.buckets.get(k, 0.0) for k, v in self.buckets.items()},
            self.seconds - earlier.seconds,
        )
        if any(v < 0 for v in (*window.by_class.values(), *window.buckets.values())):
            return None
        return window

    @property
    def total(self) -> float:
        return sum(self.by_class.values())


def parse(text: str, environment: str) -> dict[str, Counts]:
    """Every color's counts of ``environment`` in a ``/metrics`` answer."""
    from prometheus_client.parser import text_string_to_metric_families  # only when a router metric is read

    found: dict[str, Counts] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if labels.get("environment") != environment or "color" not in labels:
                continue
            counts = found.setdefault(labels["color"], Counts())
            if sample.name == REQUESTS:
                counts.by_class[labels["class"]] = counts.by_class.get(labels["class"], 0.0) + sample.value
            elif sample.name == BUCKETS:
                bound = float(labels["le"])
                counts.buckets[bound] = counts.buckets.get(bound, 0.0) + sample.value
            elif sample.name == SECONDS:
                counts.seconds += sample.value
    return found


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    """``histogram_quantile``'s estimate from cumulative buckets (linear inside a bucket; the
    highest finite bound when it falls in +Inf); None without observations."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = q * buckets[bounds[-1]]
    lower, below = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower
            inside = count - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 1.0)
        lower, below = bound, count
    return lower


def figure(measure: str, window: Counts, seconds: float) -> float | None:
    total = window.total
    if measure == "rate":
        return total / seconds if seconds > 0 else None
    if total <= 0:
        return None
    if measure == "error_rate":
        return sum(v for k, v in window.by_class.items() if k in BAD) / total
    if measure == "mean_latency":
        return window.seconds / total
    return quantile(QUANTILES[measure], window.buckets)


class RouterReader:
    """Scrapes the runtime once per window; every router metric of the window uses those two scrapes."""

    def __init__(self, environment: str, metrics_url: Callable[[], str | None], now: Callable[[], datetime]) -> None:
        self.environment = environment
        self._url = metrics_url
        self._now = now
        self._scrapes: list[tuple[datetime, dict[str, Counts] | MetricsError]] = []

    def window(self) -> None:
        at = self._now()
        try:
            self._scrapes = [*self._scrapes[-1:], (at, self._scrape())]
        except MetricsError as exc:
            self._scrapes = [*self._scrapes[-1:], (at, exc)]

    def _scrape(self) -> dict[str, Counts]:
        url = self._url()
        if url is None:
            raise MetricsError("the local runtime does not run: its router's counts cannot be read")
        try:
            reply = plain_http.request("GET", f"{url}/metrics", timeout=5.0)
        except plain_http.NoAnswer as exc:
            raise MetricsError(f"the local runtime's /metrics did not answer: {exc}") from exc
        if reply.status != 200:
            raise MetricsError(f"the local runtime's /metrics answered {reply.status}")
        try:
            return parse(reply.text(), self.environment)
        except ValueError as exc:
            raise MetricsError(f"the local runtime's /metrics is not Prometheus text: {exc}") from exc

    def measure(self, *, metric: MetricCheck, scope: MetricScope, until: datetime | None = None) -> Measurement:
        if until is not None:
            raise MetricsError("the router keeps no history: its figures from before the switch are not known")
        if len(self._scrapes) < 2:
            raise MetricsError("no window measured yet")
        (start, before), (end, after) = self._scrapes
        for scrape in (after, before):
            if isinstance(scrape, MetricsError):
                raise scrape
        assert not isinstance(before, MetricsError) and not isinstance(after, MetricsError)
        color = scope.color.value
        if color not in after:
            return Measurement(None, 0, note=f"the router has seen no request for {color}")
        window = after[color].minus(before.get(color, Counts()))
        if window is None:
            return Measurement(None, note="the runtime restarted within the window (its counters went back)")
        seconds = (end - start).total_seconds()
        value = figure(metric.measure, window, seconds)
        return Measurement(value, int(window.total), note="" if value is not None else "no request in the window")

    def close(self) -> None:
        self._scrapes = []
