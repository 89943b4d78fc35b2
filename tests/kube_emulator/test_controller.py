"""The simulated controller: ReplicaSets, Pods, rollouts, cascading deletes and pod behaviours."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from arxdeploy.testing.kube import BEHAVIOUR_ANNOTATION, KubeEmulator, NodeSpec, behaviours
from tests.kube_emulator.conftest import DEPLOYMENTS, MERGE, PODS, STRATEGIC, deployment, rollout_done, wait_for
from tests.support import wait_until


def pods_of(kube: KubeEmulator, selector: str = "app=web") -> list[dict[str, Any]]:
    return kube.objects("pods", "default", selector)


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in obj["status"].get("conditions", []) if c["type"] == kind)


def container(pod: dict[str, Any]) -> dict[str, Any]:
    statuses: list[dict[str, Any]] = pod["status"].get("containerStatuses") or [{}]
    return statuses[0]


def test_a_deployment_gets_a_replicaset_ready_pods_and_a_complete_status(kube: KubeEmulator, api: httpx.Client) -> None:
    api.post(DEPLOYMENTS, json=deployment(replicas=3))
    done = wait_for(api, f"{DEPLOYMENTS}/web", rollout_done)
    assert done["status"]["readyReplicas"] == 3
    assert condition(done, "Available")["status"] == "True"
    progressing = condition(done, "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("True", "NewReplicaSetAvailable")
    [replicaset] = kube.objects("replicasets", "default")
    owner = replicaset["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("Deployment", "web", done["metadata"]["uid"])
    pod_hash = replicaset["metadata"]["labels"]["pod-template-hash"]
    assert replicaset["metadata"]["name"] == f"web-{pod_hash}"
    assert replicaset["status"]["readyReplicas"] == 3
    pods = pods_of(kube)
    assert len(pods) == 3
    for pod in pods:
        assert pod["metadata"]["labels"] == {"app": "web", "pod-template-hash": pod_hash}
        assert pod["metadata"]["name"].startswith(f"web-{pod_hash}-")
        assert pod["status"]["phase"] == "Running"
        assert condition(pod, "Ready")["status"] == "True"
        assert "running" in container(pod)["state"]
        assert pod["status"]["podIP"].startswith("10.244.")


def test_scaling_adjusts_the_pods(kube: KubeEmulator, api: httpx.Client) -> None:
    api.post(DEPLOYMENTS, json=deployment(replicas=1))
    wait_for(api, f"{DEPLOYMENTS}/web", rollout_done)
    api.patch(f"{DEPLOYMENTS}/web", json={"spec": {"replicas": 4}}, headers=MERGE)
    wait_for(api, f"{DEPLOYMENTS}/web", lambda d: rollout_done(d) and d["status"]["availableReplicas"] == 4)
    assert len(pods_of(kube)) == 4
    api.patch(f"{DEPLOYMENTS}/web/scale", json={"spec": {"replicas": 2}}, headers=MERGE)
    wait_until(lambda: len(pods_of(kube)) == 2, what="scale down to 2 pods")
    wait_for(api, f"{DEPLOYMENTS}/web", lambda d: rollout_done(d) and d["status"]["replicas"] == 2)


def test_a_new_template_rolls_out_a_new_replicaset_and_removes_old_pods(kube: KubeEmulator, api: httpx.Client) -> None:
    api.post(DEPLOYMENTS, json=deployment(replicas=2))
    first = wait_for(api, f"{DEPLOYMENTS}/web", rollout_done)
    old_pods = {p["metadata"]["name"] for p in pods_of(kube)}
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "web", "image": "registry.example/web:2"}]}}}}
    second = api.patch(f"{DEPLOYMENTS}/web", json=patch, headers=STRATEGIC).json()
    assert second["metadata"]["generation"] == first["metadata"]["generation"] + 1
    wait_for(api, f"{DEPLOYMENTS}/web", lambda d: rollout_done(d) and d["metadata"]["generation"] == 2)
    wait_until(lambda: len(pods_of(kube)) == 2, what="old pods to go")
    pods = pods_of(kube)
    assert not old_pods & {p["metadata"]["name"] for p in pods}
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {"registry.example/web:2"}
    replicasets = {
        rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]: rs for rs in kube.objects("replicasets")
    }
    assert replicasets["1"]["spec"]["replicas"] == 0
    assert replicasets["2"]["spec"]["replicas"] == 2


def test_deleting_a_deployment_deletes_its_replicasets_and_pods(kube: KubeEmulator, api: httpx.Client) -> None:
    api.post(DEPLOYMENTS, json=deployment(replicas=2))
    wait_for(api, f"{DEPLOYMENTS}/web", rollout_done)
    assert api.delete(f"{DEPLOYMENTS}/web").status_code == 200
    assert kube.objects("replicasets") == []
    assert pods_of(kube) == []
    assert api.get(PODS).json()["items"] == []


def test_never_ready_pods_run_but_fail_readiness(kube: KubeEmulator, api: httpx.Client) -> None:
    api.post(DEPLOYMENTS, json=deployment(replicas=1, annotations={BEHAVIOUR_ANNOTATION: "never-ready"}))
    pod = wait_until(lambda: next((p for p in pods_of(kube) if p["status"]["phase"] == "Running"), None))
    assert condition(pod, "Ready")["status"] == "False"
    assert condition(pod, "ContainersReady")["reason"] == "ContainersNotReady"
    assert container(pod)["ready"] is False
    assert "running" in container(pod)["state"]
    status = api.get(f"{DEPLOYMENTS}/web").json()["status"]
    assert status.get("availableReplicas", 0) == 0
    assert condition(api.get(f"{DEPLOYMENTS}/web").json(), "Available")["status"] == "False"


def test_crashloop_pods_restart_with_increasing_counts() -> None:
    with KubeEmulator(ready_delay=0.05, crash_period=0.1) as kube:
        kube.set_behaviour("crashloop", image="registry.example/broken:1")
        with httpx.Client(base_url=kube.url, headers=kube.headers, verify=kube.ssl_context()) as api:
            api.post(DEPLOYMENTS, json=deployment(replicas=1, image="registry.example/broken:1"))

            def restarted_twice() -> dict[str, Any] | None:
                pods = pods_of(kube)
                return pods[0] if pods and container(pods[0]).get("restartCount", 0) >= 2 else None

            pod = wait_until(restarted_twice, what="two restarts")
            events = api.get("/api/v1/namespaces/default/events").json()["items"]
    state = container(pod)
    assert state["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert state["lastState"]["terminated"]["exitCode"] == 1
    assert state["ready"] is False
    assert pod["status"]["phase"] == "Running"
    backoffs = [e for e in events if e["reason"] == "BackOff"]
    assert backoffs
    assert backoffs[0]["type"] == "Warning"
    assert backoffs[0]["involvedObject"]["name"] == pod["metadata"]["name"]
    assert any(e["reason"] == "ScalingReplicaSet" and e["involvedObject"]["kind"] == "Deployment" for e in events)


@pytest.mark.parametrize("behaviour", ["image-pull-error", "unschedulable"])
def test_pods_that_never_start(kube: KubeEmulator, api: httpx.Client, behaviour: str) -> None:
    kube.set_behaviour(behaviour)  # the default for every pod
    api.post(DEPLOYMENTS, json=deployment(replicas=1))

    def settled() -> dict[str, Any] | None:
        pods = pods_of(kube)
        if not pods:
            return None
        if behaviour == "unschedulable":
            return pods[0] if pods[0]["status"].get("conditions") else None
        waiting = (container(pods[0]).get("state") or {}).get("waiting") or {}
        return pods[0] if waiting.get("reason") not in {None, "ContainerCreating"} else None

    pod = wait_until(settled, what=behaviour)
    assert pod["status"]["phase"] == "Pending"
    if behaviour == "unschedulable":
        scheduled = condition(pod, "PodScheduled")
        assert (scheduled["status"], scheduled["reason"]) == ("False", "Unschedulable")
        assert "containerStatuses" not in pod["status"]
        reasons = [e["reason"] for e in kube.objects("events", "default")]
        assert "FailedScheduling" in reasons
    else:
        assert container(pod)["state"]["waiting"]["reason"] in {"ErrImagePull", "ImagePullBackOff"}


def test_image_pull_errors_back_off() -> None:
    with (
        KubeEmulator(ready_delay=0.05, crash_period=0.1, default_behaviour="image-pull-error") as kube,
        httpx.Client(base_url=kube.url, headers=kube.headers, verify=kube.ssl_context()) as api,
    ):
        api.post(DEPLOYMENTS, json=deployment(replicas=1))
        wait_until(
            lambda: any(
                (container(p).get("state") or {}).get("waiting", {}).get("reason") == "ImagePullBackOff"
                for p in pods_of(kube)
            ),
            what="ImagePullBackOff",
        )


def test_ready_after_a_delay(kube: KubeEmulator, api: httpx.Client) -> None:
    api.post(DEPLOYMENTS, json=deployment(replicas=1, annotations={BEHAVIOUR_ANNOTATION: "ready-after-0.6s"}))
    running = wait_until(lambda: next((p for p in pods_of(kube) if p["status"]["phase"] == "Running"), None))
    assert condition(running, "Ready")["status"] == "False"
    wait_for(api, f"{DEPLOYMENTS}/web", rollout_done)


def test_a_stuck_rollout_exceeds_its_progress_deadline(kube: KubeEmulator, api: httpx.Client) -> None:
    kube.set_behaviour("never-ready", image="registry.example/stuck:1")
    api.post(DEPLOYMENTS, json=deployment(replicas=1, image="registry.example/stuck:1", progressDeadlineSeconds=1))
    stuck = wait_for(
        api,
        f"{DEPLOYMENTS}/web",
        lambda d: condition(d, "Progressing")["status"] == "False" if d["status"].get("conditions") else False,
    )
    progressing = condition(stuck, "Progressing")
    assert progressing["reason"] == "ProgressDeadlineExceeded"
    assert "has timed out progressing" in progressing["message"]


def test_pods_created_directly_get_a_status_too(kube: KubeEmulator, api: httpx.Client) -> None:
    pod = {
        "metadata": {"name": "solo", "labels": {"app": "solo"}},
        "spec": {"containers": [{"name": "c", "image": "i"}]},
    }
    assert api.post(PODS, json=pod).status_code == 201
    wait_for(
        api, f"{PODS}/solo", lambda p: p["status"]["phase"] == "Running" and condition(p, "Ready")["status"] == "True"
    )


def test_orphan_deletion_keeps_the_replicaset(kube: KubeEmulator, api: httpx.Client) -> None:
    api.post(DEPLOYMENTS, json=deployment(replicas=1))
    wait_for(api, f"{DEPLOYMENTS}/web", rollout_done)
    api.delete(f"{DEPLOYMENTS}/web", params={"propagationPolicy": "Orphan"})
    assert len(kube.objects("replicasets")) == 1
    assert len(pods_of(kube)) == 1


def test_pods_that_crash_after_a_while_make_the_deployment_unavailable(kube: KubeEmulator, api: httpx.Client) -> None:
    api.post(DEPLOYMENTS, json=deployment(replicas=1, annotations={BEHAVIOUR_ANNOTATION: "crashloop-after-0.5s"}))
    wait_for(api, f"{DEPLOYMENTS}/web", rollout_done)
    crashed = wait_for(api, f"{DEPLOYMENTS}/web", lambda d: d["status"].get("availableReplicas", 0) == 0)
    assert condition(crashed, "Available")["status"] == "False"
    waiting = container(pods_of(kube)[0])["state"]["waiting"]
    assert waiting["reason"] == "CrashLoopBackOff"


def test_recreate_replaces_all_pods(kube: KubeEmulator, api: httpx.Client) -> None:
    api.post(DEPLOYMENTS, json=deployment(replicas=2, strategy={"type": "Recreate"}))
    wait_for(api, f"{DEPLOYMENTS}/web", rollout_done)
    patch = {"spec": {"template": {"metadata": {"annotations": {"restartedAt": "now"}}}}}
    api.patch(f"{DEPLOYMENTS}/web", json=patch, headers=STRATEGIC)
    wait_for(api, f"{DEPLOYMENTS}/web", lambda d: rollout_done(d) and d["metadata"]["generation"] == 2)
    pods = pods_of(kube)
    assert len(pods) == 2
    assert {p["metadata"]["annotations"].get("restartedAt") for p in pods} == {"now"}


def test_one_failing_object_does_not_stop_the_controller(
    kube: KubeEmulator, api: httpx.Client, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = behaviours.pod_status

    def failing(pod: dict[str, Any], *args: Any) -> dict[str, Any]:
        if pod["metadata"]["name"] == "odd":
            raise RuntimeError("a pod the kubelet cannot handle")
        return real(pod, *args)

    monkeypatch.setattr(behaviours, "pod_status", failing)
    odd = {"metadata": {"name": "odd"}, "spec": {"containers": [{"name": "a", "image": "registry.example/a:1"}]}}
    assert api.post(PODS, json=odd).status_code == 201
    api.post(DEPLOYMENTS, json=deployment(replicas=1))
    wait_for(api, f"{DEPLOYMENTS}/web", rollout_done)
    assert "the simulated controller failed on Pod odd" in caplog.text


def test_a_malformed_pod_is_refused_before_it_is_stored(api: httpx.Client) -> None:
    odd = {"metadata": {"name": "odd"}, "spec": {"containers": ["not-a-container"]}}
    assert api.post(PODS, json=odd).status_code == 400
    assert api.get(f"{PODS}/odd").status_code == 404


def test_a_finished_rollout_never_times_out_when_pods_fail_later(kube: KubeEmulator, api: httpx.Client) -> None:
    body = deployment(replicas=1, annotations={BEHAVIOUR_ANNOTATION: "crashloop-after-0.3s"}, progressDeadlineSeconds=1)
    api.post(DEPLOYMENTS, json=body)
    wait_for(api, f"{DEPLOYMENTS}/web", rollout_done)
    wait_for(api, f"{DEPLOYMENTS}/web", lambda d: d["status"].get("availableReplicas", 0) == 0)
    started = time.monotonic()
    # past the deadline measured from the last progress, the condition still says finished
    later = wait_for(api, f"{DEPLOYMENTS}/web", lambda d: time.monotonic() - started > 1.2)
    assert condition(later, "Progressing")["reason"] == "NewReplicaSetAvailable"


def test_a_finished_rollout_scaled_up_never_times_out_while_its_new_pods_wait_for_a_node() -> None:
    # What an HPA scale-up meets on a full cluster: the deployment stays complete, as in
    # Kubernetes, where syncRolloutStatus estimates no progress for a complete deployment.
    with (
        KubeEmulator(ready_delay=0.05, nodes=(NodeSpec("tiny", pods=1),)) as kube,
        httpx.Client(base_url=kube.url, headers=kube.headers, verify=kube.ssl_context(), timeout=10) as api,
    ):
        api.post(DEPLOYMENTS, json=deployment(replicas=1, progressDeadlineSeconds=1))
        wait_for(api, f"{DEPLOYMENTS}/web", rollout_done)
        api.patch(f"{DEPLOYMENTS}/web", json={"spec": {"replicas": 3}}, headers=MERGE)
        wait_until(lambda: len(pods_of(kube)) == 3, what="two more pods")
        started = time.monotonic()
        later = wait_for(api, f"{DEPLOYMENTS}/web", lambda d: time.monotonic() - started > 1.2)
        assert condition(later, "Progressing")["reason"] == "NewReplicaSetAvailable"
        assert later["status"]["availableReplicas"] == 1

        # A new pod template is a new rollout: that one does time out.
        api.patch(
            f"{DEPLOYMENTS}/web",
            json={"spec": {"replicas": 1, "template": {"metadata": {"annotations": {"v": "2"}}}}},
            headers=STRATEGIC,
        )
        stuck = wait_for(api, f"{DEPLOYMENTS}/web", lambda d: condition(d, "Progressing")["status"] == "False")
        assert condition(stuck, "Progressing")["reason"] == "ProgressDeadlineExceeded"
