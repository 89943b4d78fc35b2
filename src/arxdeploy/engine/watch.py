"""Health watching shared by verify, monitor, finalize, rollback and restore.

What a round checks, and what a color's state means for it, is decided here from what the target
reports (``ColorState``), before any check runs:

- ``ready`` (a color about to take traffic): a ``FAILED`` color fails the step at once, naming
  the target's reason. A color that is not all there yet (a ``WAITING`` problem, replicas waiting
  for a node or their first start, fewer replicas than its size) makes a round that is not good,
  with the reason in the progress; that is waited for until the deadline. Only then is every
  replica checked, so a color is ready when all of its ``size`` replicas pass, not the first few.
- ``watch`` (the live color): a ``FAILED`` color is a failed round, like a failed check.
  Replicas that are waiting (a scale-up whose pods wait for a node, or start) take no traffic and
  are not checked while others serve; the others and the live path are, as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from arxdeploy.domain.plan import CheckPolicy
from arxdeploy.domain.states import Color
from arxdeploy.errors import StepFailed, TransientTargetError
from arxdeploy.ports import CheckResult, Clock, ColorState, EnvironmentState, HealthProbe, Probe, Round, Target


def probes_for(state: EnvironmentState, color: Color, *, live_path: bool = False) -> list[Probe]:
    """The checks of one round on ``color``. With ``live_path`` (a color that serves): the
    replicas that are not waiting, and the front door when ``color`` is live; otherwise every replica.

    ``StepFailed`` when ``color`` does not run.
    """
    own = state.colors.get(color)
    if own is None:
        raise StepFailed(f"{color.value} is not running in {state.environment}")
    replicas = [r for r in own.replicas if not (live_path and r.waiting)]
    probes = [
        Probe(url=r.url, color=color, version=own.version, label=f"{color.value} replica {r.index}") for r in replicas
    ]
    if live_path and state.live_url and state.live_color is color:
        probes.append(Probe(url=state.live_url, color=color, version=own.version, label="live path"))
    return probes


def not_all_there(own: ColorState) -> str | None:
    """Why ``own`` cannot pass a round yet, though it may later; None when every replica can be checked."""
    running = sum(r.running for r in own.replicas)
    count = f"{running} of {own.wanted} replica{'s' if own.wanted != 1 else ''} running"
    if own.problem is not None:
        return f"{count}; {own.problem}"
    if len(own.replicas) < own.wanted or any(r.waiting for r in own.replicas):
        return count
    return None


def _replicas(color: Color) -> str:
    return f"{color.value} replicas"


@dataclass(frozen=True)
class Ready:
    """How a color became ready."""

    rounds: int  # rounds of checks run
    size: int  # replicas of the color when it passed


@dataclass(frozen=True)
class Watcher:
    """Turns rounds of checks on one environment into decisions."""

    target: Target
    health: HealthProbe
    clock: Clock
    policy: CheckPolicy
    environment: str
    checkpoint: Callable[[], None] = field(default=lambda: None)  # raises to stop (a lost lease)

    def ready(self, color: Color, *, deadline: timedelta, progress: Callable[[str], None]) -> Ready:
        """Block until all of ``color`` passes every check ``success_threshold`` rounds in a row.

        Fails fast when the target says it cannot run (``FAILED``), and at ``deadline``, naming
        what was still waited for or the last failed check.
        """
        give_up = self.clock.now() + deadline
        good = rounds = 0
        last: CheckResult | None = None
        tick = self.clock.now()
        while True:
            rounds += 1
            self.checkpoint()
            result, size = self._ready_round(color)
            good = good + 1 if result.ok else 0
            last = result.first_failure or last
            if good >= self.policy.success_threshold:
                return Ready(rounds=rounds, size=size)
            waiting = f"waiting for {color.value}: {good}/{self.policy.success_threshold} good rounds"
            if last is not None and not result.ok:
                waiting += f"; {_said(last)}" if _about_replicas(last) else f"; last failure: {_said(last)}"
            progress(waiting)
            if self.clock.now() >= give_up:
                raise StepFailed(
                    f"{color.value} did not pass its checks within {_human(deadline)}"
                    + (f": {_said(last)}" if last else ""),
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
            result, note = self._watch_round(color)
            failure = result.first_failure
            bad = bad + 1 if failure else 0
            if failure and bad >= self.policy.failure_threshold:
                raise StepFailed(
                    f"{failure.check} failed {bad} rounds in a row (last answer: {failure.answer})",
                    check=failure.check,
                    answer=failure.answer,
                )
            left = max(0.0, (end - self.clock.now()).total_seconds())
            status = f"{bad}/{self.policy.failure_threshold} failed rounds" if bad else "healthy"
            progress(f"{what}: {status}{f' ({note})' if note else ''}, {left:.0f}s left")
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

    def _read(self) -> EnvironmentState | Round:
        """The environment, or a failed round when the target stays unreachable (its retries
        spent): ``failure_threshold`` and the deadline decide, not one bad answer."""
        try:
            return self.target.inspect(environment=self.environment)
        except TransientTargetError as exc:
            return Round(results=(CheckResult(f"reading {self.environment} from the target", False, exc.message),))

    def _ready_round(self, color: Color) -> tuple[Round, int]:
        state = self._read()
        if isinstance(state, Round):
            return state, 0
        own = state.colors.get(color)
        if own is None:
            raise StepFailed(f"{color.value} is not running in {self.environment}")
        if own.failed:
            raise StepFailed(
                f"{color.value} ({own.version}) cannot run: {own.problem}",
                check=_replicas(color),
                answer=str(own.problem),
            )
        pending = not_all_there(own)
        if pending is not None:
            return Round(results=(CheckResult(_replicas(color), False, pending),)), own.wanted
        return self.health.round(probes=probes_for(state, color), timeout=self.policy.timeout), own.wanted

    def _watch_round(self, color: Color) -> tuple[Round, str]:
        """One round on the live ``color``, and a note on its replicas that wait."""
        state = self._read()
        if isinstance(state, Round):
            return state, ""
        try:
            probes = probes_for(state, color, live_path=True)
        except StepFailed as exc:
            return Round(results=(CheckResult(_replicas(color), False, exc.message),)), ""
        own = state.colors[color]
        if own.failed:  # a crash loop of the live color is a failed round like any other
            return Round(results=(CheckResult(_replicas(color), False, str(own.problem)),)), ""
        waiting = sum(r.waiting for r in own.replicas)
        note = f"{waiting} of {own.wanted} replicas waiting" if waiting else ""
        if note and own.problem is not None:
            note += f": {own.problem}"
        if not probes:
            return Round(results=(CheckResult(_replicas(color), False, "no replica runs"),)), note
        return self.health.round(probes=probes, timeout=self.policy.timeout), note


def _about_replicas(result: CheckResult) -> bool:
    """Not a check that ran, but what the target says of the color's replicas."""
    return result.check.endswith(" replicas")


def _said(result: CheckResult) -> str:
    """A failed check for people: what was checked and what it answered."""
    return f"{result.check}: {result.answer}" if _about_replicas(result) else f"{result.check} answered {result.answer}"


def _human(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"
