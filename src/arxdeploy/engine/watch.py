"""Health watching shared by verify, monitor, finalize, rollback and restore."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from arxdeploy.domain.plan import CheckPolicy
from arxdeploy.domain.states import Color
from arxdeploy.errors import StepFailed, TransientTargetError
from arxdeploy.ports import CheckResult, Clock, HealthProbe, Probe, Round, Target


def probes_for(target: Target, environment: str, color: Color, *, live_path: bool = False) -> list[Probe]:
    """Every replica of ``color``; plus the front door when ``live_path`` (it should be on ``color``)."""
    state = target.inspect(environment=environment)
    color_state = state.colors.get(color)
    if color_state is None:
        raise StepFailed(f"{color.value} is not running in {environment}")
    if color_state.crash_looping:
        raise StepFailed(
            f"{color.value} ({color_state.version}) is crash-looping: {color_state.detail}",
            check=f"{color.value} processes",
            answer=color_state.detail,
        )
    probes = [
        Probe(url=r.url, color=color, version=color_state.version, label=f"{color.value} replica {r.index}")
        for r in color_state.replicas
    ]
    if live_path and state.live_url and state.live_color is color:
        probes.append(Probe(url=state.live_url, color=color, version=color_state.version, label="live path"))
    return probes


@dataclass(frozen=True)
class Watcher:
    """Turns rounds of checks on one environment into decisions."""

    target: Target
    health: HealthProbe
    clock: Clock
    policy: CheckPolicy
    environment: str
    checkpoint: Callable[[], None] = field(default=lambda: None)  # raises to stop (a lost lease)

    def ready(self, color: Color, *, deadline: timedelta, progress: Callable[[str], None]) -> int:
        """Block until ``color`` passes every check ``success_threshold`` rounds in a row.

        Returns the number of rounds run. Fails fast on a crash loop, and at ``deadline``.
        """
        give_up = self.clock.now() + deadline
        good = rounds = 0
        last: CheckResult | None = None
        tick = self.clock.now()
        while True:
            rounds += 1
            self.checkpoint()
            result = self._round(color, live_path=False)
            good = good + 1 if result.ok else 0
            last = result.first_failure or last
            if good >= self.policy.success_threshold:
                return rounds
            waiting = f"waiting for {color.value}: {good}/{self.policy.success_threshold} good rounds"
            progress(f"{waiting}; last failure: {last.check} -> {last.answer}" if last and not result.ok else waiting)
            if self.clock.now() >= give_up:
                raise StepFailed(
                    f"{color.value} did not pass its checks within {_human(deadline)}"
                    + (f": {last.check} answered {last.answer}" if last else ""),
                    check=last.check if last else None,
                    answer=last.answer if last else None,
                )
            tick = self._sleep_until_next(tick)

    def watch(self, color: Color, *, duration: timedelta, progress: Callable[[str], None], what: str) -> int:
        """Check the live ``color`` every interval for ``duration``.

        ``failure_threshold`` consecutive failed rounds raise StepFailed naming the failing check
        and its last answer. Returns the number of rounds run.
        """
        end = self.clock.now() + duration
        bad = rounds = 0
        tick = self.clock.now()
        while self.clock.now() < end:
            rounds += 1
            self.checkpoint()
            failure = self._round(color, live_path=True).first_failure
            bad = bad + 1 if failure else 0
            if failure and bad >= self.policy.failure_threshold:
                raise StepFailed(
                    f"{failure.check} failed {bad} rounds in a row (last answer: {failure.answer})",
                    check=failure.check,
                    answer=failure.answer,
                )
            left = max(0.0, (end - self.clock.now()).total_seconds())
            status = f"{bad}/{self.policy.failure_threshold} failed rounds" if bad else "healthy"
            progress(f"{what}: {status}, {left:.0f}s left")
            if left > 0:
                tick = self._sleep_until_next(tick, until=end)
        return rounds

    def _sleep_until_next(self, tick: datetime, *, until: datetime | None = None) -> datetime:
        """Keep rounds on a fixed schedule: a slow round does not push every later one back."""
        tick += self.policy.interval
        now = self.clock.now()
        tick = max(tick, now)  # a round longer than the interval: start the next one at once
        wake = min(tick, until) if until else tick
        self.clock.sleep(max(0.0, (wake - now).total_seconds()))
        return tick

    def _round(self, color: Color, *, live_path: bool) -> Round:
        """One round of checks. A target that stays unreachable (its retries spent) is a failed
        round, not a failed step: ``failure_threshold`` and the deadline decide."""
        try:
            probes = probes_for(self.target, self.environment, color, live_path=live_path)
        except TransientTargetError as exc:
            return Round(results=(CheckResult(f"reading {self.environment} from the target", False, exc.message),))
        except StepFailed as exc:
            if not live_path:
                raise  # a candidate in a crash loop fails fast
            # A crash loop of the live color is a failed round like any other.
            return Round(results=(CheckResult(exc.check or "processes", False, exc.answer or exc.message),))
        return self.health.round(probes=probes, timeout=self.policy.timeout)


def _human(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"
