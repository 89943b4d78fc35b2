"""Analysis with real parts: the real `arxdeploy` command, real replicas (the demo app, made to
regress by its version) behind the real router, and a real Prometheus scraping the router's
/metrics. Users' requests are real requests to the front door.

Short windows (2-3 s) keep each test to a few seconds of analysis.
"""

from __future__ import annotations

import contextlib
import json

from arxdeploy.store.sql import SqlStore
from arxdeploy.testing.prometheus import PrometheusServer, prometheus
from tests.analysis.conftest import Users, scrape_runtime
from tests.e2e.conftest import Service
from tests.support import wait_until

RATE = (
    'sum(rate(arxdeploy_router_requests_total{{environment="{{environment}}",color="{{color}}"{match}}}[{{interval}}]))'
)
ERROR_RATE = RATE.format(match=',class=~"5xx|error"') + " / " + RATE.format(match="")
BUCKETS = 'arxdeploy_router_request_duration_seconds_bucket{environment="{environment}",color="{color}"}'
P99 = f"histogram_quantile(0.99, sum by (le) (rate({BUCKETS}[{{interval}}])))"


def analysis(prom_url: str, *, metrics: str = "[errors, p99]", count: int = 3, extra: str = "") -> str:
    """A top-level analysis section (appended after health_checks) judging the monitoring window."""
    return f"""
analysis:
  prometheus: {{url: "{prom_url}", timeout: 2s}}
  metrics:
    errors: {{provider: prometheus, query: '{ERROR_RATE}', max: 0.01, max_ratio: 1.1, allowance: 0.005}}
    p99: {{provider: prometheus, query: '{P99}', max_ratio: 1.5, allowance: 0.02, failure_limit: 1}}
  monitor: {{metrics: {metrics}, interval: 3s, count: {count}, inconclusive: fail{extra}}}
"""


def live_v1(svc: Service, prom: PrometheusServer, users: Users, version: str) -> None:
    """``version`` live on blue, users' requests flowing, and Prometheus holding blue's figures."""
    svc.write(monitoring="1s")
    done = svc.run("deploy", "--env", "staging", "--version", version)
    assert done.returncode == 0, done.stdout + done.stderr
    scrape_runtime(prom, svc)
    users.start()
    # The window before the switch is the baseline: wait until Prometheus holds a rate for blue.
    query = (
        RATE.format(match="").replace("{environment}", "staging").replace("{color}", "blue").replace("{interval}", "3s")
    )
    wait_until(
        lambda: any(float(r["value"][1]) > 0 for r in prom.query(query)), timeout=60, interval=0.5, what="blue's rate"
    )


def deploy(svc: Service, version: str) -> dict[str, object]:
    done = svc.run("deploy", "--env", "staging", "--version", version, "--json", timeout=180)
    assert done.stdout, done.stderr
    out: dict[str, object] = json.loads(done.stdout)
    return out


def recorded_analysis(svc: Service, deployment_id: str) -> list[dict[str, object]]:
    shown = svc.json("show", deployment_id)
    found: list[dict[str, object]] = shown["analysis"]
    return found


def test_a_version_with_5_percent_errors_on_real_requests_is_rolled_back(
    service: Service, prom: PrometheusServer, users: Users
) -> None:
    live_v1(service, prom, users, "v1")
    service.write(monitoring="1s", checks_extra=analysis(prom.url, metrics="[errors]"))
    out = deploy(service, "v2-errors-5pct")
    assert out["state"] == "rolled_back", out
    failure = out["failure"]
    assert isinstance(failure, dict) and failure["step"] == "monitor"
    reason = failure["reason"]
    assert reason.startswith("monitor analysis of green failed: errors failed 1 measurement (failure_limit 0); last: ")
    assert "errors: green " in reason and " vs blue 0" in reason and "above max 0.01" in reason
    assert service.served_version() == "v1"
    windows = [a for a in recorded_analysis(service, str(out["id"])) if "readings" in a]
    (reading,) = windows[0]["readings"]  # type: ignore[index]
    # Both colors' figures: green's over the window, blue's from the window before the switch.
    assert reading["outcome"] == "fail" and 0.03 < reading["candidate"] < 0.08 and reading["baseline"] == 0
    assert len(windows) == 1  # rolled back after the first interval: failure_limit 0
    # `show` says what was measured in each window and what was decided, one line each.
    shown = service.run("show", str(out["id"])).stdout
    assert "monitor 1/" in shown and "monitor fail:" in shown and "readings=" not in shown, shown


