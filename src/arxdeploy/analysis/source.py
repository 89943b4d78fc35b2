"""``ProviderMetrics``: the engine's ``Metrics`` port over the three providers."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from arxdeploy.analysis import judge
from arxdeploy.analysis import load as synthetic
from arxdeploy.domain.plan import MetricCheck, SyntheticLoad
from arxdeploy.domain.states import Color
from arxdeploy.errors import MetricsError
from arxdeploy.ports import Clock, Measurement, MetricReader, MetricScope


@dataclass(frozen=True)
class PrometheusAccess:
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: timedelta = timedelta(seconds=10)


@dataclass
class ProviderMetrics:
    service: str
    clock: Clock
    namespace: Callable[[str], str] = lambda environment: ""  # the environment's Kubernetes namespace
    prometheus: PrometheusAccess | None = None
    router_url: Callable[[], str | None] | None = None  # the local runtime's control URL, when it runs

    def reader(self, *, environment: str, metrics: Sequence[MetricCheck]) -> MetricReader:
        return _Readers(self, environment, {m.provider for m in metrics})

    def load(self, *, environment: str, color: Color, url: str, load: SyntheticLoad) -> Callable[[], int]:
        return synthetic.start(url, color, load)

    def rank_test(self, *, candidate: Sequence[float], baseline: Sequence[float]) -> float:
        return judge.rank_test(candidate, baseline)


class _Readers:
    """One reader per provider the phase's metrics use, made when the phase starts; one that
    cannot be made raises its error at each of its measurements (counted as provider errors)."""

    def __init__(self, source: ProviderMetrics, environment: str, providers: set[str]) -> None:
        self._source, self._environment = source, environment
        self._open: dict[str, MetricReader] = {}
        self._broken: dict[str, MetricsError] = {}
        for provider in sorted(providers):
            try:
                self._open[provider] = self._make(provider)
            except MetricsError as exc:
                self._broken[provider] = exc  # raised by each of its measurements: counted as errors

    def _for(self, provider: str) -> MetricReader:
        if provider in self._broken:
            raise self._broken[provider]
        return self._open[provider]

    def _make(self, provider: str) -> MetricReader:
        source, env = self._source, self._environment
        if provider == "router":
            from arxdeploy.analysis.router import RouterReader

            return RouterReader(env, source.router_url or (lambda: None), source.clock.now)
        namespace = source.namespace(env)
        if provider == "prometheus":
            from arxdeploy.analysis.prometheus import PrometheusReader

            access = source.prometheus
            if access is None:
                raise MetricsError("no Prometheus server is configured (analysis.prometheus.url)")
            return PrometheusReader(
                url=access.url,
                headers=access.headers,
                timeout=access.timeout,
                service=source.service,
                namespace=namespace,
            )
        from arxdeploy.analysis.http_json import HttpJsonReader

        return HttpJsonReader(service=source.service, namespace=namespace)

    def window(self) -> None:
        for reader in self._open.values():
            reader.window()

    def measure(self, *, metric: MetricCheck, scope: MetricScope, until: datetime | None = None) -> Measurement:
        return self._for(metric.provider).measure(metric=metric, scope=scope, until=until)

    def close(self) -> None:
        for reader in self._open.values():
            reader.close()
        self._open.clear()
