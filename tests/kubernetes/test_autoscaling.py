"""Autoscaling, both kinds. The HPA: the new color is as big as the live one, what an HPA (or a
person) made of the live color being what the new color starts with, within its own HPA's
bounds, and the HPA finds nothing to undo. The cluster autoscaler: pods that wait for the node it
adds are waited for, before the switch and after it.

On an emulator of their own whose HPA controller syncs every second.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from arxdeploy.domain.events import Deployment as Record
from arxdeploy.domain.events import Event
from arxdeploy.domain.states import Color, State
from arxdeploy.engine.run import Engine
from arxdeploy.targets.kubernetes.spec import KubeSpec, spec_from_config
from arxdeploy.targets.kubernetes.target import KubernetesTarget, start_size
from arxdeploy.testing.kube import Autoscaler, KubeEmulator, NodeSpec
from tests.drive import deploy, rollback
from tests.fixtures.kube import SEED_K8S, Cluster, load_seed, own_namespace
from tests.kubernetes.engines import engine_on, quick_plan, serve_app
from tests.support import wait_until

ENV = "staging"
pytestmark = pytest.mark.skipif(
    bool(os.environ.get("ARXDEPLOY_TEST_KUBECONFIG")), reason="needs the emulator's HPA controller"
)
# staging: 4 replicas at least, 10 at most, 70 % of the CPU request
SIZED = SEED_K8S.replace(
    "    replicas: 2\n    monitoring_duration: 5m\n",
    "    replicas: 4\n    monitoring_duration: 5m\n    autoscaling: {max_replicas: 10, cpu_utilization: 70}\n",
)
PLAN = quick_plan(replicas=4)


def test_the_size_rule() -> None:
    assert start_size(floor=4, now=[], most=10) == 4  # nothing runs: the config's count
    assert start_size(floor=4, now=[8], most=10) == 8  # as big as the live color
    assert start_size(floor=4, now=[8, None], most=6) == 6  # never above its HPA's maximum
    assert start_size(floor=4, now=[2], most=10) == 4  # never below its minimum
    assert start_size(floor=4, now=[5, 7], most=10) == 7  # nor below what it runs itself already
    assert start_size(floor=4, now=[9], most=3) == 4  # a maximum below the minimum is raised to it


@pytest.fixture
def kube(request: pytest.FixtureRequest) -> Iterator[KubeEmulator]:
    """Nodes and an autoscaler as ``request.param`` says (by default one node that never runs out)."""
    cluster: dict[str, Any] = getattr(request, "param", {})
    # A second between syncs: time to hold the load steady once the HPA reached the size wanted.
    with KubeEmulator(ready_delay=0.1, hpa_sync_period=1.0, **cluster) as emulator:
        yield emulator


@pytest.fixture
def spec(kube: KubeEmulator, tmp_path: Path) -> KubeSpec:
    seed = load_seed(tmp_path, SIZED)
    return own_namespace(
        spec_from_config(seed.config, base_dir=seed.base_dir), Cluster(kube.kubeconfig, kube), "sizing"
    )


@pytest.fixture
def target(spec: KubeSpec, tmp_path: Path) -> Iterator[KubernetesTarget]:
    with KubernetesTarget(spec=spec, state_dir=tmp_path / "state") as made:
        yield made


@pytest.fixture
def engine(target: KubernetesTarget, kube: KubeEmulator, app_url: str, tmp_path: Path) -> Iterator[Engine]:
    serve_app(kube, target, app_url)
    made, health = engine_on(target, tmp_path)
    yield made
    health.close()


def scale(kube: KubeEmulator, ns: str, color: str) -> dict[str, Any]:
    """The Deployment's replicas, ready pods and its HPA's bounds."""
    deployment = kube.get("deployments", ns, f"arxos-{color}") or {}
    hpa = kube.get("horizontalpodautoscalers", ns, f"arxos-{color}") or {}
    return {
        "replicas": (deployment.get("spec") or {}).get("replicas"),
        "ready": (deployment.get("status") or {}).get("readyReplicas", 0),
        "bounds": ((hpa.get("spec") or {}).get("minReplicas"), (hpa.get("spec") or {}).get("maxReplicas")),
    }


def scaled_by_load(kube: KubeEmulator, ns: str, color: str, replicas: int, percent: float) -> None:
    """Load that makes the HPA scale ``color`` to ``replicas``, then load it keeps that size at."""
    kube.set_cpu_utilization(ns, f"arxos-{color}", percent)
    wait_until(lambda: scale(kube, ns, color)["ready"] == replicas, timeout=20, what=f"{color} at {replicas}")
    kube.set_cpu_utilization(ns, f"arxos-{color}", 70)  # on target: within the HPA's tolerance


def test_a_deploy_starts_the_new_color_as_big_as_the_hpa_made_the_live_one_and_switches_when_all_are_ready(
    engine: Engine, kube: KubeEmulator, target: KubernetesTarget
) -> None:
    ns = target.spec.namespace_for(ENV)
    _, view = deploy(engine, plan=PLAN, version="1.0")
    assert view.state is State.SUCCEEDED, view.failure
    assert scale(kube, ns, "blue") == {"replicas": 4, "ready": 4, "bounds": (4, 10)}
    # 4 pods at 130 % of their CPU request: ceil(4 x 130 / 70) = 8 (within the 2x step of one sync)
    scaled_by_load(kube, ns, "blue", 8, 130)

    at_switch: list[dict[str, Any]] = []

    def switching(_d: Record, event: Event) -> None:
        if event.type == "state" and event.data["state"] == "switching":
            at_switch.append(scale(kube, ns, "green"))

    _, view = deploy(replace(engine, hooks=[switching]), plan=PLAN, version="1.1")
    assert view.state is State.SUCCEEDED, view.failure
    # 8 started, 8 ready when the traffic moved; the HPA keeps its bounds from the config.
    assert at_switch == [{"replicas": 8, "ready": 8, "bounds": (4, 10)}]
    verify = next(s for s in view.steps if s.step == "verify")
    assert verify.detail.startswith("green (8 replicas) passed every check")
    green = target.inspect(environment=ENV).colors[Color.GREEN]
    assert (green.size, sum(r.running for r in green.replicas)) == (8, 8)


def test_a_rollback_brings_the_old_version_back_as_big_as_the_live_one(
    engine: Engine, kube: KubeEmulator, target: KubernetesTarget
) -> None:
    ns = target.spec.namespace_for(ENV)
    deploy(engine, plan=PLAN, version="1.0")
    deploy(engine, plan=PLAN, version="1.1")  # blue (1.0) retired: scale_down_delay is 0
    scaled_by_load(kube, ns, "green", 8, 130)
    _, view = rollback(engine, plan=PLAN)
    assert view.state is State.SUCCEEDED, view.failure
    assert target.inspect(environment=ENV).live_version == "1.0"
    assert scale(kube, ns, "blue") == {"replicas": 8, "ready": 8, "bounds": (4, 10)}


def test_start_color_leaves_what_the_hpa_scaled_and_stays_within_its_bounds(
    kube: KubeEmulator, target: KubernetesTarget, tmp_path: Path
) -> None:
    ns = target.spec.namespace_for(ENV)
    target.start_color(environment=ENV, color=Color.BLUE, version="1.0", replicas=4)
    wait_until(lambda: scale(kube, ns, "blue")["ready"] == 4, what="blue ready")
    target.switch(environment=ENV, color=Color.BLUE)
    target.start_color(environment=ENV, color=Color.GREEN, version="1.1", replicas=4)
    scaled_by_load(kube, ns, "green", 8, 130)  # the candidate, scaled up meanwhile

    # Started again (a deploy of the same version): what its HPA made of it stays.
    target.start_color(environment=ENV, color=Color.GREEN, version="1.1", replicas=4)
    assert scale(kube, ns, "green") == {"replicas": 8, "ready": 8, "bounds": (4, 10)}
    # The live color, scaled by its HPA: asking for its configured count again changes nothing.
    scaled_by_load(kube, ns, "blue", 8, 130)
    before = kube.get("deployments", ns, "arxos-blue")
    target.start_color(environment=ENV, color=Color.BLUE, version="1.0", replicas=4)
    assert kube.get("deployments", ns, "arxos-blue") == before

    # The config now allows at most 6: the new color starts at its maximum, not at the live 8,
    # and its HPA, whose bounds it is within, leaves it there.
    target.stop_color(environment=ENV, color=Color.GREEN, drain_timeout=timedelta(0))
    smaller = replace(target.spec, environments={ENV: replace(target.spec.env(ENV), max_replicas=6)})
    with KubernetesTarget(spec=smaller, state_dir=tmp_path / "state") as other:
        other.start_color(environment=ENV, color=Color.GREEN, version="1.2", replicas=4)
    wait_until(lambda: scale(kube, ns, "green")["ready"] == 6, what="green at its maximum")
    assert scale(kube, ns, "green") == {"replicas": 6, "ready": 6, "bounds": (4, 6)}


# --- pods waiting for a node ---------------------------------------------------------------------

# Room for 10 of the seed's staging pods (50m CPU each); the autoscaler's node comes 1 s after a
# pod could not be placed, or (SLOW) only after the test is over.
ROOM = (NodeSpec("small", cpu="500m", memory="4Gi"),)
QUICK = {"nodes": ROOM, "autoscaler": Autoscaler(delay=1.0, template=NodeSpec(cpu="2", memory="8Gi"))}
SLOW = {"nodes": ROOM, "autoscaler": Autoscaler(delay=60.0, template=NodeSpec(cpu="2", memory="8Gi"))}


def said(seen: list[str]) -> Any:
    def hook(_d: Record, event: Event) -> None:
        if event.type == "progress":
            seen.append(str(event.data["message"]))

    return hook


@pytest.mark.parametrize("kube", [QUICK], indirect=True)
def test_a_new_color_whose_pods_wait_for_a_node_is_waited_for_then_goes_live(
    engine: Engine, kube: KubeEmulator, target: KubernetesTarget
) -> None:
    deploy(engine, plan=PLAN, version="1.0")  # 4 pods: 200m of 500m
    messages: list[str] = []
    bigger = replace(PLAN, replicas=8)  # 8 more pods: 2 wait for the autoscaler's node
    _, view = deploy(replace(engine, hooks=[said(messages)]), plan=bigger, version="1.1")
    assert view.state is State.SUCCEEDED, view.failure
    waited = [m for m in messages if m.startswith("waiting for green") and "Unschedulable" in m]
    assert waited, messages
    assert "0/1 nodes are available: 1 Insufficient cpu." in waited[-1]
    assert "scale-up triggered (TriggeredScaleUp: pod triggered scale-up: [{emulator-pool 0->1" in "\n".join(waited)
    assert target.inspect(environment=ENV).colors[Color.GREEN].size == 8


@pytest.mark.parametrize("kube", [SLOW], indirect=True)
def test_live_pods_an_hpa_scale_up_adds_that_wait_for_a_node_are_not_a_failed_round(
    engine: Engine, kube: KubeEmulator, target: KubernetesTarget
) -> None:
    ns = target.spec.namespace_for(ENV)
    deploy(engine, plan=PLAN, version="1.0")
    messages: list[str] = []

    def load(_d: Record, event: Event) -> None:
        if event.type == "state" and event.data["state"] == "monitoring":  # 4 -> 8 pods: 2 find no room
            kube.set_cpu_utilization(ns, "arxos-green", 130)

    watched = replace(PLAN, monitoring_duration=timedelta(seconds=4))
    _, view = deploy(replace(engine, hooks=[said(messages), load]), plan=watched, version="1.1")
    assert view.state is State.SUCCEEDED, view.failure
    # (the load stays: the HPA goes on to its maximum of 10, and those pods wait as well)
    waiting = [
        m for m in messages if re.match(r"monitoring: healthy \(\d of (8|10) replicas waiting: Unschedulable", m)
    ]
    assert waiting, messages
    assert "scale-up triggered" in waiting[-1]
    assert not any("failed rounds" in m for m in messages), messages
    green = target.inspect(environment=ENV).colors[Color.GREEN]
    assert (sum(r.running for r in green.replicas), any(r.waiting for r in green.replicas)) == (6, True)
