"""The engine against fakes: every path ends where the architecture says, and says why."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arxdeploy.domain.events import Event, fold
from arxdeploy.domain.states import Color, Kind, State
from arxdeploy.errors import LockedError, TargetError, UsageError
from arxdeploy.testing.backups import MemoryBackups
from arxdeploy.testing.clock import ManualClock
from arxdeploy.testing.store import MemoryStore
from arxdeploy.testing.target import FakeHealth, FakeTarget
from tests.drive import deploy, ran, reconcile, rollback, stop

from .conftest import PLAN, Killed, World

FLOW = ["validate", "backup", "deploy", "verify", "switch", "monitor", "finalize"]


def steps(view: object) -> list[str]:
    return [s.step for s in view.steps]  # type: ignore[attr-defined]


def live(world: World) -> tuple[Color | None, str | None]:
    state = world.target.inspect(environment="staging")
    return state.live_color, state.live_version


def test_first_deploy_goes_live_on_blue(world: World) -> None:
    d, view = deploy(world.engine(), plan=PLAN, version="v1", reason="first")
    assert view.state is State.SUCCEEDED
    assert steps(view) == FLOW
    assert (d.new_color, d.old_color, d.previous_version) == (Color.BLUE, None, None)
    assert live(world) == (Color.BLUE, "v1")
    record = world.store.live(service="demo-api", environment="staging")
    assert record is not None and (record.color, record.version) == (Color.BLUE, "v1")


def test_second_deploy_switches_color_and_retires_the_old_one(world: World) -> None:
    engine = world.engine()
    deploy(engine, plan=PLAN, version="v1")
    start = world.clock.now()
    d, view = deploy(engine, plan=PLAN, version="v2")
    assert view.state is State.SUCCEEDED
    assert (d.new_color, d.old_color, d.previous_version) == (Color.GREEN, Color.BLUE, "v1")
    assert live(world) == (Color.GREEN, "v2")
    assert set(world.target.colors["staging"]) == {Color.GREEN}
    # The configured waits were all honoured: switch delay, monitoring window, scale-down delay.
    assert world.clock.now() - start >= PLAN.traffic_switch_delay + PLAN.monitoring_duration + PLAN.scale_down_delay


def test_crash_looping_version_fails_fast_and_leaves_the_live_one(world: World) -> None:
    engine = world.engine()
    deploy(engine, plan=PLAN, version="v1")
    start = world.clock.now()
    _, view = deploy(engine, plan=PLAN, version="v2-crash")
    assert view.state is State.FAILED
    assert steps(view) == ["validate", "backup", "deploy", "verify", "cleanup"]
    assert view.failure is not None
    assert view.failure.reason == "green (v2-crash) cannot run: CrashLoop: replica 1 exited with status 1"
    assert world.clock.now() - start < PLAN.checks.progress_deadline  # fast, not at the deadline
    assert live(world) == (Color.BLUE, "v1")
    assert set(world.target.colors["staging"]) == {Color.BLUE}


def test_a_version_waiting_for_a_node_is_waited_for_with_the_reason_shown_then_goes_live(world: World) -> None:
    engine = world.engine()
    deploy(engine, plan=PLAN, version="v1")
    start = world.clock.now()
    _, view = deploy(engine, plan=PLAN, version="v2-pending-90s")  # a node comes after 90 s
    assert view.state is State.SUCCEEDED, view.failure
    assert live(world) == (Color.GREEN, "v2-pending-90s")
    said = [str(e.data["message"]) for e in world.seen if e.type == "progress"]
    assert (
        "waiting for green: 0/2 good rounds; green replicas: 0 of 2 replicas running; Unschedulable: 0/1"
        in "\n".join(said)
    )
    verify = next(s for s in view.steps if s.step == "verify")
    assert verify.seconds >= 90 and world.clock.now() - start < PLAN.checks.progress_deadline + PLAN.monitoring_duration


def test_a_version_still_waiting_at_the_progress_deadline_fails_naming_what_it_waited_for(world: World) -> None:
    engine = world.engine()
    deploy(engine, plan=PLAN, version="v1")
    start = world.clock.now()
    _, view = deploy(engine, plan=PLAN, version="v2-pending")
    assert view.state is State.FAILED
    assert view.failure is not None and view.failure.step == "verify"
    assert view.failure.reason == (
        "green did not pass its checks within 5m: green replicas: 0 of 2 replicas running; "
        "Unschedulable: 0/1 nodes are available: 1 Insufficient cpu"
    )
    assert world.clock.now() - start >= PLAN.checks.progress_deadline
    assert live(world) == (Color.BLUE, "v1")


def test_replicas_of_the_live_color_waiting_for_a_node_are_not_a_failed_round(world: World) -> None:
    def scale_up(_d: object, event: Event) -> None:
        if event.type == "state" and event.data["state"] == "monitoring":  # load: the autoscaler adds 2
            world.target.scale(environment="staging", color=Color.GREEN, replicas=4, unplaced=True)

    world.hooks.append(scale_up)
    engine = world.engine()
    deploy(engine, plan=PLAN, version="v1")
    _, view = deploy(engine, plan=PLAN, version="v2")
    assert view.state is State.SUCCEEDED, view.failure
    said = [str(e.data["message"]) for e in world.seen if e.type == "progress"]
    assert any(m.startswith("monitoring: healthy (2 of 4 replicas waiting: Unschedulable: 0/1") for m in said), said
    assert not any("failed rounds" in m for m in said)


def test_a_color_is_ready_only_once_all_of_its_replicas_can_pass(world: World) -> None:
    def scale_up(_d: object, event: Event) -> None:
        if event.type == "step" and event.data["step"] == "deploy":  # scaled before its checks: 3 wait
            world.target.scale(environment="staging", color=Color.GREEN, replicas=5, unplaced=True)
        if (
            event.type == "progress"
            and "0 of 5" not in str(event.data["message"])
            and "2 of 5" in str(event.data["message"])
        ):
            world.target.place(environment="staging", color=Color.GREEN)

    world.hooks.append(scale_up)
    engine = world.engine()
    deploy(engine, plan=PLAN, version="v1")
    _, view = deploy(engine, plan=PLAN, version="v2")
    assert view.state is State.SUCCEEDED, view.failure
    said = [str(e.data["message"]) for e in world.seen if e.type == "progress"]
    assert "waiting for green: 0/2 good rounds; green replicas: 2 of 5 replicas running; Unschedulable: 0/1" in (
        "\n".join(said)
    )
    verify = next(s for s in view.steps if s.step == "verify")
    assert verify.detail.startswith("green (5 replicas) passed every check 2 times in a row")


def test_never_healthy_version_fails_at_the_progress_deadline(world: World) -> None:
    engine = world.engine()
    deploy(engine, plan=PLAN, version="v1")
    start = world.clock.now()
    _, view = deploy(engine, plan=PLAN, version="v2-unhealthy")
    assert view.state is State.FAILED
    assert view.failure is not None and view.failure.step == "verify"
    assert view.failure.answer == "HTTP 500: unhealthy"
    assert world.clock.now() - start >= PLAN.checks.progress_deadline
    assert live(world) == (Color.BLUE, "v1")
    assert "switch staging green" not in world.target.calls


def test_failure_after_the_switch_rolls_back_to_the_warm_color(world: World) -> None:
    engine = world.engine()
    deploy(engine, plan=PLAN, version="v1")
    _, view = deploy(engine, plan=PLAN, version="v2-fails-after-60s")
    assert view.state is State.ROLLED_BACK
    assert steps(view) == ["validate", "backup", "deploy", "verify", "switch", "monitor", "rollback"]
    assert view.failure is not None and view.failure.step == "monitor"
    assert "failed 3 rounds in a row" in view.failure.reason
    assert view.failure.check is not None and view.failure.answer == "HTTP 500: unhealthy"
    assert live(world) == (Color.BLUE, "v1")
    assert set(world.target.colors["staging"]) == {Color.BLUE}
    # Warm: blue was never restarted, only switched back to.
    assert [c for c in world.target.calls if c.startswith("start_color staging blue")] == [
        "start_color staging blue v1"
    ]
    assert "warm" in view.steps[-1].detail


def test_first_deploy_failing_after_switch_leaves_nothing_live_and_nothing_set_up(world: World) -> None:
    _d, view = deploy(world.engine(), plan=PLAN, version="v1-fails-after-60s")
    assert view.state is State.ROLLED_BACK
    assert live(world) == (None, None)
    assert "staging" not in world.target.colors and "staging" not in world.target.set_up
    assert "remove_created staging" in world.target.calls
    assert view.steps[-1].detail.endswith("; also removed what it set up: the environment staging")


def test_a_failed_first_deploy_removes_what_it_set_up_and_a_later_one_keeps_what_was_there(world: World) -> None:
    engine = world.engine()
    _, view = deploy(engine, plan=PLAN, version="v1-crash")
    assert (view.state, steps(view)[-1]) == (State.FAILED, "cleanup")
    assert "staging" not in world.target.set_up
    assert view.steps[-1].detail == "blue (v1-crash) removed; also removed what it set up: the environment staging"
    # Set up by a deployment that went live, then stopped: a later failure leaves it as it was.
    deploy(engine, plan=PLAN, version="v1")
    stop(engine, plan=PLAN)
    _, view = deploy(engine, plan=PLAN, version="v2-crash")
    assert view.state is State.FAILED
    assert "staging" in world.target.set_up and "also removed" not in view.steps[-1].detail


def test_manual_rollback_returns_to_the_previous_good_version(world: World) -> None:
    engine = world.engine()
    deploy(engine, plan=PLAN, version="v1")
    deploy(engine, plan=PLAN, version="v2")
    d, view = rollback(engine, plan=PLAN, to_version=None)
    assert d.kind is Kind.ROLLBACK and d.version == "v1" and d.previous_version == "v2"
    assert view.state is State.SUCCEEDED
    assert "monitor" not in steps(view)
    assert live(world) == (Color.BLUE, "v1")


def test_manual_rollback_asks_the_target_for_the_backup(world: World) -> None:
    engine = world.engine()
    deploy(engine, plan=PLAN, version="v1")
    deploy(engine, plan=PLAN, version="v2")
    rollback(engine, plan=PLAN, to_version=None)
    assert world.target.calls.count("start_color staging blue v1 from-backup") == 1


def test_a_rollback_whose_old_color_is_gone_restarts_it_from_the_backup(world: World) -> None:
    engine = world.engine()
    deploy(engine, plan=PLAN, version="v1")
    # Blue disappears behind the engine's back while v2 is being watched (e.g. deleted by hand).
    switch = world.target.switch

    def switch_and_lose_blue(*, environment: str, color: Color | None) -> None:
        switch(environment=environment, color=color)
        if color is Color.GREEN:
            world.target.colors[environment].pop(Color.BLUE, None)

    world.target.switch = switch_and_lose_blue  # type: ignore[method-assign]
    _, view = deploy(engine, plan=PLAN, version="v2-fails-after-60s")
    assert view.state is State.ROLLED_BACK
    assert "start_color staging blue v1 from-backup" in world.target.calls
    assert "restarted" in view.steps[-1].detail
    assert live(world) == (Color.BLUE, "v1")


def test_target_error_during_deploy_cleans_up(world: World) -> None:
    engine = world.engine()
    deploy(engine, plan=PLAN, version="v1")
    world.target.fail_on["start_color"] = 1
    _, view = deploy(engine, plan=PLAN, version="v2")
    assert view.state is State.FAILED
    assert view.failure is not None and "injected failure in start_color" in view.failure.reason
    assert live(world) == (Color.BLUE, "v1")


def test_second_deploy_while_one_runs_is_locked(world: World) -> None:
    first = world.engine(pid=100, kill_at="monitoring")
    with pytest.raises(Killed):
        deploy(first, plan=PLAN, version="v1")
    world.alive.add(100)  # the first process is in fact still running
    with pytest.raises(LockedError) as caught:
        deploy(world.engine(pid=200), plan=PLAN, version="v2")
    assert "d0001" in caught.value.message and "ana@ci-1" in caught.value.message
    assert caught.value.exit_code == 4


@pytest.mark.parametrize(
    ("kill_at", "ends", "live_after"),
    [
        ("validating", State.FAILED, (Color.BLUE, "v1")),
        ("backing_up", State.FAILED, (Color.BLUE, "v1")),
        ("deploying", State.FAILED, (Color.BLUE, "v1")),
        ("verifying", State.FAILED, (Color.BLUE, "v1")),
        ("switching", State.ROLLED_BACK, (Color.BLUE, "v1")),
        ("monitoring", State.ROLLED_BACK, (Color.BLUE, "v1")),
        ("finalizing", State.ROLLED_BACK, (Color.BLUE, "v1")),
        ("rolling_back", State.ROLLED_BACK, (Color.BLUE, "v1")),
        ("cleaning_up", State.FAILED, (Color.BLUE, "v1")),
    ],
)
def test_killed_deploy_is_recovered_by_the_next_command(
    world: World, kill_at: str, ends: State, live_after: tuple[Color, str]
) -> None:
    deploy(world.engine(pid=100), plan=PLAN, version="v1")
    version = "v2-fails-after-60s" if kill_at == "rolling_back" else "v2-crash" if kill_at == "cleaning_up" else "v2"
    with pytest.raises(Killed):
        deploy(world.engine(pid=101, kill_at=kill_at), plan=PLAN, version=version)
    survivor = world.engine(pid=102)
    recovered = survivor.recover(plan=PLAN)
    assert recovered == ["d0002"]
    view = fold(world.store.events(deployment_id="d0002"))
    assert view.state is ends
    assert any("interrupted" in s.detail for s in view.steps)
    assert live(world) == live_after
    assert set(world.target.colors["staging"]) == {Color.BLUE}
    # ...and then the next deployment proceeds.
    _, after = deploy(survivor, plan=PLAN, version="v3")
    assert after.state is State.SUCCEEDED


def test_reconcile_brings_back_the_recorded_live_version_as_a_recorded_deployment(world: World) -> None:
    engine = world.engine()
    deploy(engine, plan=PLAN, version="v1")
    deploy(engine, plan=PLAN, version="v2")
    world.target.colors.clear()
    world.target.live.clear()  # the runtime died and took everything with it

    d, view = ran(reconcile(engine, plan=PLAN))

    assert (d.kind, d.version, d.new_color, view.state) == (Kind.RECONCILE, "v2", Color.GREEN, State.SUCCEEDED)
    assert [s.step for s in view.steps] == ["validate", "backup", "deploy", "verify", "switch", "finalize"]
    assert live(world) == (Color.GREEN, "v2")
    assert world.store.live(service="demo-api", environment="staging").deployment_id == d.id  # type: ignore[union-attr]
    again = reconcile(engine, plan=PLAN)  # the target matches the record now
    assert again.deployment is None and "nothing to reconcile" in again.notes[-1]
    assert [h.deployment.kind for h in world.store.history(service="demo-api")] == [
        Kind.RECONCILE,
        Kind.DEPLOY,
        Kind.DEPLOY,
    ]


def test_reconcile_replaces_a_version_changed_by_hand_with_the_recorded_one(world: World) -> None:
    engine = world.engine()
    deploy(engine, plan=PLAN, version="v1")
    world.target.colors["staging"][Color.BLUE].version = "v0-by-hand"  # someone edited the live color

    d, view = ran(reconcile(engine, plan=PLAN))

    assert (d.previous_version, d.version, view.state) == ("v0-by-hand", "v1", State.SUCCEEDED)
    assert live(world) == (Color.GREEN, "v1")
    assert set(world.target.colors["staging"]) == {Color.GREEN}  # the drifted color retired


def test_reconcile_with_nothing_recorded_is_refused(world: World) -> None:
    world.target.start_color(environment="staging", color=Color.BLUE, version="v9", replicas=1)
    world.target.switch(environment="staging", color=Color.BLUE)
    with pytest.raises(UsageError) as caught:
        reconcile(world.engine(), plan=PLAN)
    assert "the record has nothing live in staging, but the target runs v9 on blue" in caught.value.message
    assert world.store.history(service="demo-api") == []


def test_a_deploy_that_finds_nothing_live_reconciles_first_as_a_step(world: World) -> None:
    engine = world.engine()
    deploy(engine, plan=PLAN, version="v1")
    world.target.colors.clear()
    world.target.live.clear()

    d, view = deploy(engine, plan=PLAN, version="v2-fails-after-60s")

    assert (d.previous_version, d.old_color, d.new_color) == ("v1", Color.BLUE, Color.GREEN)
    assert d.route.reconcile_first
    assert [s.step for s in view.steps][:2] == ["validate", "reconcile"]
    assert "v1 is back on blue" in view.steps[1].detail
    # The new version failed after its switch: the reconciled one was warm to return to.
    assert view.state is State.ROLLED_BACK
    assert live(world) == (Color.BLUE, "v1")


def test_a_deploy_over_a_drifted_target_goes_on_from_what_runs_and_says_so(world: World) -> None:
    engine = world.engine()
    deploy(engine, plan=PLAN, version="v1")
    world.target.colors["staging"][Color.BLUE].version = "v0-by-hand"

    d, view = deploy(engine, plan=PLAN, version="v2")

    assert (d.previous_version, view.state) == ("v0-by-hand", State.SUCCEEDED)
    assert view.warnings == [
        "the record says v1 on blue is live in staging, but the target runs v0-by-hand on blue; going on from what runs"
    ]


def test_stop_is_a_recorded_deployment_through_the_state_machine(world: World) -> None:
    engine = world.engine()
    deploy(engine, plan=PLAN, version="v1")
    deploy(engine, plan=PLAN, version="v2")

    d, view = ran(stop(engine, plan=PLAN))

    assert (d.kind, view.state, d.previous_version) == (Kind.STOP, State.SUCCEEDED, "v2")
    assert [s.step for s in view.steps] == ["validate", "backup", "stop"]
    assert live(world) == (None, None) and world.target.colors["staging"] == {}
    assert world.store.live(service="demo-api", environment="staging").version is None  # type: ignore[union-attr]


def test_stop_of_an_environment_that_runs_nothing_records_and_changes_nothing(world: World) -> None:
    done = stop(world.engine(), plan=PLAN)
    assert done.deployment is None and done.notes == ("nothing runs in staging: nothing to stop",)
    assert world.store.history(service="demo-api") == []
    assert world.target.calls == ["inspect staging"]


def test_a_killed_stop_is_finished_by_the_next_command(world: World) -> None:
    deploy(world.engine(pid=100), plan=PLAN, version="v1")
    with pytest.raises(Killed):
        stop(world.engine(pid=101, kill_at="stopping"), plan=PLAN)
    assert world.engine(pid=102).recover(plan=PLAN) == ["d0002"]
    assert fold(world.store.events(deployment_id="d0002")).state is State.SUCCEEDED
    assert live(world) == (None, None)


def test_a_deployment_killed_right_after_its_request_ends_failed_and_runs_nothing(world: World) -> None:
    deploy(world.engine(pid=100), plan=PLAN, version="v1")
    with pytest.raises(Killed):
        deploy(world.engine(pid=101, kill_at="requested"), plan=PLAN, version="v2")
    calls = len(world.target.calls)
    assert world.engine(pid=102).recover(plan=PLAN) == ["d0002"]
    assert fold(world.store.events(deployment_id="d0002")).state is State.FAILED
    assert world.target.calls[calls:] == []  # recovery did not run the deployment
    assert live(world) == (Color.BLUE, "v1")


TARGET_CALLS = ["inspect", "export", "start_color", "switch", "stop_color"]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    version=st.sampled_from(["v2", "v2-crash", "v2-unhealthy", "v2-fails-after-10s", "v2-fails-after-400s"]),
    failures=st.dictionaries(st.sampled_from(TARGET_CALLS), st.integers(min_value=0, max_value=3)),
    first_ok=st.booleans(),
)
def test_any_failures_end_terminal_with_a_healthy_live_color(
    version: str, failures: dict[str, int], first_ok: bool
) -> None:
    clock = ManualClock()
    target = FakeTarget(clock=clock)
    world = World(
        clock=clock, target=target, health=FakeHealth(target), store=MemoryStore(), backups=MemoryBackups(clock)
    )
    engine = world.engine()
    if first_ok:
        deploy(engine, plan=PLAN, version="v1")
    target.fail_on.update(failures)
    try:
        _, view = deploy(engine, plan=PLAN, version=version)
    except TargetError:
        # A failing target before the deployment is recorded (inspect at request) is an error
        # to the caller, and nothing changed.
        assert not world.store.unfinished(service="demo-api", environment="staging")
        view = None
    if view is not None:
        assert view.state.terminal
    target.fail_on.clear()
    color, running = live(world)
    if color is not None:
        assert target.healthy("staging", color), (version, failures, color, running)
    if first_ok and view is not None and view.state is not State.FAILED:
        assert color is not None  # a rollback always leaves something live when something was


def test_rollback_after_a_stop_skips_the_stop_record(world: World) -> None:
    engine = world.engine()
    deploy(engine, plan=PLAN, version="v1")
    deploy(engine, plan=PLAN, version="v2")
    _, stopped = ran(stop(engine, plan=PLAN))
    assert stopped.state is State.SUCCEEDED and live(world) == (None, None)
    assert reconcile(engine, plan=PLAN).deployment is None  # a stop is not undone by a reconcile
    assert live(world) == (None, None)
    d, view = rollback(engine, plan=PLAN, to_version=None)
    assert (d.version, view.state) == ("v2", State.SUCCEEDED)
    assert live(world)[1] == "v2"
