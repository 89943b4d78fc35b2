"""Faults at the seams: a target that fails for a moment, a lease that is lost."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from arxdeploy.domain.events import Deployment, Event, fold
from arxdeploy.domain.states import Color, State
from arxdeploy.errors import LeaseLostError, StoreError, ThrottledError, TransientTargetError
from arxdeploy.ports import LockHolder
from arxdeploy.testing.store import MemoryStore
from arxdeploy.testing.target import FakeTarget
from tests.drive import deploy

from .conftest import PLAN, World

CHANGES = ("export", "start_color", "switch", "stop_color")


@dataclasses.dataclass
class Flaky:
    """A FakeTarget whose next calls of some methods fail as a struggling API server's would."""

    inner: FakeTarget
    failures: dict[str, int] = dataclasses.field(default_factory=dict)  # method -> calls that fail
    error: Callable[[str], TransientTargetError] = lambda method: TransientTargetError(f"{method}: 503 unavailable")

    def __getattr__(self, method: str) -> Any:
        call = getattr(self.inner, method)

        def flaky(**kwargs: Any) -> Any:
            if self.failures.get(method, 0) > 0:
                self.failures[method] -= 1
                raise self.error(method)
            return call(**kwargs)

        return flaky


def progress(world: World) -> list[str]:
    return [str(e.data["message"]) for e in world.seen if e.type == "progress"]


def test_a_change_that_fails_for_a_moment_is_retried_with_backoff(world: World) -> None:
    flaky = Flaky(world.target, {"start_color": 2, "switch": 1})
    engine = dataclasses.replace(world.engine(), target=flaky)
    started = world.clock.now()

    _, view = deploy(engine, plan=PLAN, version="v1")

    assert view.state is State.SUCCEEDED and not view.failure
    retries = [m for m in progress(world) if "trying again" in m]
    assert retries == [
        "start blue: start_color: 503 unavailable; trying again in 0.5s (1/4)",
        "start blue: start_color: 503 unavailable; trying again in 1s (2/4)",
        "switch: switch: 503 unavailable; trying again in 0.5s (1/4)",
    ]
    assert world.clock.now() - started >= timedelta(seconds=2)


def test_a_throttled_api_is_waited_for_as_long_as_it_asks() -> None:
    from arxdeploy.engine.seam import backoff

    assert backoff(ThrottledError("429", retry_after=7.0), 1) == 7.0
    assert backoff(ThrottledError("429"), 3) == 4.0  # 1 s doubling: 1, 2, 4
    assert backoff(TransientTargetError("503", retry_after=600.0), 1) == 30.0  # bounded
    assert ThrottledError.retry_attempts > TransientTargetError.retry_attempts


def test_a_change_that_keeps_failing_fails_its_step_after_the_attempts_of_its_type(world: World) -> None:
    flaky = Flaky(world.target, {"start_color": 4})
    engine = dataclasses.replace(world.engine(), target=flaky)

    _, view = deploy(engine, plan=PLAN, version="v1")

    assert view.state is State.FAILED
    assert view.failure is not None and view.failure.step == "deploy"
    assert view.failure.reason == "start_color: 503 unavailable"


def test_an_api_outage_shorter_than_the_threshold_during_monitoring_is_not_a_failure(world: World) -> None:
    engine = world.engine()
    deploy(engine, plan=PLAN, version="v1")
    flaky = Flaky(world.target)
    engine = dataclasses.replace(engine, target=flaky)

    def outage(d: Deployment, event: Event) -> None:
        if event.type == "state" and event.data["state"] == "monitoring":
            # Two rounds in a row cannot read the target (each round tries 4 times): 2 < 3.
            flaky.failures["inspect"] = 2 * TransientTargetError.retry_attempts

    world.hooks.append(outage)
    engine = dataclasses.replace(engine, hooks=[*engine.hooks, outage])

    _, view = deploy(engine, plan=PLAN, version="v2")

    assert view.state is State.SUCCEEDED, view.failure
    assert flaky.failures["inspect"] == 0  # the outage happened
    assert any("monitoring: 2/3 failed rounds" in m for m in progress(world))
    assert live(world) == (Color.GREEN, "v2")


def test_an_api_outage_as_long_as_the_threshold_during_monitoring_rolls_back(world: World) -> None:
    engine = world.engine()
    deploy(engine, plan=PLAN, version="v1")
    flaky = Flaky(world.target)

    def outage(d: Deployment, event: Event) -> None:
        if event.type == "state" and event.data["state"] == "monitoring":
            flaky.failures["inspect"] = 3 * TransientTargetError.retry_attempts

    engine = dataclasses.replace(engine, target=flaky, hooks=[*engine.hooks, outage])

    _, view = deploy(engine, plan=PLAN, version="v2")

    assert view.state is State.ROLLED_BACK
    assert view.failure is not None and view.failure.step == "monitor"
    assert view.failure.reason == (
        "reading staging from the target failed 3 rounds in a row (last answer: inspect: 503 unavailable)"
    )
    assert live(world) == (Color.BLUE, "v1")


