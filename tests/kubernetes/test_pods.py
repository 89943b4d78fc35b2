"""What a color's pods mean: waiting (a node coming, an image being pulled) or failed (a crash
loop, an image that cannot be had, missing config), each named by its reason with the pods'
newest events. The rules as values first, then on the emulator's scheduler, autoscaler and kubelet.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Event, Pod

from arxdeploy.domain.states import Color
from arxdeploy.ports import ColorState, Problem, ProblemKind
from arxdeploy.targets.kubernetes import pods
from arxdeploy.targets.kubernetes.manifests import image_for
from arxdeploy.targets.kubernetes.spec import KubeSpec
from arxdeploy.targets.kubernetes.target import KubernetesTarget
from arxdeploy.testing.kube import Autoscaler, KubeEmulator, NodeSpec
from tests.fixtures.kube import Cluster, own_namespace
from tests.support import wait_until

ENV = "staging"
NOT_READY = {"type": "Ready", "status": "False", "reason": "ContainersNotReady"}


# --- the rules, as values ---------------------------------------------------------------------


def pod(name: str, *, phase: str = "Pending", conditions: Any = (), waiting: str | None = None, **state: Any) -> Pod:
    container: dict[str, Any] = {"name": "arxos", "image": "i", "imageID": "", "ready": False, "restartCount": 0}
    container["state"] = {"waiting": {"reason": waiting, "message": state.pop("message", "")}} if waiting else {}
    container.update(state)
    status = {"phase": phase, "conditions": [NOT_READY, *conditions], "containerStatuses": [container]}
    return Pod.from_dict({"metadata": {"name": name}, "status": status})


def deployment(stuck: bool = False) -> Deployment:
    progressing = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
    conditions = [{**progressing, "message": 'ReplicaSet "arxos-green-1" has timed out progressing.'}] if stuck else []
    spec = {"selector": {"matchLabels": {"app": "arxos"}}, "template": {}}
    return Deployment.from_dict(
        {"metadata": {"name": "arxos-green"}, "spec": spec, "status": {"conditions": conditions}}
    )


def event(about: str, reason: str, message: str, *, count: int = 1, at: int = 0, kind: str = "Warning") -> Event:
    return Event.from_dict(
        {
            "metadata": {"name": f"{about}.{reason}{at}"},
            "involvedObject": {"kind": "Pod", "name": about, "fieldPath": "spec.containers{arxos}"},
            "reason": reason,
            "message": message,
            "type": kind,
            "count": count,
            "lastTimestamp": f"2026-01-01T00:00:{at:02d}Z",
        }
    )


def judged(*found: Pod, events: tuple[Event, ...] = (), stuck: bool = False) -> Problem | None:
    return pods.problem(deployment(stuck), found, pods.PodEvents(pods.newest_first(events)))


UNSCHEDULED = {
    "type": "PodScheduled",
    "status": "False",
    "reason": "Unschedulable",
    "message": "0/3 nodes are available: 3 Insufficient cpu.",
}


def test_a_pod_waiting_for_a_node_waits_and_says_whether_a_node_was_asked_for() -> None:
    unplaced = pod("p1", conditions=[UNSCHEDULED])
    unplaced.status.containerStatuses = None  # type: ignore[union-attr]  # not on a node: no containers yet
    scheduling = event("p1", "FailedScheduling", "0/3 nodes are available: 3 Insufficient cpu.", at=1)
    triggered = event("p1", "TriggeredScaleUp", "pod triggered scale-up: [{pool 3->4 (max: 6)}]", at=2, kind="Normal")
    found = judged(unplaced, events=(scheduling, triggered))
    assert found == Problem(
        ProblemKind.WAITING,
        "Unschedulable",
        "pod p1: Unschedulable (0/3 nodes are available: 3 Insufficient cpu.); "
        "scale-up triggered (TriggeredScaleUp: pod triggered scale-up: [{pool 3->4 (max: 6)}]); "
        "events: FailedScheduling: 0/3 nodes are available: 3 Insufficient cpu.",
    )
    refused = event("p1", "NotTriggerScaleUp", "pod didn't trigger scale-up: 1 max node group size reached", at=3)
    found = judged(unplaced, events=(scheduling, triggered, refused))
    assert found is not None and found.kind is ProblemKind.WAITING  # still waited for: nodes may free up
    assert "no scale-up (NotTriggerScaleUp: pod didn't trigger scale-up: 1 max node group size reached)" in found.detail
    quiet = judged(unplaced, events=(scheduling,))
    assert quiet is not None and "no cluster autoscaler has answered yet" in quiet.detail


def test_karpenters_nomination_is_a_scale_up_and_its_own_failure_is_not() -> None:
    unplaced = pod("p1", conditions=[UNSCHEDULED])
    nominated = event("p1", "Nominated", "Pod should schedule on: nodeclaim/default-x7k2p", at=1, kind="Normal")
    found = judged(unplaced, events=(nominated,))
    assert found is not None
    assert "scale-up triggered (Nominated: Pod should schedule on: nodeclaim/default-x7k2p)" in found.detail
    refused = event("p1", "FailedScheduling", "Failed to schedule pod, incompatible with nodepool", at=2)
    refused.reportingComponent = "karpenter"
    found = judged(unplaced, events=(nominated, refused))
    assert found is not None and "no scale-up (FailedScheduling: Failed to schedule pod," in found.detail


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("CrashLoopBackOff", ProblemKind.FAILED),
        ("InvalidImageName", ProblemKind.FAILED),
        ("ErrImageNeverPull", ProblemKind.FAILED),
        ("CreateContainerConfigError", ProblemKind.FAILED),
        ("ContainerCreating", ProblemKind.WAITING),
        ("PodInitializing", ProblemKind.WAITING),
        ("CreateContainerError", ProblemKind.WAITING),
        ("RunContainerError", ProblemKind.WAITING),
        ("ErrImagePull", ProblemKind.WAITING),
        ("ImagePullBackOff", ProblemKind.WAITING),
    ],
)
def test_each_waiting_reason_fails_or_waits(reason: str, kind: ProblemKind) -> None:
    found = judged(pod("p1", waiting=reason, message="what the kubelet said"))
    assert found is not None and (found.kind, found.reason) == (kind, reason)
    assert found.detail.startswith(f"pod p1 container arxos: {reason} (what the kubelet said)")


def test_missing_config_fails_at_once_with_the_kubelets_words() -> None:
    message = "couldn't find key LEVEL in ConfigMap arxos-staging/settings-0a1b2c3d4e"
    found = judged(pod("p1", waiting="CreateContainerConfigError", message=message))
    assert found is not None and found.kind is ProblemKind.FAILED
    assert str(found) == f"CreateContainerConfigError: pod p1 container arxos: CreateContainerConfigError ({message})"


@pytest.mark.parametrize(
    ("failed_pulls", "kind"), [(1, ProblemKind.WAITING), (2, ProblemKind.WAITING), (3, ProblemKind.FAILED)]
)
def test_an_image_pull_fails_the_color_after_three_failed_pulls(failed_pulls: int, kind: ProblemKind) -> None:
    pulls = event("p1", "Failed", 'Failed to pull image "i": not found', count=failed_pulls)
    other = event("p2", "Failed", 'Failed to pull image "i": not found', count=5)  # another pod's pulls
    found = judged(pod("p1", waiting="ImagePullBackOff", message='Back-off pulling image "i"'), events=(pulls, other))
    assert found is not None and found.kind is kind
    if kind is ProblemKind.FAILED:
        assert '(Back-off pulling image "i" (the pull failed 3 times))' in found.detail


def test_the_same_message_on_many_pods_is_said_once_with_the_newest_warnings_deduplicated() -> None:
    crashing = [
        pod(f"p{n}", phase="Running", waiting="CrashLoopBackOff", message="back-off 10s", restartCount=3)
        for n in (1, 2, 3)
    ]
    back_off = [event(f"p{n}", "BackOff", "Back-off restarting failed container arxos", at=n) for n in (1, 2, 3)]
    older = event("p1", "Unhealthy", "Liveness probe failed: HTTP probe failed with statuscode: 500", at=0)
    found = judged(*crashing, events=(*back_off, older))
    assert found == Problem(
        ProblemKind.FAILED,
        "CrashLoopBackOff",
        "pod p1 container arxos (and 2 more): CrashLoopBackOff (back-off 10s); "
        "events: BackOff: Back-off restarting failed container arxos; "
        "Unhealthy: Liveness probe failed: HTTP probe failed with statuscode: 500",
    )


def test_a_failure_beside_waiting_pods_is_the_verdict_and_a_stuck_rollout_fails() -> None:
    mixed = judged(pod("p1", waiting="ContainerCreating"), pod("p2", phase="Running", waiting="CrashLoopBackOff"))
    assert mixed is not None and (mixed.kind, mixed.reason) == (ProblemKind.FAILED, "CrashLoopBackOff")
    assert "ContainerCreating" not in mixed.detail
    stuck = judged(pod("p1", waiting="ContainerCreating"), stuck=True)
    assert stuck is not None and (stuck.kind, stuck.reason) == (ProblemKind.FAILED, "ProgressDeadlineExceeded")
    assert stuck.detail.startswith('deployment arxos-green: ProgressDeadlineExceeded (ReplicaSet "arxos-green-1" has')


def test_which_pods_wait_and_which_are_checked() -> None:
    assert pods.waiting(pod("p1", waiting="ContainerCreating"))
    starting = pod("p1", phase="Running", started=False, state={"running": {"startedAt": "2026-01-01T00:00:00Z"}})
    assert pods.waiting(starting)
    found = judged(starting)
    assert found is not None and (found.kind, found.reason) == (ProblemKind.WAITING, "Starting")
    # Started (its startup probe passed) but not ready: it has started, so it is checked.
    unready = pod("p1", phase="Running", started=True, state={"running": {"startedAt": "2026-01-01T00:00:00Z"}})
    assert not pods.waiting(unready) and judged(unready) is None
    restarted = pod("p1", phase="Running", started=False, restartCount=2)
    assert not pods.waiting(restarted)


# --- on the emulator ----------------------------------------------------------------------------


needs_emulator = pytest.mark.skipif(
    bool(os.environ.get("ARXDEPLOY_TEST_KUBECONFIG")), reason="needs the emulator's pod behaviours"
)


@pytest.fixture
def small_cluster(request: pytest.FixtureRequest) -> Iterator[KubeEmulator]:
    """Room for two of the seed's staging pods (50m CPU each), and an autoscaler as the test asks."""
    autoscaler: Autoscaler = request.param
    with KubeEmulator(
        ready_delay=0.1, nodes=(NodeSpec("small", cpu="100m", memory="1Gi"),), autoscaler=autoscaler
    ) as kube:
        yield kube


