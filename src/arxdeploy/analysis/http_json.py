"""Figures from any HTTP endpoint answering JSON: the number at a dotted path (``data.value``,
``items.0.rate``). A missing key or a value that is not a number is a ``MetricsError``; ``null``
is no figure (inconclusive)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from arxdeploy.analysis import placeholders
from arxdeploy.domain.plan import MetricCheck
from arxdeploy.errors import MetricsError
from arxdeploy.ports import Measurement, MetricScope


class HttpJsonReader:
    def __init__(self, *, service: str, namespace: str, timeout: float = 10.0) -> None:
        self._client = httpx.Client(timeout=timeout)
        self._service, self._namespace = service, namespace

    def window(self) -> None:
        pass

    def measure(self, *, metric: MetricCheck, scope: MetricScope, until: datetime | None = None) -> Measurement:
        if until is not None:
            raise MetricsError(f"{metric.name}: an http metric has no history to read from before the switch")
        known = placeholders.values(scope, service=self._service, namespace=self._namespace)
        url = placeholders.fill(metric.url, known, escape=lambda v: quote(v, safe=""))
        try:
            answer = self._client.get(url, headers=dict(metric.headers))
        except httpx.HTTPError as exc:
            raise MetricsError(f"{metric.name}: the endpoint did not answer: {type(exc).__name__}") from exc
        if answer.status_code != 200:
            raise MetricsError(f"{metric.name}: the endpoint answered {answer.status_code}")
        try:
            body = answer.json()
        except ValueError:
            raise MetricsError(f"{metric.name}: the endpoint's answer is not JSON") from None
        return Measurement(at_path(body, metric.path, metric.name))

    def close(self) -> None:
        self._client.close()


def at_path(body: Any, path: str, name: str) -> float | None:
    node = body
    for part in path.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            raise MetricsError(f"{name}: the answer has nothing at {path} (stopped at {part!r})")
    if node is None:
        return None
    if isinstance(node, bool) or not isinstance(node, (int, float, str)):
        raise MetricsError(f"{name}: the value at {path} is not a number")
    try:
        return float(node)
    except ValueError:
        raise MetricsError(f"{name}: the value at {path} is not a number") from None
