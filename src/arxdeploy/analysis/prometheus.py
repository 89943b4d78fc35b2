"""Figures from a Prometheus server: one instant query per measurement over its HTTP API.

The query must give one number (a scalar, or a vector of one series). An empty vector or NaN
(``0/0``: no requests) is no figure, which analysis counts as inconclusive; an error answer, a
timeout or a vector of several series is a ``MetricsError``. ``until``: the query is evaluated
at that moment (``time=``), which is how the baseline before a switch is read.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import httpx

from arxdeploy.analysis import placeholders
from arxdeploy.domain.plan import MetricCheck
from arxdeploy.errors import MetricsError
from arxdeploy.ports import Measurement, MetricScope


class PrometheusReader:
    def __init__(
        self, *, url: str, headers: Mapping[str, str], timeout: timedelta, service: str, namespace: str
    ) -> None:
        self._client = httpx.Client(base_url=url.rstrip("/"), headers=dict(headers), timeout=timeout.total_seconds())
        self._service, self._namespace = service, namespace

    def window(self) -> None:
        pass  # Prometheus keeps the history itself

    def measure(self, *, metric: MetricCheck, scope: MetricScope, until: datetime | None = None) -> Measurement:
        query = placeholders.fill(
            metric.query, placeholders.values(scope, service=self._service, namespace=self._namespace)
        )
        params = {"query": query, **({"time": f"{until.timestamp():.3f}"} if until is not None else {})}
        try:
            answer = self._client.get("/api/v1/query", params=params)
        except httpx.HTTPError as exc:
            raise MetricsError(f"Prometheus did not answer: {type(exc).__name__}: {exc}") from exc
        try:
            body: dict[str, Any] = answer.json()
        except ValueError:
            raise MetricsError(f"Prometheus answered {answer.status_code} without JSON") from None
        if answer.status_code != 200 or body.get("status") != "success":
            raise MetricsError(f"Prometheus answered {answer.status_code}: {body.get('error') or body}")
        return _number(body.get("data", {}))

    def close(self) -> None:
        self._client.close()


def _number(data: Mapping[str, Any]) -> Measurement:
    kind, result = data.get("resultType"), data.get("result") or []
    if kind == "scalar":
        value = result[1] if len(result) == 2 else "NaN"
    elif kind == "vector":
        if not result:
            return Measurement(None, note="the query found no series")
        if len(result) > 1:
            raise MetricsError(f"the query gave {len(result)} series; it must give one number (aggregate it with sum)")
        value = result[0]["value"][1]
    else:
        raise MetricsError(f"the query gave a {kind}; it must give one number")
    number = float(value)
    if math.isnan(number):
        return Measurement(None, note="the query gave NaN (no requests in the window?)")
    return Measurement(number)
