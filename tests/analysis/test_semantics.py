"""The failure semantics of analysis, through the engine against fakes (the figures are
scripted): failure limit, inconclusive results as configured, provider errors in a row, the
baseline after the switch, and the rank test (SciPy's, for real)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import pytest

from arxdeploy.analysis import judge
from arxdeploy.domain.events import Deployment, Event
from arxdeploy.domain.plan import AnalysisPlan, AnalysisRun, MetricCheck, SyntheticLoad
from arxdeploy.domain.states import Color, State
from arxdeploy.engine.pause import Action, Answers
from arxdeploy.errors import MetricsError
from arxdeploy.ports import Measurement, MetricReader, MetricScope
from tests.drive import deploy
from tests.drive import rollback as rollback_to
from tests.engine.conftest import PLAN, World

ERRORS = MetricCheck(name="errors", provider="router", measure="error_rate", max=0.01, max_ratio=1.1, allowance=0.005)
Figure = float | None | MetricsError


@dataclass
class ScriptedMetrics:
    """Figures by (metric, color): one per reading, in order, the last one repeated."""

    figures: dict[tuple[str, Color], Sequence[Figure]]
    requests: int = 100
    asked: list[tuple[str, Color, datetime | None]] = field(default_factory=list)
    loads: list[tuple[Color, str, SyntheticLoad]] = field(default_factory=list)
    stopped: int = 0

    def reader(self, *, environment: str, metrics: Sequence[MetricCheck]) -> MetricReader:
        return _Reader(self)

    def load(self, *, environment: str, color: Color, url: str, load: SyntheticLoad) -> Callable[[], int]:
        self.loads.append((color, url, load))

        def stop() -> int:
            self.stopped += 1
            return 42

        return stop

    def rank_test(self, *, candidate: Sequence[float], baseline: Sequence[float]) -> float:
        return judge.rank_test(candidate, baseline)


@dataclass
class _Reader:
    source: ScriptedMetrics

    def window(self) -> None:
        pass

    def measure(self, *, metric: MetricCheck, scope: MetricScope, until: datetime | None = None) -> Measurement:
        asked = self.source.asked
        done = sum(1 for name, color, _ in asked if (name, color) == (metric.name, scope.color))
        asked.append((metric.name, scope.color, until))
        series = self.source.figures[(metric.name, scope.color)]
        figure = series[min(done, len(series) - 1)]
        if isinstance(figure, MetricsError):
            raise figure
        return Measurement(figure, self.source.requests)

    def close(self) -> None:
        pass


def run_with(world: World, metrics: ScriptedMetrics, **phases: AnalysisRun) -> tuple[State, list[Event]]:
    engine = world.engine()
    engine.metrics = metrics
    deploy(engine, plan=PLAN, version="v1")
    plan = replace(PLAN, analysis=AnalysisPlan(**phases, metrics=(ERRORS,)))  # type: ignore[arg-type]
    d, view = deploy(engine, plan=plan, version="v2")
    return view.state, world.store.events(deployment_id=d.id)


def analysed(events: list[Event]) -> list[dict[str, object]]:
    return [e.data for e in events if e.type == "analysis"]


def verify_run(**settings: object) -> AnalysisRun:
    return AnalysisRun(metrics=(ERRORS,), interval=timedelta(seconds=10), **settings)  # type: ignore[arg-type]


def test_a_failing_candidate_fails_verify_at_its_first_bad_window(world: World) -> None:
    metrics = ScriptedMetrics({("errors", Color.GREEN): [0.001, 0.05], ("errors", Color.BLUE): [0.001]})
    state, events = run_with(world, metrics, verify=verify_run(count=5))
    assert state is State.FAILED  # before the switch: blue never stopped taking traffic
    windows = [a for a in analysed(events) if "readings" in a]
    assert len(windows) == 2
    (reading,) = windows[1]["readings"]  # type: ignore[misc]
    assert reading == {
        "metric": "errors",
        "outcome": "fail",
        "candidate": 0.05,
        "baseline": 0.001,
        "reason": "errors: green 5.00% vs blue 0.10%; above max 1.00%",
    }
    assert windows[1]["line"] == "errors: green 5.00% vs blue 0.10%; above max 1.00% [fail]"
    (verdict,) = [a for a in analysed(events) if "verdict" in a]
    assert verdict["verdict"] == "fail"
    failed = next(e for e in events if e.type == "step" and e.data["step"] == "verify")
    assert failed.data["reason"] == (
        "verify analysis of green failed: errors failed 1 measurement (failure_limit 0); "
        "last: errors: green 5.00% vs blue 0.10%; above max 1.00%"
    )


def test_the_failure_limit_tolerates_that_many_bad_windows(world: World) -> None:
    metrics = ScriptedMetrics({("errors", Color.GREEN): [0.05, 0.001, 0.001], ("errors", Color.BLUE): [0.001]})
    state, events = run_with(world, metrics, verify=verify_run(count=3, failure_limit=1))
    assert state is State.SUCCEEDED
    (verdict,) = [a for a in analysed(events) if "verdict" in a]
    assert verdict["verdict"] == "pass"


@pytest.mark.parametrize(
    ("green", "state"),
    [([0.05, 0.001, 0.001], State.SUCCEEDED), ([0.05, 0.001, 0.05], State.FAILED)],
    ids=["one-bad-window", "two-bad-windows"],
)
def test_a_metric_may_have_its_own_failure_limit(world: World, green: list[float], state: State) -> None:
    noisy = replace(ERRORS, failure_limit=1)  # tolerates one bad window; the phase's limit is 0
    metrics = ScriptedMetrics({("errors", Color.GREEN): green, ("errors", Color.BLUE): [0.001]})
    found, events = run_with(world, metrics, verify=AnalysisRun(metrics=(noisy,), interval=timedelta(seconds=10)))
    assert found is state
    (verdict,) = [a for a in analysed(events) if "verdict" in a]
    if state is State.FAILED:
        assert str(verdict["reason"]).startswith("errors failed 2 measurements (failure_limit 1)")


def test_relative_bound_is_the_baseline_times_the_ratio_plus_the_allowance(world: World) -> None:
    # max 1% passes both; 1.1 x 0.002 + 0.005 = 0.0072 is what green may reach.
    metrics = ScriptedMetrics({("errors", Color.GREEN): [0.008], ("errors", Color.BLUE): [0.002]})
    state, events = run_with(world, metrics, verify=verify_run(count=1))
    assert state is State.FAILED
    (window,) = [a for a in analysed(events) if "readings" in a]
    assert window["readings"][0]["reason"] == (  # type: ignore[index]
        "errors: green 0.80% vs blue 0.20%; above 1.1 × baseline + 0.50% = 0.72%"
    )


@pytest.mark.parametrize(
    ("policy", "answer", "state", "said"),
    [
        ("fail", None, State.FAILED, "green inconclusive (inconclusive: fail): too little data: errors"),
        ("pass", None, State.SUCCEEDED, "verify analysis of green inconclusive, passed as configured"),
        ("pause", Action.PROMOTE, State.SUCCEEDED, "promoted by rui@example.com (via server)"),
        ("pause", Action.ABORT, State.FAILED, "aborted by rui@example.com (via server): no traffic to judge by"),
    ],
    ids=["fail", "pass", "pause-promoted", "pause-aborted"],
)  # fmt: skip
def test_no_traffic_is_inconclusive_and_leads_where_configured(
    world: World, policy: str, answer: Action | None, state: State, said: str
) -> None:
    if answer is not None:
        # A person answers once the deployment pauses, through the same rules as the CLI and the server.
        answers = Answers(store=world.store, clock=world.clock)
        reason = "no traffic to judge by" if answer is Action.ABORT else ""

        def hook(d: Deployment, event: Event) -> None:
            if event.type == "paused":
                assert "verify analysis of green inconclusive" in str(event.data["reason"])
                answers.answer(deployment_id=d.id, action=answer, who="rui@example.com", via="server", reason=reason)

        world.hooks.append(hook)
    metrics = ScriptedMetrics({("errors", Color.GREEN): [None], ("errors", Color.BLUE): [0.0]})
    found, events = run_with(world, metrics, verify=verify_run(count=2, inconclusive=policy))
    assert found is state
    (verdict,) = [a for a in analysed(events) if "verdict" in a]
    assert verdict["verdict"] == "inconclusive" and verdict["then"] == policy
    assert any(e.type == "paused" for e in events) is (policy == "pause")
    step = next(e for e in events if e.type == "step" and e.data["step"] == "verify")
    assert said in str(step.data.get("detail") or step.data.get("reason"))


def test_too_few_requests_is_inconclusive_not_a_pass(world: World) -> None:
    metrics = ScriptedMetrics({("errors", Color.GREEN): [0.0], ("errors", Color.BLUE): [0.0]}, requests=3)
    state, events = run_with(world, metrics, verify=verify_run(count=2, min_requests=20))
    assert state is State.FAILED
    (window, *_) = [a for a in analysed(events) if "readings" in a]
    reason = window["readings"][0]["reason"]  # type: ignore[index]
    assert reason.endswith("green took 3 requests, 20 needed (min_requests)")


def test_provider_errors_in_a_row_beyond_the_limit_fail(world: World) -> None:
    down = MetricsError("Prometheus did not answer: ConnectError")
    metrics = ScriptedMetrics({("errors", Color.GREEN): [0.001, down], ("errors", Color.BLUE): [0.001]})
    state, events = run_with(world, metrics, verify=verify_run(count=10, consecutive_error_limit=2))
    assert state is State.FAILED
    windows = [a for a in analysed(events) if "readings" in a]
    assert [w["readings"][0]["outcome"] for w in windows] == ["pass", "error", "error", "error"]  # type: ignore[index]
    (verdict,) = [a for a in analysed(events) if "verdict" in a]
    assert "could not be read 3 times in a row (consecutive_error_limit 2): a metrics outage is never a pass" in str(
        verdict["reason"]
    )


def test_errors_at_the_end_fail_even_under_the_limit(world: World) -> None:
    down = MetricsError("Prometheus did not answer")
    metrics = ScriptedMetrics({("errors", Color.GREEN): [0.001, 0.001, down], ("errors", Color.BLUE): [0.001]})
    state, events = run_with(world, metrics, verify=verify_run(count=3, consecutive_error_limit=5, inconclusive="pass"))
    assert state is State.FAILED  # not "inconclusive: pass": an outage is never a pass
    (verdict,) = [a for a in analysed(events) if "verdict" in a]
    assert "could not be read at the end of the analysis" in str(verdict["reason"])


def test_monitor_takes_the_old_colors_figures_from_before_the_switch(world: World) -> None:
    # Verify measured blue at 0.1 %; after the switch blue takes nothing (None), and the 0.1 %
    # stays the baseline: green at 0.9 % is above 1.1 x 0.001 + 0.005.
    metrics = ScriptedMetrics({("errors", Color.GREEN): [0.001, 0.009], ("errors", Color.BLUE): [0.001, None]})
    state, events = run_with(world, metrics, verify=verify_run(count=1), monitor=verify_run(count=2))
    assert state is State.ROLLED_BACK
    monitor = [a for a in analysed(events) if a["phase"] == "monitor" and "readings" in a]
    (reading,) = monitor[0]["readings"]  # type: ignore[misc]
    assert (reading["outcome"], reading["candidate"], reading["baseline"]) == ("fail", 0.009, 0.001)
    assert all(color is Color.GREEN for _, color, _ in metrics.asked[2:])  # blue is not read after the switch


def test_without_verify_figures_monitor_asks_the_provider_for_the_old_color_at_the_switch_once(
    world: World,
) -> None:
    metrics = ScriptedMetrics({("errors", Color.GREEN): [0.001], ("errors", Color.BLUE): [0.001]})
    state, events = run_with(world, metrics, monitor=verify_run(count=3))
    assert state is State.SUCCEEDED
    windows = [a for a in analysed(events) if a["phase"] == "monitor" and "readings" in a]
    assert [w["readings"][0]["baseline"] for w in windows] == [0.001, 0.001, 0.001]  # type: ignore[index]
    at_switch = [until for name, color, until in metrics.asked if color is Color.BLUE]
    assert len(at_switch) == 1 and at_switch[0] is not None  # its figure as of the switch, asked once


def test_a_rollback_is_never_held_up_by_analysis(world: World) -> None:
    # Every figure is bad: a deploy would fail. The rollback back to v1 runs without analysis.
    metrics = ScriptedMetrics({("errors", Color.GREEN): [0.5], ("errors", Color.BLUE): [0.5]})
    engine = world.engine()
    engine.metrics = metrics
    deploy(engine, plan=PLAN, version="v1")
    deploy(engine, plan=PLAN, version="v2")
    plan = replace(PLAN, analysis=AnalysisPlan(verify=verify_run(count=1), monitor=verify_run(count=1)))
    _, view = rollback_to(engine, plan=plan)
    assert view.state is State.SUCCEEDED
    assert metrics.asked == []


def test_synthetic_load_runs_during_the_analysis_only(world: World) -> None:
    load = SyntheticLoad(rate=5.0, paths=("/", "/api"))
    metrics = ScriptedMetrics({("errors", Color.GREEN): [0.0], ("errors", Color.BLUE): [0.0]})
    state, _ = run_with(world, metrics, verify=replace(verify_run(count=1), load=load))
    assert state is State.SUCCEEDED
    ((color, _, sent),) = metrics.loads
    assert (color, sent, metrics.stopped) == (Color.GREEN, load, 1)


JUDGED = replace(ERRORS, max=None, max_ratio=None, allowance=0.0, judge_confidence=0.95, judge_effect=0.1)


@pytest.mark.parametrize(
    ("green", "state", "verdict"),
    [
        ([0.030, 0.031, 0.029, 0.032, 0.030], State.FAILED, "fail"),  # worse in every window, 3x the median
        ([0.010, 0.011, 0.009, 0.010, 0.012], State.SUCCEEDED, "pass"),  # the same population
        ([0.0105, 0.0108, 0.0106, 0.0107, 0.0109], State.SUCCEEDED, "pass"),  # worse, but within the 10 % band
    ],
    ids=["worse", "same", "within-band"],
)
def test_the_rank_test_fails_only_a_significantly_and_materially_worse_candidate(
    world: World, green: list[float], state: State, verdict: str
) -> None:
    blue = [0.010, 0.009, 0.011, 0.010, 0.0095]
    metrics = ScriptedMetrics({("errors", Color.GREEN): green, ("errors", Color.BLUE): blue})
    run = AnalysisRun(metrics=(JUDGED,), interval=timedelta(seconds=10), count=5)
    found, events = run_with(world, metrics, verify=run)
    assert found is state
    (final,) = [a for a in analysed(events) if "verdict" in a]
    (judged,) = final["judged"]  # type: ignore[misc]
    assert judged["outcome"] == verdict and "p=" in judged["reason"]
