"""The providers against real servers: the local router's counts (a real runtime and replicas),
a real Prometheus, a real HTTP endpoint; and synthetic load through the real router."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from arxdeploy.analysis import load as synthetic
from arxdeploy.analysis import placeholders
from arxdeploy.analysis.http_json import HttpJsonReader
from arxdeploy.analysis.prometheus import PrometheusReader
from arxdeploy.analysis.router import RouterReader
from arxdeploy.domain.plan import MetricCheck, SyntheticLoad
from arxdeploy.domain.states import Color
from arxdeploy.errors import MetricsError
from arxdeploy.ports import MetricScope
from arxdeploy.targets.local.client import read_runtime
from arxdeploy.testing.prometheus import PrometheusServer
from tests.e2e.conftest import Service
from tests.fixtures.local import DEMO_APP, ENV, Local, local_setup
from tests.local.scrape import scrape, value
from tests.support import free_port, wait_until

SCOPE = MetricScope(environment=ENV, color=Color.BLUE, version="v1", interval=timedelta(seconds=3))


def router(measure: str) -> MetricCheck:
    return MetricCheck(name=measure, provider="router", measure=measure, max=1.0)


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Local]:
    command = (sys.executable, str(DEMO_APP), "--port", "{port}", "--version", "{version}")
    with local_setup(tmp_path, command=command) as setup:
        yield setup


def test_router_figures_come_from_the_counts_of_the_window(local: Local) -> None:
    target = local.target()
    local.start(target, "blue", "v1-errors-10pct-latency-20ms")
    target.switch(environment=ENV, color=Color.BLUE)
    info = read_runtime(local.state_dir)
    assert info is not None
    clock = iter(datetime(2026, 1, 1, 0, 0, s, tzinfo=UTC) for s in (0, 10))
    reader = RouterReader(ENV, lambda: info.url, lambda: next(clock))
    with httpx.Client(base_url=local.url) as http:
        http.get("/")  # before the window: not counted in it
        reader.window()
        answers = [http.get("/").status_code for _ in range(40)]
        reader.window()
    assert answers.count(500) == 4  # the demo app's 10 %, spread evenly
    error_rate = reader.measure(metric=router("error_rate"), scope=SCOPE)
    assert (error_rate.value, error_rate.requests) == (0.1, 40)
    assert reader.measure(metric=router("rate"), scope=SCOPE).value == 4.0  # 40 requests in 10 s
    p99 = reader.measure(metric=router("p99"), scope=SCOPE).value
    assert p99 is not None and 0.02 <= p99 <= 0.1  # 20 ms and more, in the router's buckets
    mean = reader.measure(metric=router("mean_latency"), scope=SCOPE).value
    assert mean is not None and mean >= 0.02
    # Green ran nothing: no figure, not zero.
    green = reader.measure(metric=router("error_rate"), scope=MetricScope(ENV, Color.GREEN, "v2", SCOPE.interval))
    assert green.value is None and green.requests == 0
    # No runtime (stopped): an error, never a figure.
    gone = RouterReader(ENV, lambda: None, lambda: datetime.now(UTC))
    gone.window()
    gone.window()
    with pytest.raises(MetricsError, match="the local runtime does not run"):
        gone.measure(metric=router("error_rate"), scope=SCOPE)


def test_synthetic_load_reaches_the_candidate_marked_and_bounded(local: Local) -> None:
    target = local.target()
    local.start(target, "blue", "v1")
    local.start(target, "green", "v2")
    target.switch(environment=ENV, color=Color.BLUE)
    stop = synthetic.start(local.url, Color.GREEN, SyntheticLoad(rate=50, paths=("/", "/api/version"), duration=None))

    def synthetic_count() -> float:
        labels = {"environment": ENV, "color": "green", "origin": "synthetic", "class": "2xx"}
        return value(scrape(local), "arxdeploy_router_requests_total", **labels)

    wait_until(lambda: synthetic_count() >= 20, timeout=60, interval=0.2, what="20 synthetic requests on green")
    sent = stop()
    assert sent >= 20
    assert synthetic_count() == sent  # every one answered, counted as synthetic, on green (the preview)
    blue = {"environment": ENV, "color": "blue", "origin": "synthetic", "class": "2xx"}
    assert value(scrape(local), "arxdeploy_router_requests_total", **blue) == 0  # none on the live color
    # With a duration, it ends by itself.
    ended = synthetic.start(local.url, Color.GREEN, SyntheticLoad(rate=20, duration=timedelta(seconds=0.5)))
    wait_until(lambda: not any(t.name == "synthetic-load-green" for t in threading.enumerate()), timeout=60)
    assert 0 < ended() <= 11


def test_prometheus_figures_and_what_is_not_one(prom: PrometheusServer) -> None:
    reader = PrometheusReader(url=prom.url, headers={}, timeout=timedelta(seconds=5), service="api", namespace="")

    def query(text: str) -> MetricCheck:
        return MetricCheck(name="q", provider="prometheus", query=text, max=1.0)

    assert reader.measure(metric=query("vector(0.25)"), scope=SCOPE).value == 0.25
    assert reader.measure(metric=query("scalar(vector(2))"), scope=SCOPE).value == 2.0
    # Placeholders are filled; PromQL's own braces are left alone.
    labelled = 'count(label_replace(vector(1), "c", "{color}-{version}-{interval}", "", "") == 1)'
    assert reader.measure(metric=query(labelled), scope=SCOPE).value == 1.0
    nan = reader.measure(metric=query("vector(0) / vector(0)"), scope=SCOPE)
    assert nan.value is None and "NaN" in nan.note
    empty = reader.measure(metric=query('up{job="no-such-job"}'), scope=SCOPE)
    assert empty.value is None and empty.note == "the query found no series"
    two = 'label_replace(vector(1), "a", "x", "", "") or label_replace(vector(2), "a", "y", "", "")'
    with pytest.raises(MetricsError, match="the query gave 2 series; it must give one number"):
        reader.measure(metric=query(two), scope=SCOPE)
    with pytest.raises(MetricsError, match=r"Prometheus answered 400: .*parse error"):
        reader.measure(metric=query("rate(("), scope=SCOPE)
    past = datetime.now(UTC) - timedelta(hours=1)  # before this Prometheus started: nothing then
    assert reader.measure(metric=query("vector(time())"), scope=SCOPE, until=past).value == pytest.approx(
        past.timestamp(), abs=1
    )
    reader.close()
    down = PrometheusReader(
        url=f"http://127.0.0.1:{free_port()}", headers={}, timeout=timedelta(seconds=2), service="api", namespace=""
    )
    with pytest.raises(MetricsError, match="Prometheus did not answer: ConnectError"):
        down.measure(metric=query("vector(1)"), scope=SCOPE)
    down.close()


class _Json(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        bodies = {
            "/stats/blue": {"data": {"error_rate": 0.02, "series": [1, 2.5]}},
            "/stats/null": {"data": {"error_rate": None}},
            "/stats/text": {"data": {"error_rate": "high"}},
        }
        body = bodies.get(self.path)
        if self.headers.get("Authorization") != "Bearer s3cret":
            self.send_response(401)
            self.end_headers()
            return
        data = json.dumps(body).encode() if body is not None else b"{}"
        self.send_response(200 if body is not None else 500)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_http_json_takes_the_number_at_its_path() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Json)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    reader = HttpJsonReader(service="api", namespace="")

    def metric(url: str, path: str = "data.error_rate", token: str = "s3cret") -> MetricCheck:
        headers = (("Authorization", f"Bearer {token}"),)
        return MetricCheck(name="m", provider="http", url=base + url, path=path, headers=headers, max=1.0)

    try:
        assert reader.measure(metric=metric("/stats/{color}"), scope=SCOPE).value == 0.02
        assert reader.measure(metric=metric("/stats/{color}", "data.series.1"), scope=SCOPE).value == 2.5
        assert reader.measure(metric=metric("/stats/null"), scope=SCOPE).value is None
        with pytest.raises(MetricsError, match="is not a number"):
            reader.measure(metric=metric("/stats/text"), scope=SCOPE)
        with pytest.raises(MetricsError, match=r"nothing at data.rate \(stopped at 'rate'\)"):
            reader.measure(metric=metric("/stats/blue", "data.rate"), scope=SCOPE)
        with pytest.raises(MetricsError, match="answered 500"):
            reader.measure(metric=metric("/stats/none"), scope=SCOPE)
        with pytest.raises(MetricsError, match="answered 401") as refused:
            reader.measure(metric=metric("/stats/blue", token="wrong"), scope=SCOPE)
        assert "wrong" not in str(refused.value)
    finally:
        reader.close()
        server.shutdown()
        server.server_close()


def test_placeholders_fill_only_known_names() -> None:
    query = 'rate(x{color="{color}",job="{service}"}[{interval}]) and on() vector({unknown})'
    filled = placeholders.fill(query, placeholders.values(SCOPE, service="api", namespace="api-staging"))
    assert filled == 'rate(x{color="blue",job="api"}[3s]) and on() vector({unknown})'
    assert placeholders.promql_duration(timedelta(milliseconds=1500)) == "1500ms"


ROUTER_ANALYSIS = """
analysis:
  metrics:
    errors: {provider: router, measure: error_rate, max: 0.01}
  verify:
    metrics: [errors]
    interval: 2s
    count: 3
    min_requests: 10
    load: {rate: 20, paths: [/]}
