"""A scrape reads the event logs of what it has not counted to the end: the unfinished
deployments and those that finished since the last scrape, never the whole window again."""

from __future__ import annotations

from typing import Any

from arxdeploy.api.record_metrics import Tally
from arxdeploy.domain.events import Event
from arxdeploy.ports import Store
from tests.api.conftest import World
from tests.metrics.test_served import SERVICE


class CountingStore:
    """The world's store, noting which event logs are read."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.read: list[str] = []

    def events(self, *, deployment_id: str) -> list[Event]:
        self.read.append(deployment_id)
        return self._store.events(deployment_id=deployment_id)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def test_finished_deployments_are_read_once(world: World) -> None:
    store = CountingStore(world.app.store)
    tally = Tally(store=store, service=SERVICE)  # type: ignore[arg-type]

    def history(environment: str) -> list[Any]:
        return world.app.store.history(service=SERVICE, environment=environment, limit=500)

    before = [world.deploy_staging(f"v{n}").id for n in range(1, 4)]
    tally.start("staging", history("staging"))
    tally.start("production", history("production"))
    assert store.read == []  # finished before the start: not counted, not read

    assert tally.update("staging", history("staging")) is not None
    assert store.read == [before[-1]]  # only the newest, for what it says now (canary weight, undo)
    store.read.clear()

    after = [world.deploy_staging(f"v{n}").id for n in range(4, 6)]
    pending = world.request_production("v9").id
    for _ in range(3):
        tally.update("staging", history("staging"))
        tally.update("production", history("production"))
    # Each new finished log once; the unfinished one at every scrape, as it may have moved on.
    assert sorted(store.read) == sorted([*after, pending, pending, pending])
