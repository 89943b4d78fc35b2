"""The router's counts per color, scraped from the runtime's /metrics like Prometheus does."""

from __future__ import annotations

import json

import httpx

from arxdeploy.domain.states import Color
from arxdeploy.targets.local.client import read_runtime
from tests.fixtures.local import ENV, Local
from tests.local.scrape import scrape, value


def test_requests_are_counted_by_color_status_class_and_origin(local: Local) -> None:
    target = local.target()
    local.start(target, "blue", "v1")
    local.start(target, "green", "v2")
    target.switch(environment=ENV, color=Color.BLUE)
    with httpx.Client(base_url=local.url) as http:
        for _ in range(7):
            assert http.get("/api/version").status_code == 200
        for _ in range(3):
            assert http.get("/no-such-page").status_code == 404
        for _ in range(4):
            assert http.get("/api/version", headers={"X-Arxdeploy-Synthetic": "1"}).status_code == 200
        for _ in range(2):
            assert http.get("/", headers={"X-Arxdeploy-Color": "green"}).status_code == 200
    samples = scrape(local)

    def requests(color: str, origin: str, kind: str) -> float:
        labels = {"environment": ENV, "color": color, "origin": origin, "class": kind}
        return value(samples, "arxdeploy_router_requests_total", **labels)

    assert requests("blue", "user", "2xx") == 7
    assert requests("blue", "user", "4xx") == 3
    assert requests("blue", "synthetic", "2xx") == 4
    assert requests("green", "user", "2xx") == 2
    for kind in ("1xx", "3xx", "5xx", "error"):
        assert requests("blue", "user", kind) == 0
    duration = {"environment": ENV, "color": "blue", "origin": "user"}
    assert value(samples, "arxdeploy_router_request_duration_seconds_count", **duration) == 10
    assert value(samples, "arxdeploy_router_request_duration_seconds_bucket", le="+Inf", **duration) == 10
    assert 0 < value(samples, "arxdeploy_router_request_duration_seconds_sum", **duration) < 10
    buckets = [s for s in samples if s.name.endswith("_bucket") and s.labels.items() >= duration.items()]
    assert [s.value for s in buckets] == sorted(s.value for s in buckets)  # cumulative
    assert len(buckets) == 15  # 14 bounds from 0.5 ms to 10 s, and +Inf
    assert value(samples, "arxdeploy_router_weight_percent", environment=ENV, color="blue") == 100
    assert value(samples, "arxdeploy_router_weight_percent", environment=ENV, color="green") == 0
    assert value(samples, "arxdeploy_router_requests_in_flight", environment=ENV, color="blue") == 0


def test_weights_unrouted_requests_and_unreachable_replicas_are_counted(local: Local) -> None:
    target = local.target()
    local.start(target, "blue", "v1")
    assert httpx.get(local.url + "/").status_code == 503  # nothing live yet
    assert httpx.get(local.url + "/", headers={"X-Arxdeploy-Color": "green"}).status_code == 503
    # Green's replica runs but opens its port only in an hour: every connection to it is refused.
    target.start_color(environment=ENV, color=Color.GREEN, version="v2-slow-start-3600s", replicas=1)
    target.switch(environment=ENV, color=Color.BLUE)
    target.set_weight(environment=ENV, color=Color.GREEN, weight=25)
    samples = scrape(local)
    assert value(samples, "arxdeploy_router_unrouted_requests_total", environment=ENV) == 2
    assert value(samples, "arxdeploy_router_weight_percent", environment=ENV, color="blue") == 75
    assert value(samples, "arxdeploy_router_weight_percent", environment=ENV, color="green") == 25

    answers = [httpx.get(local.url + "/", headers={"X-Arxdeploy-Color": "green"}) for _ in range(3)]
    assert {(a.status_code, a.text) for a in answers} == {
        (503, "demo-api/staging: no replica of green (v2-slow-start-3600s) accepts connections yet\n")
    }
    samples = scrape(local)
    labels = {"environment": ENV, "color": "green", "origin": "user"}
    assert value(samples, "arxdeploy_router_requests_total", **labels, **{"class": "error"}) == 3
    assert value(samples, "arxdeploy_router_requests_total", **labels, **{"class": "5xx"}) == 0


def test_metrics_need_no_token_and_the_scrape_address_is_written_for_file_discovery(local: Local) -> None:
    target = local.target()
    local.start(target, "blue", "v1")
    info = read_runtime(local.state_dir)
    assert info is not None
    assert httpx.get(info.url + f"/v1/environments/{ENV}").status_code == 401  # the rest needs it
    targets = json.loads((local.state_dir / "metrics-targets.json").read_text())
    assert targets == [{"targets": [info.url.removeprefix("http://")], "labels": {}}]
    assert (local.state_dir / "metrics-targets.json").stat().st_mode & 0o777 == 0o644
    assert any(s.name == "arxdeploy_router_requests_total" for s in scrape(local))