def small_target(kube: KubeEmulator, spec: KubeSpec, tmp_path: Path) -> KubernetesTarget:
    return KubernetesTarget(spec=own_namespace(spec, Cluster(kube.kubeconfig, kube), "small"), state_dir=tmp_path)


@needs_emulator
@pytest.mark.parametrize(
    "small_cluster", [Autoscaler(delay=1.0, template=NodeSpec(cpu="2", memory="4Gi"))], indirect=True
)
def test_pods_waiting_for_a_node_the_autoscaler_adds_wait_then_run(
    small_cluster: KubeEmulator, spec: KubeSpec, tmp_path: Path
) -> None:
    with small_target(small_cluster, spec, tmp_path) as target:
        target.start_color(environment=ENV, color=Color.GREEN, version="1.0", replicas=3)
        waiting = seen(target, Color.GREEN, lambda own: "TriggeredScaleUp" in str(own.problem), "a scale-up")
        assert waiting.problem is not None and (waiting.problem.kind, waiting.problem.reason) == (
            ProblemKind.WAITING,
            "Unschedulable",
        )
        assert "0/1 nodes are available: 1 Insufficient cpu." in waiting.problem.detail
        assert "scale-up triggered (TriggeredScaleUp: pod triggered scale-up: [{emulator-pool 0->1" in str(
            waiting.problem
        )
        assert "events: FailedScheduling: 0/1 nodes are available: 1 Insufficient cpu." in waiting.problem.detail
        assert any(r.waiting for r in waiting.replicas) and waiting.size == 3
        green = seen(target, Color.GREEN, lambda own: sum(r.running for r in own.replicas) == 3, "the third pod")
        assert green.problem is None