def test_an_unreadable_target_while_a_color_starts_waits_for_the_deadline_not_fails_fast(world: World) -> None:
    flaky = Flaky(world.target)

    def outage(d: Deployment, event: Event) -> None:
        if event.type == "state" and event.data["state"] == "verifying":
            flaky.failures["inspect"] = 3 * TransientTargetError.retry_attempts

    engine = dataclasses.replace(world.engine(), target=flaky, hooks=[*world.engine().hooks, outage])

    _, view = deploy(engine, plan=PLAN, version="v1")

    assert view.state is State.SUCCEEDED, view.failure


# --- the lease ------------------------------------------------------------------------------


def live(world: World) -> tuple[Color | None, str | None]:
    state = world.target.inspect(environment="staging")
    return state.live_color, state.live_version


def changes_after(world: World, mark: int) -> list[str]:
    return [c for c in world.target.calls[mark:] if c.split()[0] in CHANGES]


def test_a_lease_taken_by_another_process_stops_every_change_and_every_record(world: World) -> None:
    engine = world.engine(ttl=timedelta(seconds=30))
    deploy(engine, plan=PLAN, version="v1")
    marks: dict[str, int] = {}

    def take_over(d: Deployment, event: Event) -> None:
        if event.type == "state" and event.data["state"] == "monitoring" and d.version == "v2":
            holder = world.store.lock_holder(service="demo-api", environment="staging")
            assert holder is not None
            # Our lease lapsed (a paused VM, a lost network) and another runner took it over.
            world.store.break_lock(service="demo-api", environment="staging", holder=holder)
            thief = LockHolder(d.id, "bo@ci-2", "ci-2", 4242, world.clock.now(), world.clock.now() + timedelta(hours=1))
            world.store.acquire_lock(service="demo-api", environment="staging", holder=thief)
            marks["calls"] = len(world.target.calls)
            marks["events"] = len(world.store.events(deployment_id=d.id))

    engine = dataclasses.replace(engine, hooks=[*engine.hooks, take_over])
    with pytest.raises(LeaseLostError) as caught:
        deploy(engine, plan=PLAN, version="v2")

    assert caught.value.taken and caught.value.exit_code == 4
    assert "another process holds it now; this process changes nothing more" in caught.value.message
    assert changes_after(world, marks["calls"]) == []  # not finalize's retire, not a rollback
    events = world.store.events(deployment_id="d0002")
    assert len(events) == marks["events"]  # the new owner records what happens next
    assert world.store.lock_holder(service="demo-api", environment="staging").host == "ci-2"  # type: ignore[union-attr]


class Unrenewable(MemoryStore):
    """A store whose lease table stops answering (the database is partitioned away)."""

    broken = False

    def renew_lock(self, **kwargs: Any) -> bool:
        if self.broken:
            raise StoreError("could not renew the lock (connection refused)")
        return super().renew_lock(**kwargs)


def test_a_lease_not_renewed_before_it_expires_lets_only_the_way_back_run(world: World) -> None:
    store = Unrenewable()
    engine = world.engine(ttl=timedelta(seconds=60), store=store)
    deploy(engine, plan=PLAN, version="v1")

    def partition(d: Deployment, event: Event) -> None:
        if event.type == "state" and event.data["state"] == "monitoring" and d.version == "v2":
            store.broken = True

    engine = dataclasses.replace(engine, hooks=[*engine.hooks, partition])
    _, view = deploy(engine, plan=PLAN, version="v2")

    assert view.state is State.ROLLED_BACK
    assert view.failure is not None and view.failure.step == "monitor"
    assert view.failure.reason == (
        "the lease of demo-api/staging for deployment d0002 was lost: could not renew it before it expired "
        "(could not renew the lock (connection refused)); only the safe way back runs now"
    )
    assert live(world) == (Color.BLUE, "v1")  # the rollback ran on the expired lease
    monitor = next(s for s in view.steps if s.step == "monitor")
    assert monitor.seconds >= 60  # monitoring went on until the lease ran out, not beyond
    assert monitor.seconds < PLAN.monitoring_duration.total_seconds()


def test_a_lease_lost_before_the_switch_cleans_up_and_never_switches(world: World) -> None:
    store = Unrenewable()
    engine = world.engine(ttl=timedelta(seconds=60), store=store)
    deploy(engine, plan=PLAN, version="v1")
    marks: dict[str, int] = {}

    def partition(d: Deployment, event: Event) -> None:
        if event.type == "state" and event.data["state"] == "verifying" and d.version == "v2":
            store.broken = True
            world.clock.advance(timedelta(seconds=61))  # the store stays away longer than the lease
            marks["calls"] = len(world.target.calls)

    engine = dataclasses.replace(engine, hooks=[*engine.hooks, partition])
    _, view = deploy(engine, plan=PLAN, version="v2")

    assert view.state is State.FAILED
    assert [s.step for s in view.steps][-2:] == ["verify", "cleanup"]
    assert changes_after(world, marks["calls"]) == ["stop_color staging green"]
    assert live(world) == (Color.BLUE, "v1")
    assert fold(store.events(deployment_id="d0002")).traffic_moved is False
