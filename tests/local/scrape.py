"""The runtime's /metrics as a scraper reads it: parsed samples, and one value by name and labels."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from arxdeploy.targets.local.client import read_runtime
from tests.fixtures.local import Local


def scrape(local: Local) -> list[Sample]:
    """``GET /metrics`` without the token, as a scraper that only knows the address does."""
    info = read_runtime(local.state_dir)
    assert info is not None
    answer = httpx.get(info.url + "/metrics")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/plain; version=")
    return [s for family in text_string_to_metric_families(answer.text) for s in family.samples]


def value(samples: list[Sample], name: str, **labels: str) -> float:
    found = [s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) == 1, f"{name} {labels}: {found}"
    return found[0]