def seen(target: KubernetesTarget, color: Color, check: Any, what: str, timeout: float = 20) -> ColorState:
    def found() -> ColorState | None:
        own = target.inspect(environment=ENV).colors.get(color)
        return own if own is not None and check(own) else None

    return wait_until(found, timeout=timeout, what=what)


def kind_of(own: ColorState) -> ProblemKind | None:
    return own.problem.kind if own.problem else None


@needs_emulator
def test_a_crash_loop_fails_naming_pod_container_reason_and_events(target: KubernetesTarget, cluster: Cluster) -> None:
    kube = cluster.need_emulator()
    kube.set_behaviour("crashloop", image=image_for(target.spec, "2.0-crash"))
    target.start_color(environment=ENV, color=Color.GREEN, version="2.0-crash", replicas=2)
    green = seen(target, Color.GREEN, lambda own: own.failed, "a crash loop")
    assert green.problem is not None and green.problem.reason == "CrashLoopBackOff"
    names = sorted(p["metadata"]["name"] for p in kube.objects("pods", target.spec.namespace_for(ENV)))
    assert f"pod {names[0]} container arxos" in green.problem.detail
    assert "events: BackOff: Back-off restarting failed container arxos in pod" in green.problem.detail


@needs_emulator
def test_an_image_that_cannot_be_pulled_waits_for_two_retries_then_fails(spec: KubeSpec, tmp_path: Path) -> None:
    # crash_period 1 s: pulls fail at 0.1 s, 1.1 s and 3.1 s (back-offs of 1 s, then 2 s)
    with KubeEmulator(ready_delay=0.1, crash_period=1.0) as kube, small_target(kube, spec, tmp_path) as target:
        kube.set_behaviour("image-pull-error", image=image_for(target.spec, "2.0-missing"))
        target.start_color(environment=ENV, color=Color.GREEN, version="2.0-missing", replicas=1)
        first = seen(target, Color.GREEN, lambda own: own.problem and own.problem.reason in pods.PULLING, "a pull")
        assert kind_of(first) is ProblemKind.WAITING
        green = seen(target, Color.GREEN, lambda own: own.failed, "the third failed pull")
        assert green.problem is not None and green.problem.reason in pods.PULLING
        assert "(the pull failed 3 times)" in green.problem.detail
        assert 'events: Failed: Failed to pull image "ghcr.io/arxos/arxos-backend:2.0-missing"' in green.problem.detail


