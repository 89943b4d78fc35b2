from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from arxdeploy.domain.events import Deployment, Event
from arxdeploy.domain.plan import CheckPolicy, EnvironmentPlan
from arxdeploy.engine.locks import Identity, Leases
from arxdeploy.engine.run import Engine
from arxdeploy.ports import Hook, LockHolder, Store
from arxdeploy.testing.backups import MemoryBackups
from arxdeploy.testing.clock import ManualClock
from arxdeploy.testing.store import MemoryStore
from arxdeploy.testing.target import FakeHealth, FakeTarget

PLAN = EnvironmentPlan(
    service="demo-api",
    environment="staging",
    replicas=2,
    monitoring_duration=timedelta(minutes=5),
    rollback_timeout=timedelta(minutes=5),
    traffic_switch_delay=timedelta(seconds=30),
    scale_down_delay=timedelta(seconds=60),
    checks=CheckPolicy(),
)


class Killed(BaseException):
    """Stands in for SIGKILL: escapes every `except Exception` like a dead process would."""


@dataclass
class World:
    clock: ManualClock
    target: FakeTarget
    health: FakeHealth
    store: MemoryStore
    backups: MemoryBackups
    alive: set[int] = field(default_factory=set)
    seen: list[Event] = field(default_factory=list)
    hooks: list[Hook] = field(default_factory=list)  # more hooks for the engines made from now on
    _ids: int = 0

    def engine(
        self, pid: int = 100, kill_at: str | None = None, ttl: timedelta = timedelta(days=1), store: Store | None = None
    ) -> Engine:
        self.alive.add(pid)

        def hook(d: Deployment, event: Event) -> None:
            self.seen.append(event)
            if kill_at and event.type == "state" and event.data["state"] == kill_at:
                self.alive.discard(pid)
                raise Killed(kill_at)

        def new_id(now: object) -> str:
            self._ids += 1
            return f"d{self._ids:04d}"

        me = Identity(user="ana", host="ci-1", pid=pid)
        # Manual time jumps minutes at once; a long lease keeps expiry out of most tests.
        store = store or self.store
        leases = Leases(store=store, clock=self.clock, me=me, is_alive=self.is_alive, ttl=ttl)
        return Engine(
            store=store,
            target=self.target,
            health=self.health,
            clock=self.clock,
            leases=leases,
            new_id=new_id,
            backups=self.backups,
            hooks=[hook, *self.hooks],
        )

    def is_alive(self, holder: LockHolder) -> bool:
        return holder.pid in self.alive


@pytest.fixture
def world() -> World:
    clock = ManualClock()
    target = FakeTarget(clock=clock)
    return World(
        clock=clock, target=target, health=FakeHealth(target), store=MemoryStore(), backups=MemoryBackups(clock)
    )
