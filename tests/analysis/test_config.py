"""The analysis section: named metrics with their conditions, the phases that judge them, and
the plan the engine gets (plain dataclasses); mistakes name their line and key with a fix."""

from __future__ import annotations

from datetime import timedelta

import pytest

from arxdeploy.config import load
from arxdeploy.domain.plan import AnalysisRun, MetricCheck, SyntheticLoad
from tests.config.conftest import SEED_TEXT, Write, error_for

ANALYSIS = """
analysis:
  prometheus: {url: "http://127.0.0.1:9090"}
  metrics:
    errors: {provider: router, measure: error_rate, max: 0.01, max_ratio: 1.1, allowance: 0.005}
    p99: {provider: router, measure: p99, max: 0.3, max_ratio: 1.2, failure_limit: 1}
    p99-prom:
      provider: prometheus
      query: histogram_quantile(0.99, sum by (le) (rate(latency_bucket{color="{color}"}[{interval}])))
      max: 0.3
      judge: {confidence: 0.9, effect: 0.2}
  verify: {metrics: [errors, p99], interval: 10s, count: 4, inconclusive: pause, load: {rate: 5, paths: [/, /api]}}
  monitor: {metrics: [errors], interval: 1m, failure_limit: 1, consecutive_error_limit: 3}
"""


def test_phases_resolve_into_the_plan_with_their_metrics(write: Write) -> None:
    config = load(write(SEED_TEXT + ANALYSIS), {}).config
    plan = config.plan("staging").analysis
    assert plan.verify == AnalysisRun(
        metrics=(
            MetricCheck(
                name="errors", provider="router", measure="error_rate", max=0.01, max_ratio=1.1, allowance=0.005
            ),
            MetricCheck(name="p99", provider="router", measure="p99", max=0.3, max_ratio=1.2, failure_limit=1),
        ),
        interval=timedelta(seconds=10),
        count=4,
        inconclusive="pause",
        load=SyntheticLoad(rate=5.0, paths=("/", "/api")),
    )
    assert plan.monitor is not None
    assert (plan.monitor.interval, plan.monitor.failure_limit, plan.monitor.consecutive_error_limit) == (
        timedelta(minutes=1),
        1,
        3,
    )
    assert plan.canary is None
    prom = plan.metrics[2]
    assert (prom.provider, prom.judge_confidence, prom.judge_effect, prom.relative) == ("prometheus", 0.9, 0.2, True)
    # A canary step names any metric of the section; unknown names are dropped.
    step = plan.run_for("canary", ["p99-prom", "nope"])
    assert step is not None and [m.name for m in step.metrics] == ["p99-prom"]


def test_an_environment_has_its_own_phases(write: Write) -> None:
    text = (
        SEED_TEXT.replace("  production:\n", "  production:\n    analysis: {monitor: {metrics: [p99], count: 5}}\n", 1)
        + ANALYSIS
    )
    config = load(write(text), {}).config
    production = config.plan("production").analysis
    assert production.verify is None
    assert production.monitor is not None and [m.name for m in production.monitor.metrics] == ["p99"]
    assert config.plan("staging").analysis.verify is not None


def test_without_the_section_nothing_is_analysed(write: Write) -> None:
    plan = load(write(SEED_TEXT), {}).config.plan("staging").analysis
    assert (plan.verify, plan.monitor, plan.canary, plan.metrics) == (None, None, None, ())


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


ERRORS = "{provider: router, measure: error_rate, max: 0.01, max_ratio: 1.1, allowance: 0.005}"


@pytest.mark.parametrize(
    ("old", "new", "key", "message", "hint"),
    [
        ("[errors, p99]", "[errors, p98]", "analysis.verify.metrics[1]", "is not a metric of", "did you mean 'p99'?"),
        ("measure: p99, ", "", "analysis.metrics.p99.measure", "is required with", "one of: error_rate"),
        (ERRORS, "{provider: router, measure: error_rate}", "analysis.metrics.errors.provider", "has no condition",
         "add max, min, max_ratio or judge"),
        ("inconclusive: pause", "inconclusive: wait", "analysis.verify.inconclusive", "", None),
    ],
    ids=["unknown-metric", "missing-measure", "no-condition", "bad-inconclusive"],
)  # fmt: skip
def test_mistakes_name_their_line_key_and_fix(
    write: Write, old: str, new: str, key: str, message: str, hint: str | None
) -> None:
    text = SEED_TEXT + ANALYSIS.replace(old, new)
    (problem,) = error_for(write, text).problems
    assert problem.key == key
    assert problem.line == _line_of(text, new or "p99: {provider")
    assert message in problem.message
    if hint:
        assert problem.hint is not None and hint in problem.hint


def test_verify_and_monitor_name_their_metrics_and_a_canary_phase_need_not(write: Write) -> None:
    text = SEED_TEXT + ANALYSIS.replace("  monitor: {metrics: [errors], ", "  canary: {interval: 5s}\n  monitor: {")
    (problem,) = error_for(write, text).problems
    assert problem.key == "analysis.monitor"
    assert "names no metric: monitor would judge nothing" in problem.message
    assert problem.hint == "e.g. metrics: [errors]"


def test_a_prometheus_metric_needs_the_server(write: Write) -> None:
    text = SEED_TEXT + ANALYSIS.replace('  prometheus: {url: "http://127.0.0.1:9090"}\n', "")
    (problem,) = error_for(write, text).problems
    assert problem.key == "analysis.metrics.p99-prom.provider"
    assert problem.line == _line_of(text, "provider: prometheus")
    assert problem.hint == "add analysis.prometheus.url, like http://127.0.0.1:9090"


def test_the_router_provider_is_the_local_targets(write: Write) -> None:
    text = SEED_TEXT.replace("  type: local\n", "  type: kubernetes\n  kubernetes: {}\n", 1) + ANALYSIS.replace(
        ", load: {rate: 5, paths: [/, /api]}", ""
    )
    problems = error_for(write, text).problems
    assert [p.key for p in problems] == ["analysis.metrics.errors.provider", "analysis.metrics.p99.provider"]
    assert "reads the local target's router, and this service's target is kubernetes" in problems[0].message
    assert problems[0].hint == "use provider: prometheus (or http) for the same figure"


def test_synthetic_load_is_the_local_targets(write: Write) -> None:
    analysis = ANALYSIS.replace("provider: router, measure: error_rate,", "provider: prometheus, query: errors,")
    analysis = analysis.replace("provider: router, measure: p99,", "provider: prometheus, query: p99,")
    text = SEED_TEXT.replace("  type: local\n", "  type: kubernetes\n  kubernetes: {}\n", 1) + analysis
    (problem,) = error_for(write, text).problems
    assert problem.key == "analysis.verify.load"
    assert problem.line == _line_of(text, "  verify:")
    assert "only the local target has; this service's target is kubernetes" in problem.message
    assert problem.hint == "remove load, and let real or your own test traffic reach the new color"


def test_a_key_of_another_provider_says_so(write: Write) -> None:
    text = SEED_TEXT + ANALYSIS.replace("measure: p99,", "measure: p99, query: up,")
    (problem,) = error_for(write, text).problems
    assert problem.key == "analysis.metrics.p99.query"
    assert "has no effect with provider: router" in problem.message
    assert problem.hint == "remove it, or use provider: prometheus"
