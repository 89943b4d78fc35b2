"""Metric analysis results and canary weights, read from the events the analysis and canary
steps record (``analysis``: verdict, phase; ``canary_step``: weight; ``promoted``, ``aborted``).
The events are appended to the store here as those steps write them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from arxdeploy.domain.decide import Route
from arxdeploy.domain.events import Deployment, Event, entered, requested
from arxdeploy.domain.states import Color, State
from arxdeploy.errors import StoreError
from arxdeploy.ports import LockHolder
from tests.api.conftest import World
from tests.metrics.scrape import Samples, value, values
from tests.metrics.test_served import SERVICE, scrape, settled, unhealthy

STAGING = {"service": SERVICE, "environment": "staging"}


def canary(world: World, version: str) -> Deployment:
    """A canary deployment of ``version`` in staging, recorded up to its deploy step, with its
    runner holding the environment's lease."""
    now = world.clock.now()
    d = Deployment(
        id=f"{now:%Y%m%d-%H%M%S}-{version}",
        service=SERVICE,
        environment="staging",
        version=version,
        previous_version="v1",
        new_color=Color.GREEN,
        old_color=Color.BLUE,
        created_at=now,
    )
    world.app.store.create(deployment=d, events=[requested(now, Route()), entered(State.DEPLOYING, now)])
    holder = LockHolder(d.id, "ana@host", "host", 1, now, now + timedelta(hours=1))
    world.app.store.acquire_lock(service=SERVICE, environment="staging", holder=holder)
    return d


def add(world: World, d: Deployment, kind: str, **data: object) -> None:
    world.app.store.append(deployment_id=d.id, events=[Event(kind, world.clock.now(), data)])


def analysis(samples: Samples) -> dict[tuple[str, str], float]:
    return {
        (labels["verdict"], labels["phase"]): v
        for labels, v in values(samples, "arxdeploy_analysis_results_total", **STAGING)
    }


def test_the_canary_weight_follows_its_steps_and_analysis_results_count_once(world: World) -> None:
    world.deploy_staging("v1")
    d = canary(world, "v2")
    add(world, d, "canary_step", weight=10)
    add(world, d, "analysis", phase="canary", window=1, of=2, readings=[])  # windows are not results
    add(world, d, "analysis", phase="canary", window=2, of=2, readings=[])
    add(world, d, "analysis", verdict="pass", phase="canary", metric="error-rate")
    add(world, d, "analysis", verdict="inconclusive", phase="canary", metric="p99")
    samples = settled(world)
    assert value(samples, "arxdeploy_canary_weight", **STAGING) == 10
    ((labels, _),) = values(samples, "arxdeploy_canary_weight", **STAGING)
    assert labels["version"] == "v2"
    assert analysis(samples) == {("pass", "canary"): 1, ("inconclusive", "canary"): 1}
    assert unhealthy(samples, "staging") == set()  # its runner holds the lease

    world.clock.advance(timedelta(minutes=2))
    add(world, d, "canary_step", weight=50)
    add(world, d, "analysis", verdict="fail", phase="canary", metric="error-rate")
    samples = settled(world)
    assert value(samples, "arxdeploy_canary_weight", **STAGING) == 50
    assert analysis(samples) == {("pass", "canary"): 1, ("inconclusive", "canary"): 1, ("fail", "canary"): 1}

    add(world, d, "promoted", who="ana@example.com")
    add(world, d, "state", state="succeeded")
    samples = settled(world)
    assert value(samples, "arxdeploy_canary_weight", **STAGING) == 100
    assert value(samples, "arxdeploy_deployments_finished_total", **STAGING, kind="deploy", outcome="succeeded") == 2
    assert sum(analysis(samples).values()) == 3  # scraped three times, each result once


def test_an_aborted_canary_weighs_zero_and_a_blue_green_deployment_has_no_weight(world: World) -> None:
    world.deploy_staging("v1")
    assert values(scrape(world), "arxdeploy_canary_weight") == []  # blue-green: no weight
    d = canary(world, "v2")
    add(world, d, "canary_step", weight=25)
    add(world, d, "aborted", who="bo@example.com")
    assert value(scrape(world), "arxdeploy_canary_weight", **STAGING) == 0
    add(world, d, "state", state="rolling_back")
    add(world, d, "state", state="rolled_back")
    samples = settled(world)
    assert value(samples, "arxdeploy_canary_weight", **STAGING) == 0
    assert value(samples, "arxdeploy_rollbacks_total", **STAGING, trigger="automatic") == 1


def test_a_canary_whose_runner_died_is_stalled(world: World) -> None:
    world.deploy_staging("v1")
    d = canary(world, "v2")
    add(world, d, "canary_step", weight=10)
    assert unhealthy(scrape(world), "staging") == set()
    world.clock.advance(timedelta(hours=2))  # the lease ran out: nobody renewed it
    assert unhealthy(scrape(world), "staging") == {"stalled"}


def test_recorded_names_outside_the_vocabulary_become_other(world: World) -> None:
    world.deploy_staging("v1")
    d = canary(world, "v2")
    add(world, d, "analysis", verdict="splendid", phase="Phase With Spaces")
    add(world, d, "analysis", verdict="pass", phase="x" * 40)
    add(world, d, "canary_step", weight="heavy")  # not a number: no weight
    samples = settled(world)
    assert analysis(samples) == {("other", "other"): 1, ("pass", "other"): 1}
    assert values(samples, "arxdeploy_canary_weight") == []


def test_a_lease_the_server_may_not_read_leaves_stalled_unsaid(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # The approval server's generated Role on Kubernetes reads ConfigMaps only, no Leases.
    world.deploy_staging("v1")
    canary(world, "v2")

    def forbidden(**_: object) -> None:
        raise StoreError("leases.coordination.k8s.io is forbidden")

    monkeypatch.setattr(world.app.store, "lock_holder", forbidden)
    served = values(scrape(world), "arxdeploy_environment_unhealthy", **STAGING)
    assert {labels["reason"]: v for labels, v in served} == {"undo_failed": 0, "no_traffic": 0}
