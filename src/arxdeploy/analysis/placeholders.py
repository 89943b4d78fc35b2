"""Filling a query's or a URL's placeholders: only the known names, so PromQL's own braces
(``rate(x{color="{color}"}[{interval}])``) stay as they are."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta

from arxdeploy.ports import MetricScope


def values(scope: MetricScope, *, service: str, namespace: str) -> dict[str, str]:
    return {
        "service": service,
        "environment": scope.environment,
        "namespace": namespace,
        "color": scope.color.value,
        "version": scope.version,
        "interval": promql_duration(scope.interval),
    }


def fill(text: str, known: Mapping[str, str], escape: Callable[[str], str] = str) -> str:
    for name, value in known.items():
        text = text.replace("{" + name + "}", escape(value))
    return text


def promql_duration(interval: timedelta) -> str:
    """A PromQL duration: whole seconds (``30s``), or milliseconds below a second."""
    millis = round(interval.total_seconds() * 1000)
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"
