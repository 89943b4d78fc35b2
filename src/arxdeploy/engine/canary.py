"""A canary's steps (the ``progressing`` state): the new color takes a growing share of the
traffic, with pauses and analyses between, before the switch gives it all.

The step records where it is (``canary_step`` events: each step's start and end, with the new
color's weight), so ``show``, ``--json`` and notifications say so. It is never resumed half-way:
a failure, an ``abort`` or a kill -9 sends the traffic back through ``rolling_back``, as after a
blue-green switch. ``promote`` skips what is left: the switch follows at once.
"""

from __future__ import annotations

from datetime import timedelta

from arxdeploy.domain import events
from arxdeploy.domain.plan import CanaryStep
from arxdeploy.domain.states import Color
from arxdeploy.engine import analysis
from arxdeploy.engine.context import StepContext
from arxdeploy.engine.pause import Action, Answer, pauses, wait_for_person
from arxdeploy.engine.watch import Watcher
from arxdeploy.errors import StepFailed
from arxdeploy.ports import EnvironmentState


class _Promoted(Exception):
    """Someone promoted while a timed pause ran: the canary's remaining steps are skipped."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(answer.line())
        self.answer = answer


def progress(ctx: StepContext) -> str:
    """Run the canary's steps in order; returns what was done, or raises ``StepFailed``."""
    d = ctx.deployment
    plan = ctx.plan.canary
    if plan is None:
        raise StepFailed(
            "this deployment is a canary and the config has no canary steps any more "
            "(deployment_strategy.type changed since it was requested); request it again"
        )
    if d.old_color is None:
        return f"nothing was live: no traffic to share; the switch sends all of it to {d.new_color.value}"
    weight, total = 0, len(plan.steps)
    # Answers from before this step (to a pause of an analysis while verifying) are not the canary's.
    before = len(pauses(ctx.recorded()).answers)
    for index, step in enumerate(plan.steps, 1):
        answers = pauses(ctx.recorded())
        if answers.aborted is not None:
            raise StepFailed(answers.aborted.line(), check="abort")
        earlier = next((a for a in answers.answers[before:] if a.action is Action.PROMOTE), None)
        if earlier is not None:
            return _promoted(index, total, earlier, weight)
        ctx.record(events.canary_step(index, step.kind, "started", weight, ctx.clock.now(), of=total))
        ctx.progress(f"canary step {index}/{total}: {step.describe()}")
        try:
            weight, detail = _run(ctx, step, index, total, weight)
        except _Promoted as during:
            ctx.record(events.canary_step(index, step.kind, "ended", weight, ctx.clock.now(), of=total))
            return _promoted(index + 1, total, during.answer, weight)
        ctx.record(events.canary_step(index, step.kind, "ended", weight, ctx.clock.now(), of=total, detail=detail))
    aborted = pauses(ctx.recorded()).aborted  # one that came during the last step still counts
    if aborted is not None:
        raise StepFailed(aborted.line(), check="abort")
    return f"{total} canary steps done; {d.new_color.value} ({d.version}) took {weight}% of new requests"


def _promoted(index: int, total: int, answer: Answer, weight: int) -> str:
    if index > total:
        skipped = "no step left"
    else:
        skipped = f"step {total} skipped" if index == total else f"steps {index} to {total} skipped"
    return f"{answer.line()} at {weight}%: {skipped}; the switch gives it all the traffic"


def _run(ctx: StepContext, step: CanaryStep, index: int, total: int, weight: int) -> tuple[int, str]:
    d = ctx.deployment
    assert d.old_color is not None  # progress() returned otherwise
    if step.weight is not None:
        ctx.target.set_weight(environment=d.environment, color=d.new_color, weight=step.weight)
        return step.weight, f"{d.new_color.value} ({d.version}) takes {step.weight}% of new requests"
    if step.analysis is not None:
        detail = analysis.run(
            ctx, phase="canary", metrics=list(step.analysis) or None, candidate=d.new_color, baseline=d.old_color
        )
        return weight, detail
    if step.until_approved:
        return weight, wait_for_person(ctx, reason=f"canary step {index}/{total} at {weight}%")
    assert step.pause is not None
    return weight, _pause(ctx, step.pause, weight)


def _pause(ctx: StepContext, duration: timedelta, weight: int) -> str:
    """Wait ``duration`` while the new color serves its share: its checks run every interval (it
    fails as monitoring does), and a promote or an abort is taken between two rounds."""
    d = ctx.deployment
    seen = len(pauses(ctx.recorded()).answers)

    def checkpoint() -> None:
        if ctx.lease is not None:
            ctx.lease.check(undoing=ctx.undoing)
        new = pauses(ctx.recorded()).answers[seen:]
        if new and new[0].action is Action.ABORT:
            raise StepFailed(new[0].line(), check="abort")
        if new:
            raise _Promoted(new[0])

    watcher = Watcher(ctx.target, ctx.health, ctx.clock, ctx.plan.checks, d.environment, checkpoint=checkpoint)
    rounds = watcher.watch(d.new_color, duration=duration, progress=ctx.progress, what=f"canary at {weight}%")
    return f"{d.new_color.value} healthy at {weight}% for {duration.total_seconds():g}s ({rounds} rounds)"


def end_split(ctx: StepContext, state: EnvironmentState) -> str:
    """Before a rollback: the new color's share of the traffic back to the live (old) color, so
    every new request goes to the old version at once, whatever the rest of the rollback does."""
    d = ctx.deployment
    share = state.weights.get(d.new_color, 0)
    if state.live_color is d.new_color or state.live_color is None or not share or d.new_color not in state.colors:
        return ""
    ctx.target.set_weight(environment=d.environment, color=d.new_color, weight=0)
    live: Color = state.live_color
    return f"; {d.new_color.value}'s {share}% back to {live.value}"
