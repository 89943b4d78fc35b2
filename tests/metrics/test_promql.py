"""Every PromQL expression of the shipped dashboard and alert rules, run by a real Prometheus
scraping a real `arxdeploy server` whose record gained a scripted series of deployments: a
success, a rollback, a failure, a gate approved after a wait and one still waiting, and a canary
with analysis results whose runner died. Each expression parses and returns data."""

from __future__ import annotations

import json
import math
import re
import shutil
import urllib.error
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

import tests.api.conftest as api
from arxdeploy.testing.objectstores import MissingTool
from arxdeploy.testing.prometheus import PrometheusServer, prometheus
from tests.api.conftest import World
from tests.metrics.test_canary_and_analysis import add, canary
from tests.support import wait_until

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "arxdeploy-dashboard.json"
RULES = ROOT / "deploy" / "prometheus" / "arxdeploy-rules.yml"

# Grafana's variables as a person viewing every environment of demo-api over 6 hours would have them.
VARIABLES = {
    "$__rate_interval": "1m",
    "$__range": "6h",
    "$service": "demo-api",
    "$environment": ".*",
}


@pytest.fixture(scope="session")
def prom() -> Iterator[PrometheusServer]:
    try:
        with prometheus(interval="1s") as server:
            yield server
    except MissingTool as missing:
        pytest.skip(str(missing))


@pytest.fixture
def patient(monkeypatch: pytest.MonkeyPatch) -> None:
    # Gates that wait longer than the alert's 30 minutes before they expire.
    monkeypatch.setattr(api, "CONFIG", api.CONFIG.replace("timeout_minutes: 30", "timeout_minutes: 240"))


@pytest.fixture
def world(patient: None, world: World) -> World:
    """The API suite's world (tests/api/conftest.py), made after ``patient``."""
    return world


def dashboard_expressions() -> list[str]:
    def walk(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            if isinstance(node.get("expr"), str):
                yield node["expr"]
            for child in node.values():
                yield from walk(child)
        elif isinstance(node, list):
            for child in node:
                yield from walk(child)

    return list(walk(json.loads(DASHBOARD.read_text())))


def variable_selectors() -> list[tuple[str, str]]:
    """The template variables' ``label_values(selector, label)`` queries, as (selector, label)."""
    found = []
    for variable in json.loads(DASHBOARD.read_text())["templating"]["list"]:
        if variable["type"] == "query":
            match = re.fullmatch(r"label_values\((.+), (\w+)\)", variable["query"])
            assert match, variable
            found.append((match[1], match[2]))
    return found


def rule_expressions() -> list[str]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def fill(expr: str) -> str:
    for name, value in sorted(VARIABLES.items(), key=lambda item: -len(item[0])):
        expr = expr.replace(name, value)
    assert "$" not in expr, f"a Grafana variable this test does not know in {expr}"
    return expr


def run_the_script(world: World) -> None:
    """The deployments, run by the engine (fake target, manual clock) or, for the canary and
    analysis events, appended as their steps record them."""
    world.deploy_staging("v1")
    world.deploy_staging_failed("v2-fails-after-35s")  # rolled back while monitored
    world.deploy_staging_failed("v3-crash")  # fails its checks: cleaned up, failed
    first = world.request_production("v1")
    world.clock.advance(timedelta(minutes=12))
    for approver in ("bo@example.com", "cy@example.com"):
        assert world.post(f"/api/v1/approvals/{first.id}/approve", approver).status_code == 200
    assert world.engine.resume(plan=world.app.plan("production"), deployment_id=first.id).state.value == "succeeded"
    world.request_production("v2")  # waits at its gate...
    world.clock.advance(timedelta(minutes=45))  # ...longer than the alert allows
    d = canary(world, "v4")  # a canary whose runner's lease ran out: stalled
    add(world, d, "canary_step", weight=20)
    add(world, d, "analysis", verdict="pass", phase="canary", metric="error-rate")
    add(world, d, "analysis", verdict="inconclusive", phase="canary", metric="p99")
    world.clock.advance(timedelta(hours=2))


def total(prom: PrometheusServer, promql: str) -> float | None:
    result = prom.query(f"sum({promql})")
    return float(result[0]["value"][1]) if result else None


def test_every_expression_of_the_dashboard_and_the_rules_returns_data(world: World, prom: PrometheusServer) -> None:
    prom.set_targets([{"targets": [f"127.0.0.1:{world.server.port}"], "labels": {}}])
    try:
        # Scraped before anything happens: the series made at start are seen at 0.
        wait_until(lambda: total(prom, "arxdeploy_rollbacks_total") == 0, timeout=60, what="a first scrape")
        run_the_script(world)
        expected = {
            "arxdeploy_deployments_finished_total": 4,
            "arxdeploy_deployment_duration_seconds_count": 4,
            "arxdeploy_rollbacks_total": 1,
            "arxdeploy_time_to_restore_seconds_count": 1,
            "arxdeploy_approval_wait_seconds_count": 1,
            "arxdeploy_analysis_results_total": 2,
        }
        for name, count in expected.items():
            wait_until(lambda name=name, count=count: total(prom, name) == count, timeout=60, what=f"{name} = {count}")

        expressions = [*dashboard_expressions(), *rule_expressions()]
        assert len(expressions) >= 25
        empty = []
        for expr in expressions:
            result = prom.query(fill(expr))  # raises on a parse error, naming it
            numbers = [float(sample["value"][1]) for sample in result]
            if not numbers or all(math.isnan(n) for n in numbers):
                empty.append(expr)
        assert empty == [], "expressions without data:\n" + "\n".join(empty)

        for selector, label in variable_selectors():
            labels = {sample["metric"].get(label) for sample in prom.query(fill(selector))}
            assert labels - {None}, (selector, label)

        # Loaded as rules, Prometheus evaluates them on what it scraped: every alert is raised
        # (pending where it waits `for` a while).
        shutil.copy(RULES, prom.rules_dir / RULES.name)
        prom.reload()
        wanted = {rule["alert"] for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]}
        raised = wait_until(
            lambda: (found := {a["metric"]["alertname"] for a in prom.query("ALERTS")}) >= wanted and found,
            timeout=60,
            what="every alert raised",
        )
        assert raised == wanted
    finally:
        prom.set_targets([])
        (prom.rules_dir / RULES.name).unlink(missing_ok=True)
        prom.reload()


def test_a_wrong_expression_is_caught(prom: PrometheusServer) -> None:
    # The check above would see a typo: Prometheus refuses it, and an unknown metric has no data.
    with pytest.raises(urllib.error.HTTPError) as refused:
        prom.query(fill("sum by (environment (arxdeploy_rollbacks_total)"))
    refused.value.close()  # the answer's socket
    assert refused.value.code == 400
    assert prom.query("arxdeploy_rolbacks_total") == []
