"""Reading /metrics as Prometheus does, for assertions."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[str, list[tuple[dict[str, str], float]]]


def parse(text: str) -> Samples:
    """Every sample of an exposition, by sample name (``..._bucket``, ``..._total``...)."""
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return found


def value(samples: Samples, name: str, **labels: str) -> float:
    """The one sample of ``name`` whose labels include ``labels``; fails if none or several."""
    matches = [v for have, v in samples.get(name, []) if _within(labels, have)]
    assert len(matches) == 1, f"{name} {labels}: {len(matches)} samples in {samples.get(name)}"
    return matches[0]


def values(samples: Samples, name: str, **labels: str) -> list[tuple[dict[str, str], float]]:
    return [(have, v) for have, v in samples.get(name, []) if _within(labels, have)]


def _within(wanted: Mapping[str, str], have: Mapping[str, str]) -> bool:
    return all(have.get(k) == v for k, v in wanted.items())