# A p99 over a few seconds of requests is nearly their slowest: one window slowed by a busy
# machine is tolerated (p99's failure_limit: 1), two are not; 50 ms against 150 ms keeps the
# two versions' p99 in different buckets of the router's histogram (0.05-0.1 s, 0.1-0.25 s).
def test_a_version_three_times_slower_at_p99_is_rolled_back(
    service: Service, prom: PrometheusServer, users: Users
) -> None:
    live_v1(service, prom, users, "v1-latency-50ms")
    service.write(monitoring="1s", checks_extra=analysis(prom.url))
    out = deploy(service, "v2-latency-150ms")
    assert out["state"] == "rolled_back", out
    failure = out["failure"]
    assert isinstance(failure, dict) and "p99 failed" in failure["reason"], failure
    windows = [a for a in recorded_analysis(service, str(out["id"])) if "readings" in a]
    p99 = next(r for r in windows[-1]["readings"] if r["metric"] == "p99")  # type: ignore[attr-defined]
    assert p99["outcome"] == "fail" and p99["candidate"] > 1.5 * p99["baseline"] + 0.02, p99
    assert service.served_version() == "v1-latency-50ms"


def test_an_unchanged_version_is_not_rolled_back(service: Service, prom: PrometheusServer, users: Users) -> None:
    live_v1(service, prom, users, "v1-latency-50ms")
    service.write(monitoring="1s", checks_extra=analysis(prom.url))
    out = deploy(service, "v2-latency-50ms")
    assert out["state"] == "succeeded", out
    verdicts = [a for a in recorded_analysis(service, str(out["id"])) if "verdict" in a]
    assert [v["verdict"] for v in verdicts] == ["pass"]
    windows = [a for a in recorded_analysis(service, str(out["id"])) if "readings" in a]
    assert len(windows) == 3
    errors = [r for w in windows for r in w["readings"] if r["metric"] == "errors"]  # type: ignore[attr-defined]
    assert [r["outcome"] for r in errors] == ["pass"] * 3 and all(r["candidate"] == 0 for r in errors)
    assert service.served_version() == "v2-latency-50ms"


def test_prometheus_stopped_mid_analysis_fails_it_and_never_promotes(service: Service, users: Users) -> None:
    with contextlib.ExitStack() as own:
        server = own.enter_context(prometheus(interval="1s"))  # this test's own: it is stopped
        live_v1(service, server, users, "v1")
        extra = ", consecutive_error_limit: 1"
        service.write(monitoring="1s", checks_extra=analysis(server.url, metrics="[errors]", count=8, extra=extra))
        running = service.start("deploy", "--env", "staging", "--version", "v2")

        def first_window() -> bool:
            newest = service.recorded()
            if newest is None or newest.deployment.version != "v2":
                return False
            with SqlStore(f"sqlite:///{service.state_dir / 'state.db'}") as store:
                events = store.events(deployment_id=newest.deployment.id)
            return any(e.type == "analysis" and e.data.get("window") == 1 for e in events)

        wait_until(first_window, timeout=120, interval=0.2, what="the first window of the analysis")
        own.close()  # Prometheus stops
        summary = service.wait_for(running, "v2", "rolled_back")
    assert running.wait(timeout=60) == 1
    assert service.served_version() == "v1"
    with SqlStore(f"sqlite:///{service.state_dir / 'state.db'}") as store:
        events = store.events(deployment_id=summary.deployment.id)
    (verdict,) = [e.data for e in events if e.type == "analysis" and "verdict" in e.data]
    assert verdict["verdict"] == "fail"
    assert "could not be read 2 times in a row (consecutive_error_limit 1): a metrics outage is never a pass" in str(
        verdict["reason"]
    )
    outcomes = [e.data["readings"][0]["outcome"] for e in events if e.type == "analysis" and "readings" in e.data]
    assert outcomes[0] == "pass" and outcomes[-2:] == ["error", "error"]


CANARY_ANALYSIS = """
analysis:
  metrics:
    errors: {provider: router, measure: error_rate, max: 0.01, max_ratio: 1.1, allowance: 0.005}
  canary: {interval: 2s, count: 3, min_requests: 10}
"""


def test_a_canary_analysis_step_judges_both_colors_over_the_same_window(service: Service, users: Users) -> None:
    service.write(monitoring="1s")
    assert service.run("deploy", "--env", "staging", "--version", "v1").returncode == 0
    users.start()
    service.write(monitoring="1s", checks_extra=CANARY_ANALYSIS)
    text = service.config.read_text(encoding="utf-8")
    steps = "[{weight: 50}, {analysis: [errors]}, {weight: 100}]"
    service.config.write_text(text.replace("  type: blue_green\n", f"  type: canary\n  canary:\n    steps: {steps}\n"))
    out = deploy(service, "v2-errors-5pct")
    assert out["state"] == "rolled_back", out
    failure = out["failure"]
    assert isinstance(failure, dict) and failure["step"] == "canary", failure
    assert failure["reason"].startswith("canary analysis of green failed: errors failed 1 measurement")
    (window, verdict) = recorded_analysis(service, str(out["id"]))
    (reading,) = window["readings"]  # type: ignore[misc]
    # Both colors took users' requests in that window: blue's figure is its own, not a recorded one.
    assert reading["outcome"] == "fail" and reading["baseline"] == 0 and 0.02 < reading["candidate"] < 0.1
    assert verdict["phase"] == "canary" and verdict["verdict"] == "fail"
    assert service.served_version() == "v1"
