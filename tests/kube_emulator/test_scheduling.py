"""Nodes, the scheduler and the simulated cluster autoscaler: pods that do not fit wait, as on a cluster."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from arxdeploy.testing.kube import Autoscaler, KubeEmulator, NodeSpec
from tests.kube_emulator.conftest import (
    DEPLOYMENTS,
    deployment,
    events_about,
    kubectl,
    needs_kubectl,
    rollout_done,
    wait_for,
)
from tests.support import wait_until

SMALL = NodeSpec("small", cpu="1", memory="1Gi", pods=10)


def sized(cpu: str, replicas: int = 1, **spec: Any) -> dict[str, Any]:
    body = deployment(replicas=replicas, **spec)
    body["spec"]["template"]["spec"]["containers"][0]["resources"] = {"requests": {"cpu": cpu, "memory": "64Mi"}}
    return body


def pods(kube: KubeEmulator) -> list[dict[str, Any]]:
    return kube.objects("pods", "default", "app=web")


def scheduled(pod: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in pod["status"].get("conditions") or [] if c["type"] == "PodScheduled")


def unschedulable(kube: KubeEmulator, count: int) -> list[dict[str, Any]]:
    def waiting() -> list[dict[str, Any]] | None:
        found = [p for p in pods(kube) if p["status"].get("conditions") and scheduled(p)["status"] == "False"]
        return found if len(found) == count else None

    return wait_until(waiting, what=f"{count} unschedulable pods")


def reasons(api: httpx.Client, name: str) -> list[str]:
    return [e["reason"] for e in events_about(api, name)]


@pytest.fixture
def api_of() -> Iterator[Any]:
    clients: list[httpx.Client] = []

    def make(kube: KubeEmulator) -> httpx.Client:
        client = httpx.Client(base_url=kube.url, headers=kube.headers, verify=kube.ssl_context(), timeout=10)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def test_every_pod_is_bound_to_the_default_node(kube: KubeEmulator, api: httpx.Client) -> None:
    [node] = kube.objects("nodes")
    assert node["metadata"]["name"] == "emulator-node-1"
    assert [c["type"] for c in node["status"]["conditions"]] == ["Ready"]
    api.post(DEPLOYMENTS, json=deployment(replicas=2))
    wait_for(api, f"{DEPLOYMENTS}/web", rollout_done)
    for pod in pods(kube):
        assert pod["spec"]["nodeName"] == "emulator-node-1"
        assert pod["status"]["hostIP"] == node["status"]["addresses"][0]["address"]
        [event] = [e for e in events_about(api, pod["metadata"]["name"]) if e["reason"] == "Scheduled"]
        assert event["message"] == f"Successfully assigned default/{pod['metadata']['name']} to emulator-node-1"
        assert event["reportingComponent"] == "default-scheduler"
        assert event["action"] == "Binding"
    listed = api.get("/api/v1/namespaces/default/pods", params={"fieldSelector": "spec.nodeName=emulator-node-1"})
    assert len(listed.json()["items"]) == 2


def test_pods_that_do_not_fit_wait_pending_with_the_schedulers_reason(api_of: Any) -> None:
    with KubeEmulator(ready_delay=0.05, nodes=(SMALL,)) as kube:
        api = api_of(kube)
        api.post(DEPLOYMENTS, json=sized("600m", replicas=2))
        [pod] = unschedulable(kube, 1)
        condition = scheduled(pod)
        assert (condition["status"], condition["reason"]) == ("False", "Unschedulable")
        message = (
            "0/1 nodes are available: 1 Insufficient cpu. "
            "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
        )
        assert condition["message"] == message
        assert pod["status"]["phase"] == "Pending"
        assert "nodeName" not in pod["spec"]
        [failed] = [e for e in events_about(api, pod["metadata"]["name"]) if e["reason"] == "FailedScheduling"]
        assert (failed["type"], failed["message"], failed["reportingComponent"]) == (
            "Warning",
            message,
            "default-scheduler",
        )
        deployment_status = wait_for(api, f"{DEPLOYMENTS}/web", lambda d: d["status"].get("readyReplicas") == 1)
        assert deployment_status["status"]["replicas"] == 2


def test_a_node_added_later_takes_the_waiting_pods(api_of: Any) -> None:
    with KubeEmulator(ready_delay=0.05, nodes=(SMALL,)) as kube:
        api = api_of(kube)
        api.post(DEPLOYMENTS, json=sized("600m", replicas=2))
        unschedulable(kube, 1)
        kube.add_node(NodeSpec("big", cpu="8", memory="32Gi"))
        wait_for(api, f"{DEPLOYMENTS}/web", rollout_done)
        assert sorted(p["spec"]["nodeName"] for p in pods(kube)) == ["big", "small"]


def test_the_autoscaler_adds_a_node_after_its_delay(api_of: Any) -> None:
    autoscaler = Autoscaler(delay=0.3, template=NodeSpec(cpu="2", memory="4Gi"), max_nodes=2, group="pool")
    with KubeEmulator(ready_delay=0.05, nodes=(SMALL,), autoscaler=autoscaler) as kube:
        api = api_of(kube)
        api.post(DEPLOYMENTS, json=sized("600m", replicas=3))

        def triggered() -> list[dict[str, Any]] | None:
            found = [
                e
                for e in api.get("/api/v1/namespaces/default/events").json()["items"]
                if e["reason"] == "TriggeredScaleUp"
            ]
            return found if len(found) == 2 else None

        events = wait_until(triggered, what="two pods to trigger a scale-up")
        # one node takes both waiting pods
        assert {e["message"] for e in events} == {"pod triggered scale-up: [{pool 0->1 (max: 2)}]"}
        assert {e["source"]["component"] for e in events} == {"cluster-autoscaler"}
        wait_for(api, f"{DEPLOYMENTS}/web", rollout_done)
        added = kube.get("nodes", None, "pool-1")
        assert added is not None
        assert added["metadata"]["labels"]["arxdeploy.test/node-group"] == "pool"
        assert sorted(p["spec"]["nodeName"] for p in pods(kube)) == ["pool-1", "pool-1", "small"]
        for event in events:
            assert "FailedScheduling" in reasons(api, event["involvedObject"]["name"])
        assert len(kube.objects("nodes")) == 2


def test_no_node_will_come_when_the_group_is_at_its_maximum(api_of: Any) -> None:
    with KubeEmulator(ready_delay=0.05, nodes=(SMALL,), autoscaler=Autoscaler(max_nodes=0)) as kube:
        api = api_of(kube)
        api.post(DEPLOYMENTS, json=sized("2"))
        [pod] = unschedulable(kube, 1)

        def verdict() -> list[dict[str, Any]] | None:
            found = [e for e in events_about(api, pod["metadata"]["name"]) if e["reason"] == "NotTriggerScaleUp"]
            return found or None

        [event] = wait_until(verdict, what="NotTriggerScaleUp")
        assert event["message"] == "pod didn't trigger scale-up: 1 max node group size reached"
        assert len(kube.objects("nodes")) == 1


def test_a_pod_bigger_than_any_new_node_triggers_nothing(api_of: Any) -> None:
    autoscaler = Autoscaler(delay=0.1, template=NodeSpec(cpu="2", memory="4Gi"))
    with KubeEmulator(ready_delay=0.05, nodes=(SMALL,), autoscaler=autoscaler) as kube:
        api = api_of(kube)
        api.post(DEPLOYMENTS, json=sized("3"))
        [pod] = unschedulable(kube, 1)
        wait_until(lambda: "NotTriggerScaleUp" in reasons(api, pod["metadata"]["name"]), what="NotTriggerScaleUp")
        [event] = [e for e in events_about(api, pod["metadata"]["name"]) if e["reason"] == "NotTriggerScaleUp"]
        assert event["message"] == "pod didn't trigger scale-up: 1 Insufficient cpu"


def test_node_selectors_and_cordoned_nodes(api_of: Any) -> None:
    labelled = NodeSpec("gpu", labels=(("accelerator", "a100"),))
    with KubeEmulator(ready_delay=0.05, nodes=(SMALL, labelled)) as kube:
        api = api_of(kube)
        body = deployment(replicas=1)
        body["spec"]["template"]["spec"]["nodeSelector"] = {"accelerator": "h100"}
        api.post(DEPLOYMENTS, json=body)
        [pod] = unschedulable(kube, 1)
        assert scheduled(pod)["message"] == (
            "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector. "
            "preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
        )
        api.patch(
            "/api/v1/nodes/small",
            json={"spec": {"unschedulable": True}},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        body["spec"]["template"]["spec"]["nodeSelector"] = {"accelerator": "a100"}
        api.put(f"{DEPLOYMENTS}/web", json=body)
        wait_for(api, f"{DEPLOYMENTS}/web", rollout_done)
        assert [p["spec"]["nodeName"] for p in pods(kube)] == ["gpu"]


def test_pod_slots_run_out_too(api_of: Any) -> None:
    with KubeEmulator(ready_delay=0.05, nodes=(NodeSpec("tiny", pods=1),)) as kube:
        api = api_of(kube)
        api.post(DEPLOYMENTS, json=deployment(replicas=2))
        [pod] = unschedulable(kube, 1)
        assert scheduled(pod)["message"].startswith("0/1 nodes are available: 1 Too many pods.")


def test_limits_alone_are_the_requests_of_a_pod(api: httpx.Client) -> None:
    pod = {
        "metadata": {"name": "limited"},
        "spec": {"containers": [{"name": "a", "image": "registry.example/a:1", "resources": {"limits": {"cpu": "1"}}}]},
    }
    created = api.post("/api/v1/namespaces/default/pods", json=pod).json()
    assert created["spec"]["containers"][0]["resources"] == {"limits": {"cpu": "1"}, "requests": {"cpu": "1"}}


@needs_kubectl
def test_kubectl_describe_shows_why_a_pod_waits(api_of: Any) -> None:
    with KubeEmulator(ready_delay=0.05, nodes=(SMALL,), autoscaler=Autoscaler(max_nodes=0)) as kube:
        api = api_of(kube)
        api.post(DEPLOYMENTS, json=sized("2"))
        [pod] = unschedulable(kube, 1)
        name = pod["metadata"]["name"]
        wait_until(lambda: "NotTriggerScaleUp" in reasons(api, name), what="NotTriggerScaleUp")
        described = kubectl(kube.kubeconfig, "describe", "pod", name)
        assert "FailedScheduling" in described
        assert "default-scheduler" in described
        assert "0/1 nodes are available: 1 Insufficient cpu." in described
        assert "NotTriggerScaleUp" in described
        assert "cluster-autoscaler" in described
        assert "small" in kubectl(kube.kubeconfig, "get", "nodes", "-o", "name")
