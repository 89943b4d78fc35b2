"""Check rounds keep a fixed schedule: slow rounds do not stretch the interval."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest

from arxdeploy.domain.plan import CheckPolicy
from arxdeploy.domain.states import Color
from arxdeploy.engine.watch import Watcher
from arxdeploy.errors import StepFailed
from arxdeploy.ports import CheckResult, Probe, Round
from arxdeploy.testing.clock import ManualClock
from arxdeploy.testing.target import FakeTarget


class SlowHealth:
    """Each round takes ``seconds`` of (manual) time; records when each round started."""

    def __init__(self, clock: ManualClock, seconds: float, ok: bool = True) -> None:
        self.clock, self.seconds, self.ok = clock, seconds, ok
        self.started: list[datetime] = []

    def round(self, *, probes: Sequence[Probe], timeout: timedelta) -> Round:
        self.started.append(self.clock.now())
        self.clock.advance(timedelta(seconds=self.seconds))
        return Round(results=(CheckResult("GET /health", self.ok, "HTTP 200" if self.ok else "HTTP 500"),))


@pytest.mark.parametrize(("round_seconds", "gaps"), [(0.3, [1.0] * 4), (1.5, [1.5] * 4)])
def test_rounds_start_on_the_interval_unless_a_round_is_longer(round_seconds: float, gaps: list[float]) -> None:
    clock = ManualClock()
    target = FakeTarget(clock=clock)
    target.start_color(environment="staging", color=Color.BLUE, version="v1", replicas=1)
    health = SlowHealth(clock, round_seconds)
    policy = CheckPolicy(interval=timedelta(seconds=1), failure_threshold=3)
    watcher = Watcher(target, health, clock, policy, "staging")
    watcher.watch(Color.BLUE, duration=timedelta(seconds=7), progress=lambda _: None, what="monitoring")
    starts = health.started[:5]
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(starts)] == pytest.approx(gaps)


def test_failures_are_detected_on_schedule() -> None:
    clock = ManualClock()
    target = FakeTarget(clock=clock)
    target.start_color(environment="staging", color=Color.BLUE, version="v1", replicas=1)
    health = SlowHealth(clock, 0.2, ok=False)
    watcher = Watcher(target, health, clock, CheckPolicy(interval=timedelta(seconds=1), failure_threshold=3), "staging")
    start = clock.now()
    with pytest.raises(StepFailed, match="failed 3 rounds in a row"):
        watcher.watch(Color.BLUE, duration=timedelta(minutes=5), progress=lambda _: None, what="monitoring")
    # Rounds at 0, 1 and 2 s; the third ends at 2.2 s: (threshold - 1) x interval + one round.
    assert (clock.now() - start).total_seconds() == pytest.approx(2.2)