"""


def test_verify_on_synthetic_preview_traffic_stops_a_bad_version_before_the_switch(service: Service) -> None:
    service.write(monitoring="1s")
    assert service.run("deploy", "--env", "staging", "--version", "v1").returncode == 0
    service.write(monitoring="1s", checks_extra=ROUTER_ANALYSIS)
    done = service.run("deploy", "--env", "staging", "--version", "v2-errors-5pct", "--json", timeout=180)
    out = json.loads(done.stdout)
    assert (done.returncode, out["state"]) == (1, "failed"), done.stderr
    assert out["failure"]["step"] == "verify"
    assert "errors: green " in out["failure"]["reason"] and "above max 1.00%" in out["failure"]["reason"]
    assert service.served_version() == "v1"  # the switch never happened
    shown = service.json("show", out["id"])
    (window, verdict) = shown["analysis"]
    (reading,) = window["readings"]
    assert reading["outcome"] == "fail" and 0.02 < reading["candidate"] < 0.1 and reading["baseline"] is None
    assert verdict["verdict"] == "fail"
    info = read_runtime(service.state_dir)
    assert info is not None
    metrics = httpx.get(info.url + "/metrics").text
    assert (
        'arxdeploy_router_requests_total{class="5xx",color="green",environment="staging",origin="synthetic"}' in metrics
    )
