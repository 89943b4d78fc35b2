"""What the routers saw, per environment, color and origin, for Prometheus to scrape.

The request path only adds to plain integers (``Series.record``: a list index and a bisect);
prometheus_client is imported on the first scrape and reads them through a collector, so the
runtime starts without it and a request never takes a lock. One registry per runtime.

Every label has a bounded set of values: ``environment`` (the runtime's own), ``color``
(blue, green), ``class`` (1xx to 5xx, or ``error`` when the replica could not be reached or
broke off its answer) and ``origin`` (``synthetic`` for requests carrying ``X-Arxdeploy-Synthetic``,
``user`` for the others).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

SYNTHETIC_HEADER = "X-Arxdeploy-Synthetic"
ORIGINS = ("user", "synthetic")
CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx", "error")
ERROR = 5  # CLASSES.index("error")
# Seconds. Finer than Prometheus' defaults at the low end: a proxied request on loopback takes
# well under a millisecond, and a canary's latency is compared there.
BOUNDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = "arxdeploy_router_requests"
DURATION = "arxdeploy_router_request_duration_seconds"
UNROUTED = "arxdeploy_router_unrouted_requests"
IN_FLIGHT = "arxdeploy_router_requests_in_flight"
WEIGHT = "arxdeploy_router_weight_percent"


def outcome(status: int) -> int:
    """The index in ``CLASSES`` of an answer's status."""
    return min(max(status // 100, 1), 5) - 1


class Series:
    """Answers of one color to one origin: counts by class, and a latency histogram."""

    __slots__ = ("bins", "counts", "seconds")

    def __init__(self) -> None:
        self.counts = [0] * len(CLASSES)
        self.bins = [0] * (len(BOUNDS) + 1)  # not cumulative; the last one is +Inf
        self.seconds = 0.0

    def record(self, kind: int, seconds: float) -> None:
        """One answer: ``kind`` is ``outcome(status)`` or ``ERROR``; ``seconds`` from its request's head to its end."""
        self.counts[kind] += 1
        self.bins[bisect_left(BOUNDS, seconds)] += 1  # le: a value equal to a bound counts in that bucket
        self.seconds += seconds


@dataclass(frozen=True)
class Gauge:
    """One color's state now: its share of new requests (percent) and its requests in flight."""

    environment: str
    color: str
    weight: int
    in_flight: int


class Traffic:
    """The counts of every router of one runtime; they outlive routers, so counters never go back."""

    def __init__(self) -> None:
        self._series: dict[tuple[str, str, str], Series] = {}
        self._unrouted: dict[str, int] = {}

    def series(self, environment: str, color: str) -> tuple[Series, Series]:
        """The (user, synthetic) series of a color, created at zero the first time."""
        pair = tuple(self._series.setdefault((environment, color, origin), Series()) for origin in ORIGINS)
        return pair[0], pair[1]

    def unrouted(self, environment: str) -> None:
        """A request no color could take (nothing live, or a preview of a color that does not run)."""
        self._unrouted[environment] = self._unrouted.get(environment, 0) + 1

    def counts(self) -> dict[tuple[str, str, str], Series]:
        return dict(self._series)

    def unrouted_counts(self) -> dict[str, int]:
        return dict(self._unrouted)


class Exposition:
    """``/metrics`` of the runtime: its own registry, built on the first scrape."""

    def __init__(self, traffic: Traffic, gauges: Callable[[], Iterable[Gauge]]) -> None:
        self._traffic = traffic
        self._gauges = gauges
        self._registry: Any = None

    def render(self) -> tuple[bytes, str]:
        """The text format and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

        if self._registry is None:
            registry = CollectorRegistry(auto_describe=False)
            registry.register(_Collector(self._traffic, self._gauges))
            self._registry = registry
        return generate_latest(self._registry), CONTENT_TYPE_LATEST


class _Collector:
    def __init__(self, traffic: Traffic, gauges: Callable[[], Iterable[Gauge]]) -> None:
        self._traffic = traffic
        self._gauges = gauges

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        labels = ["environment", "color", "origin"]
        requests = CounterMetricFamily(
            REQUESTS, "Requests answered by the router, by color, status class and origin.", labels=[*labels, "class"]
        )
        duration = HistogramMetricFamily(
            DURATION, "Time from a request's head to the end of its answer, by color and origin.", labels=labels
        )
        for (environment, color, origin), series in sorted(self._traffic.counts().items()):
            for name, count in zip(CLASSES, series.counts, strict=True):
                requests.add_metric([environment, color, origin, name], count)
            cumulative, buckets = 0, []
            for bound, count in zip((*map(_le, BOUNDS), "+Inf"), series.bins, strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            duration.add_metric([environment, color, origin], buckets, series.seconds)
        unrouted = CounterMetricFamily(
            UNROUTED, "Requests answered 503 because no color could take them.", labels=["environment"]
        )
        for environment, count in sorted(self._traffic.unrouted_counts().items()):
            unrouted.add_metric([environment], count)
        in_flight = GaugeMetricFamily(IN_FLIGHT, "Requests being answered by a color now.", labels=labels[:2])
        weight = GaugeMetricFamily(WEIGHT, "Percent of new requests a color takes.", labels=labels[:2])
        for gauge in self._gauges():
            in_flight.add_metric([gauge.environment, gauge.color], gauge.in_flight)
            weight.add_metric([gauge.environment, gauge.color], gauge.weight)
        yield from (requests, duration, unrouted, in_flight, weight)


def _le(bound: float) -> str:
    return repr(bound)
