"""A canary deploy through the engine, on the fake target: its steps, their record, a person's
promote and abort, failures and kills at every step, each ending with the traffic on the old version."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import timedelta

import pytest

from arxdeploy.announce import Announcer
from arxdeploy.domain.events import Deployment, Event, entered, fold, step_ended
from arxdeploy.domain.plan import CanaryPlan, CanaryStep
from arxdeploy.domain.roles import Role
from arxdeploy.domain.states import Color, State
from arxdeploy.engine.pause import Action, Answer, Answers, paused, pauses
from arxdeploy.engine.pause import answered as pause_answered
from arxdeploy.errors import ConflictError, RefusedError, UsageError
from arxdeploy.notify import Notifier
from arxdeploy.ports import Hook
from arxdeploy.testing.store import MemoryStore
from tests.drive import deploy
from tests.engine.conftest import PLAN, Killed, World
from tests.engine.conftest import world as world  # noqa: PLC0414 - the fixture, shared
from tests.engine.test_announce import ALL, Inbox

BLUE, GREEN = Color.BLUE, Color.GREEN
STEPS = (
    CanaryStep(weight=10),
    CanaryStep(pause=timedelta(minutes=1)),
    CanaryStep(analysis=("error_rate",)),
    CanaryStep(weight=50),
    CanaryStep(until_approved=True),
    CanaryStep(weight=100),
)
CANARY = dataclasses.replace(PLAN, canary=CanaryPlan(steps=STEPS))


def live_v1(world: World) -> None:
    _, view = deploy(world.engine(), plan=PLAN, version="v1")
    assert view.state is State.SUCCEEDED


def answer_when_paused(
    world: World, action: Action, who: str = "rui@example.com", reason: str = "", hooks: Sequence[Hook] = ()
) -> None:
    """A person answers as soon as the deployment pauses (a hook on the record, as another process would)."""
    answers = Answers(store=world.store, clock=world.clock, hooks=hooks)

    def hook(d: Deployment, event: Event) -> None:
        if event.type == "paused":
            answers.answer(deployment_id=d.id, action=action, who=who, via="server", reason=reason)

    world.hooks.append(hook)


def canary_steps(world: World, d: Deployment) -> list[tuple[int, str, str, int]]:
    return [
        (e.data["index"], e.data["kind"], e.data["phase"], e.data["weight"])
        for e in world.store.events(deployment_id=d.id)
        if e.type == "canary_step"
    ]


def test_a_canary_takes_its_steps_in_order_records_each_and_ends_with_all_the_traffic(world: World) -> None:
    live_v1(world)
    answer_when_paused(world, Action.PROMOTE)
    world.target.calls.clear()
    d, view = deploy(world.engine(), plan=CANARY, version="v2")
    assert view.state is State.SUCCEEDED
    states = [s.step for s in view.steps]
    assert states[states.index("verify") :] == ["verify", "canary", "switch", "monitor", "finalize"]
    weights = [c for c in world.target.calls if c.startswith("set_weight")]
    assert weights == ["set_weight staging green 10", "set_weight staging green 50"]  # then promoted: skipped
    recorded = canary_steps(world, d)
    assert recorded[:2] == [(1, "weight", "started", 0), (1, "weight", "ended", 10)]
    assert recorded[-2:] == [(5, "pause", "started", 50), (5, "pause", "ended", 50)]
    assert [i for i, _, phase, _ in recorded if phase == "ended"] == [1, 2, 3, 4, 5]
    canary = next(s for s in view.steps if s.step == "canary")
    assert "promoted by rui@example.com (via server)" in canary.detail and "step 6 skipped" in canary.detail
    assert world.target.inspect(environment="staging").live_color is GREEN
    assert fold(world.store.events(deployment_id=d.id)).canary_weight == 50


def test_the_timed_pause_watches_the_new_color_and_a_failure_sends_the_traffic_back(world: World) -> None:
    live_v1(world)
    _, view = deploy(world.engine(), plan=CANARY, version="fails-after-20s")
    assert view.state is State.ROLLED_BACK
    assert view.failure is not None and view.failure.step == "canary"
    assert "failed 3 rounds in a row" in view.failure.reason
    state = world.target.inspect(environment="staging")
    assert (state.live_color, set(state.colors), state.weights) == (BLUE, {BLUE}, {BLUE: 100})
    rollback = next(s for s in view.steps if s.step == "rollback")
    assert "green's 10% back to blue" in rollback.detail


def test_an_abort_while_paused_rolls_back_now_naming_who_and_why(world: World) -> None:
    live_v1(world)
    answer_when_paused(world, Action.ABORT, reason="p99 doubled on the dashboard")
    _, view = deploy(world.engine(), plan=CANARY, version="v2")
    assert view.state is State.ROLLED_BACK
    assert view.failure is not None and view.failure.check == "abort"
    assert view.failure.reason == "aborted by rui@example.com (via server): p99 doubled on the dashboard"
    state = world.target.inspect(environment="staging")
    assert (state.live_color, set(state.colors), state.weights) == (BLUE, {BLUE}, {BLUE: 100})


def test_a_promote_during_a_timed_pause_skips_the_rest(world: World) -> None:
    live_v1(world)
    answers = Answers(store=world.store, clock=world.clock)

    def hook(d: Deployment, event: Event) -> None:
        if event.type == "canary_step" and event.data["index"] == 2 and event.data["phase"] == "started":
            answers.answer(deployment_id=d.id, action=Action.PROMOTE, who="rui@example.com", via="cli")

    world.hooks.append(hook)
    d, view = deploy(world.engine(), plan=CANARY, version="v2")
    assert view.state is State.SUCCEEDED
    assert [c for c in world.target.calls if c.startswith("set_weight")][-1] == "set_weight staging green 10"
    assert canary_steps(world, d)[-1] == (2, "pause", "ended", 10)


def test_a_promote_given_before_the_canary_to_a_pause_while_verifying_is_not_the_canarys(world: World) -> None:
    live_v1(world)

    def inconclusive_analysis_promoted(d: Deployment, event: Event) -> None:
        # What an analysis that paused while verifying leaves in the record once a person promoted it.
        if event.type == "state" and event.data["state"] == "verifying":
            world.store.append(deployment_id=d.id, events=[paused("inconclusive: 3 samples", event.at)])
            answered = Answer(Action.PROMOTE, "rui@example.com", "server", "", event.at)
            world.store.append(deployment_id=d.id, events=[pause_answered(answered)])

    world.hooks.append(inconclusive_analysis_promoted)
    d, view = deploy(world.engine(), plan=UNATTENDED, version="v2")
    assert view.state is State.SUCCEEDED
    assert [i for i, _, phase, _ in canary_steps(world, d) if phase == "ended"] == [1, 2, 3, 4, 5, 6]


def test_a_first_deployment_has_no_traffic_to_share(world: World) -> None:
    _, view = deploy(world.engine(), plan=CANARY, version="v1")
    assert view.state is State.SUCCEEDED
    assert not [c for c in world.target.calls if c.startswith("set_weight")]
    assert "nothing was live" in next(s for s in view.steps if s.step == "canary").detail


# Every kind of step, none waiting for a person (a kill while paused has its own test).
UNATTENDED = dataclasses.replace(
    PLAN,
    canary=CanaryPlan(
        steps=(
            CanaryStep(weight=10),
            CanaryStep(pause=timedelta(minutes=1)),
            CanaryStep(analysis=("error_rate",)),
            CanaryStep(weight=50),
            CanaryStep(pause=timedelta(seconds=30)),
            CanaryStep(weight=100),
        )
    ),
)
KILL_POINTS = [(index, phase) for index in range(1, 7) for phase in ("started", "ended")]
# The new color's share when the kill comes: what the weight steps before it had set.
SHARE_AT = {(1, "started"): 0, **dict.fromkeys(KILL_POINTS[1:7], 10), **dict.fromkeys(KILL_POINTS[7:11], 50)}
SHARE_AT[6, "ended"] = 100


@pytest.mark.parametrize(("index", "phase"), KILL_POINTS)
def test_a_kill_at_every_canary_step_is_recovered_with_all_traffic_on_the_old_version(
    world: World, index: int, phase: str
) -> None:
    live_v1(world)

    def kill(d: Deployment, event: Event) -> None:
        if event.type == "canary_step" and (event.data["index"], event.data["phase"]) == (index, phase):
            world.alive.discard(200)
            raise Killed(f"step {index} {phase}")

    world.hooks.append(kill)
    with pytest.raises(Killed):
        deploy(world.engine(pid=200), plan=UNATTENDED, version="v2")
    world.hooks.remove(kill)
    killed = world.store.unfinished(service="demo-api", environment="staging")[0].deployment
    assert fold(world.store.events(deployment_id=killed.id)).state is State.PROGRESSING
    assert world.target.inspect(environment="staging").weights.get(GREEN, 0) == SHARE_AT[index, phase]

    assert world.engine(pid=300).recover(plan=UNATTENDED) == [killed.id]
    view = fold(world.store.events(deployment_id=killed.id))
    assert view.state is State.ROLLED_BACK
    assert view.failure is not None and view.failure.reason.startswith("interrupted")
    state = world.target.inspect(environment="staging")
    assert (state.live_color, state.live_version, set(state.colors), state.weights) == (
        BLUE,
        "v1",
        {BLUE},
        {BLUE: 100},
    )


# --- who may answer -------------------------------------------------------------------------


def progressing(world: World) -> Deployment:
    """A canary stopped (killed) in its pause for a person: the record says it progresses and waits."""
    live_v1(world)

    def kill(d: Deployment, event: Event) -> None:
        if event.type == "paused":
            world.alive.discard(200)
            raise Killed("paused")

    world.hooks.append(kill)
    with pytest.raises(Killed):
        deploy(world.engine(pid=200), plan=CANARY, version="v2")
    world.hooks.remove(kill)
    return world.store.unfinished(service="demo-api", environment="staging")[0].deployment


@pytest.mark.parametrize(
    ("how", "why"),
    [
        ({"via": "ci"}, "only declared"),
        ({"via": "server", "role": Role.VIEWER}, "viewer token"),
        ({"via": "cli", "approvers": ("lea@example.com",)}, "not an approver"),
        ({"via": "cli", "server_only": True}, "through the arxdeploy server"),
    ],
)
def test_a_refused_answer_is_recorded_and_changes_nothing(world: World, how: dict[str, object], why: str) -> None:
    d = progressing(world)
    answers = Answers(store=world.store, clock=world.clock)
    with pytest.raises(RefusedError, match=why):
        answers.answer(deployment_id=d.id, action=Action.PROMOTE, who="rui@example.com", **how)  # type: ignore[arg-type]
    log = world.store.events(deployment_id=d.id)
    assert log[-1].type == "pause_refused" and log[-1].data["who"] == "rui@example.com"
    assert pauses(log).promoted is None and pauses(log).open is not None


def test_a_kill_while_paused_for_a_person_is_recovered_with_all_traffic_on_the_old_version(world: World) -> None:
    d = progressing(world)
    assert fold(world.store.events(deployment_id=d.id)).paused == "canary step 5/6 at 50%"
    assert world.target.inspect(environment="staging").weights == {BLUE: 50, GREEN: 50}
    assert world.engine(pid=300).recover(plan=CANARY) == [d.id]
    view = fold(world.store.events(deployment_id=d.id))
    assert (view.state, view.paused) == (State.ROLLED_BACK, None)
    state = world.target.inspect(environment="staging")
    assert (state.live_color, set(state.colors), state.weights) == (BLUE, {BLUE}, {BLUE: 100})


def test_an_abort_needs_a_reason_and_nothing_answers_a_finished_deployment(world: World) -> None:
    d = progressing(world)
    answers = Answers(store=world.store, clock=world.clock)
    with pytest.raises(UsageError, match="reason"):
        answers.answer(deployment_id=d.id, action=Action.ABORT, who="rui@example.com", via="cli")
    answers.answer(deployment_id=d.id, action=Action.ABORT, who="rui@example.com", via="cli", reason="bad")
    with pytest.raises(ConflictError, match="already aborted"):
        answers.answer(deployment_id=d.id, action=Action.PROMOTE, who="rui@example.com", via="cli")
    world.engine(pid=300).recover(plan=CANARY)
    with pytest.raises(ConflictError, match="nothing to promote"):
        answers.answer(deployment_id=d.id, action=Action.PROMOTE, who="rui@example.com", via="cli")


def test_notifications_say_where_the_canary_is_who_promoted_and_who_aborted(world: World) -> None:
    live_v1(world)
    inbox = Inbox()
    notifier = Notifier([inbox])
    world.hooks.append(Announcer(notifier, ALL, world.store))
    # The answer comes through another process (the server), with a hook of its own.
    answer_when_paused(world, Action.ABORT, reason="p99 doubled", hooks=[Announcer(notifier, ALL, world.store)])
    deploy(world.engine(), plan=CANARY, version="v2")
    notifier.close(timeout=5)
    told = [(n.kind, n.detail) for n in inbox.notices]
    assert told == [
        ("deployment_started", ""),
        ("canary_weight", "10% of new requests (step 1/6)"),
        ("canary_weight", "50% of new requests (step 4/6)"),
        ("canary_paused", "canary step 5/6 at 50%: waiting for `arxdeploy promote` or `arxdeploy abort`"),
        ("canary_aborted", "aborted by rui@example.com (via server): p99 doubled"),
        ("deployment_rolled_back", "aborted by rui@example.com (via server): p99 doubled"),
    ]


def test_an_answer_recorded_after_the_canary_moved_on_does_not_count(world: World) -> None:
    d = progressing(world)

    class MovesOn(MemoryStore):
        """The deploying process ends the canary between the check and the record of the answer."""

        def append(self, *, deployment_id: str, events: Sequence[Event]) -> None:
            if events[0].type == "aborted":
                at = events[0].at
                moved = [step_ended("canary", "ok", at, at, detail="promoted"), entered(State.SWITCHING, at)]
                super().append(deployment_id=deployment_id, events=moved)
            super().append(deployment_id=deployment_id, events=events)

    racing = MovesOn()
    racing.__dict__.update(world.store.__dict__)
    answers = Answers(store=racing, clock=world.clock)
    with pytest.raises(ConflictError, match=r"moved on \(to switching\) before this abort was recorded"):
        answers.answer(deployment_id=d.id, action=Action.ABORT, who="rui@example.com", via="cli", reason="late")
    assert racing.events(deployment_id=d.id)[-1].type == "aborted"  # the attempt stays in the record