@needs_emulator
def test_an_image_pulled_at_the_second_try_never_fails(target: KubernetesTarget, cluster: Cluster) -> None:
    kube = cluster.need_emulator()
    kube.set_behaviour("image-pull-error-once", image=image_for(target.spec, "2.0-late"))
    target.start_color(environment=ENV, color=Color.GREEN, version="2.0-late", replicas=2)
    kinds: list[ProblemKind | None] = []

    def runs(own: ColorState) -> bool:
        kinds.append(kind_of(own))
        return own.problem is None and sum(r.running for r in own.replicas) == 2

    seen(target, Color.GREEN, runs, "both pods running")
    assert ProblemKind.FAILED not in kinds


@needs_emulator
def test_an_image_name_that_does_not_parse_fails_at_once(k8s_spec: KubeSpec, tmp_path: Path, cluster: Cluster) -> None:
    cluster.need_emulator()
    spec = replace(k8s_spec, image="ghcr.io/arxos/Arxos-Backend:{version}")
    with KubernetesTarget(spec=spec, state_dir=tmp_path) as target:
        target.start_color(environment=ENV, color=Color.BLUE, version="1.0", replicas=1)
        blue = seen(target, Color.BLUE, lambda own: own.failed, "InvalidImageName")
        assert blue.problem is not None and blue.problem.reason == "InvalidImageName"
        assert "repository name (arxos/Arxos-Backend) must be lowercase" in blue.problem.detail


@needs_emulator
def test_a_passed_progress_deadline_fails(k8s_spec: KubeSpec, tmp_path: Path, cluster: Cluster) -> None:
    kube = cluster.need_emulator()
    kube.set_behaviour("never-ready", image=image_for(k8s_spec, "slow"))
    spec = replace(k8s_spec, progress_deadline=timedelta(seconds=1))
    with KubernetesTarget(spec=spec, state_dir=tmp_path) as target:
        target.start_color(environment=ENV, color=Color.BLUE, version="slow", replicas=2)
        assert not target.inspect(environment=ENV).colors[Color.BLUE].failed  # not yet
        blue = seen(target, Color.BLUE, lambda own: own.failed, "ProgressDeadlineExceeded", timeout=15)
        assert str(blue.problem).startswith("ProgressDeadlineExceeded: deployment arxos-blue: ProgressDeadlineExceeded")
        assert all(not r.running for r in blue.replicas)


@needs_emulator
@pytest.mark.parametrize("small_cluster", [Autoscaler(max_nodes=0)], indirect=True)
def test_pods_no_node_will_come_for_still_wait_and_say_so(
    small_cluster: KubeEmulator, spec: KubeSpec, tmp_path: Path
) -> None:
    with small_target(small_cluster, spec, tmp_path) as target:
        target.start_color(environment=ENV, color=Color.GREEN, version="1.0", replicas=3)
        green = seen(target, Color.GREEN, lambda own: "NotTriggerScaleUp" in str(own.problem), "no scale-up")
        assert kind_of(green) is ProblemKind.WAITING
        assert "no scale-up (NotTriggerScaleUp: pod didn't trigger scale-up: 1 max node group size reached)" in str(
            green.problem
        )
