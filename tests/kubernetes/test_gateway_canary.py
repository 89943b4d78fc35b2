"""A canary deploy through the engine on the Kubernetes target with ``traffic_router: gateway``: its
weights are the HTTPRoute's, the split is measured at the Gateway's front door while it waits for
a person, a promote gives the new version all of the traffic, an abort gives it back."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from arxdeploy.domain.events import Deployment, Event
from arxdeploy.domain.plan import CanaryPlan, CanaryStep, EnvironmentPlan
from arxdeploy.domain.states import Color, State
from arxdeploy.engine.pause import Action, Answers
from arxdeploy.engine.run import Engine
from arxdeploy.ports import EnvironmentState
from arxdeploy.targets.kubernetes.target import KubernetesTarget
from tests.drive import deploy
from tests.fixtures.kube import Cluster

from .test_engine import PLAN
from .test_engine import engine as engine  # noqa: PLC0414 - the fixture, shared
from .test_gateway import GATEWAY, backend_weights, measured, route
from .test_gateway import gateway_spec as gateway_spec  # noqa: PLC0414 - the fixtures, shared
from .test_gateway import pods as pods  # noqa: PLC0414
from .test_gateway import target as target  # noqa: PLC0414

ENV = "staging"
TOLERANCE = 3  # percentage points


def canary(weight: int) -> EnvironmentPlan:
    steps = (CanaryStep(weight=weight), CanaryStep(until_approved=True), CanaryStep(weight=100))
    return dataclasses.replace(PLAN, canary=CanaryPlan(steps=steps))


def prepared(engine: Engine, target: KubernetesTarget, cluster: Cluster, pods: dict[Color, str]) -> None:
    """v1 live on blue through the route; each color's pods answer with its name; a Gateway."""
    kube = cluster.need_emulator()
    ns = target.spec.namespace_for(ENV)
    for color, url in pods.items():
        kube.register_pod_backend(ns, url, selector=f"app=arxos,color={color.value}")
    _, view = deploy(engine, plan=PLAN, version="1.0")
    assert view.state is State.SUCCEEDED, view.failure
    target.connection.client.create(GATEWAY, namespace=ns)


@pytest.mark.parametrize("weight", [10, 50])
def test_a_canary_splits_at_the_gateway_and_a_promote_gives_the_new_version_everything(
    engine: Engine, target: KubernetesTarget, cluster: Cluster, pods: dict[Color, str], weight: int
) -> None:
    prepared(engine, target, cluster, pods)
    kube = cluster.need_emulator()
    seen: dict[str, object] = {}

    def at_the_pause(d: Deployment, event: Event) -> None:
        if event.type != "paused":
            return
        seen["route"] = backend_weights(target)
        seen["state"] = target.inspect(environment=ENV)
        seen["split"] = measured(kube, target)
        Answers(store=engine.store, clock=engine.clock).answer(
            deployment_id=d.id, action=Action.PROMOTE, who="rui@example.com", via="cli"
        )

    _, view = deploy(dataclasses.replace(engine, hooks=(at_the_pause,)), plan=canary(weight), version="2.0")
    assert view.state is State.SUCCEEDED, view.failure
    assert seen["route"] == {"arxos-blue": 100 - weight, "arxos-green": weight}
    paused = seen["state"]
    assert isinstance(paused, EnvironmentState)
    assert paused.live_color is Color.BLUE and paused.weights == {Color.BLUE: 100 - weight, Color.GREEN: weight}
    split = seen["split"]
    assert isinstance(split, Counter)
    assert abs(100 * split["green"] / sum(split.values()) - weight) <= TOLERANCE, split
    after = target.inspect(environment=ENV)
    assert (after.live_color, after.live_version, after.weights) == (Color.GREEN, "2.0", {Color.GREEN: 100})
    assert backend_weights(target) == {"arxos-blue": 0, "arxos-green": 100}
    assert measured(kube, target, 100) == Counter(green=100)


def test_an_abort_at_the_pause_sends_every_request_back_to_the_old_version(
    engine: Engine, target: KubernetesTarget, cluster: Cluster, pods: dict[Color, str]
) -> None:
    prepared(engine, target, cluster, pods)
    kube = cluster.need_emulator()

    def abort(d: Deployment, event: Event) -> None:
        if event.type == "paused":
            Answers(store=engine.store, clock=engine.clock).answer(
                deployment_id=d.id, action=Action.ABORT, who="rui@example.com", via="cli", reason="p99 doubled"
            )

    _, view = deploy(dataclasses.replace(engine, hooks=(abort,)), plan=canary(20), version="2.0")
    assert view.state is State.ROLLED_BACK, view.failure
    state = target.inspect(environment=ENV)
    assert (state.live_color, state.live_version, state.weights) == (Color.BLUE, "1.0", {Color.BLUE: 100})
    assert route(target)["metadata"]["annotations"]["arxdeploy.io/live-color"] == "blue"
    assert measured(kube, target, 100) == Counter(blue=100)
