"""Events as the components write them (kubelet image pulls, the deployment controller), listed as
kubectl describe lists them, and the same objects through ``events.k8s.io/v1``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from arxdeploy.testing.kube import BEHAVIOUR_ANNOTATION, KubeEmulator
from arxdeploy.testing.kube.behaviours import Behaviours, pull_failures
from arxdeploy.testing.kube.images import parse_error
from tests.kube_emulator.conftest import (
    DEPLOYMENTS,
    EVENTS,
    deployment,
    events_about,
    kubectl,
    needs_kubectl,
    rollout_done,
    wait_for,
)
from tests.support import wait_until

NEW_EVENTS = "/apis/events.k8s.io/v1/namespaces/default/events"


@pytest.fixture
def slow() -> Iterator[tuple[KubeEmulator, httpx.Client]]:
    """Pulls that take a moment, so each step of a pod's start is seen."""
    with (
        KubeEmulator(ready_delay=0.1, crash_period=0.3) as kube,
        httpx.Client(base_url=kube.url, headers=kube.headers, verify=kube.ssl_context(), timeout=10) as api,
    ):
        yield kube, api


def the_pod(kube: KubeEmulator) -> dict[str, Any]:
    return wait_until(lambda: (kube.objects("pods", "default", "app=web") or [None])[0], what="the pod")


def waiting_reason(kube: KubeEmulator) -> str | None:
    found = kube.objects("pods", "default", "app=web")
    statuses = found[0]["status"].get("containerStatuses") if found else None
    return ((statuses[0].get("state") or {}).get("waiting") or {}).get("reason") if statuses else None


def kubelet_events(api: httpx.Client, pod: str) -> list[tuple[str, str, str]]:
    return [
        (e["type"], e["reason"], e["message"])
        for e in events_about(api, pod)
        if e["source"].get("component") == "kubelet"
    ]


def test_a_pod_that_starts_records_pulling_pulled_created_started(kube: KubeEmulator, api: httpx.Client) -> None:
    api.post(DEPLOYMENTS, json=deployment(replicas=1))
    wait_for(api, f"{DEPLOYMENTS}/web", rollout_done)
    pod = the_pod(kube)
    found = [e for e in events_about(api, pod["metadata"]["name"]) if e["source"].get("component") == "kubelet"]
    assert [e["reason"] for e in found] == ["Pulling", "Pulled", "Created", "Started"]
    assert found[0]["message"] == 'Pulling image "registry.example/web:1"'
    assert found[0]["involvedObject"]["fieldPath"] == "spec.containers{web}"
    assert found[0]["source"]["host"] == pod["spec"]["nodeName"]
    assert found[0]["count"] == 1
    assert found[0]["firstTimestamp"] == found[0]["lastTimestamp"]
    assert found[0]["metadata"]["name"].startswith(pod["metadata"]["name"] + ".")


def test_a_pull_that_fails_once_then_succeeds(slow: tuple[KubeEmulator, httpx.Client]) -> None:
    kube, api = slow
    api.post(DEPLOYMENTS, json=deployment(replicas=1, annotations={BEHAVIOUR_ANNOTATION: "image-pull-error-once"}))
    wait_for(api, f"{DEPLOYMENTS}/web", rollout_done)  # the pull's failure and back-off are in its events
    image = "registry.example/web:1"
    not_found = f'failed to pull and unpack image "{image}": failed to resolve reference "{image}": {image}: not found'
    assert kubelet_events(api, the_pod(kube)["metadata"]["name"]) == [
        ("Normal", "Pulling", f'Pulling image "{image}"'),
        ("Warning", "Failed", f'Failed to pull image "{image}": {not_found}'),
        ("Warning", "Failed", "Error: ErrImagePull"),
        ("Normal", "BackOff", f'Back-off pulling image "{image}"'),
        ("Warning", "Failed", "Error: ImagePullBackOff"),
        (
            "Normal",
            "Pulled",
            f'Successfully pulled image "{image}" in 1.2s (1.2s including waiting). Image size: 12345678 bytes.',
        ),
        ("Normal", "Created", "Created container: web"),
        ("Normal", "Started", "Started container web"),
    ]


def test_a_pull_that_keeps_failing_backs_off(slow: tuple[KubeEmulator, httpx.Client]) -> None:
    kube, api = slow
    api.post(DEPLOYMENTS, json=deployment(replicas=1, annotations={BEHAVIOUR_ANNOTATION: "image-pull-error"}))
    wait_until(lambda: waiting_reason(kube) == "ImagePullBackOff", what="ImagePullBackOff")
    reasons = [reason for _, reason, _ in kubelet_events(api, the_pod(kube)["metadata"]["name"])]
    # Retries bump the counts of these same events (the correlator's key): never new ones.
    assert reasons == ["Pulling", "Failed", "Failed", "BackOff", "Failed"]
    assert the_pod(kube)["status"]["phase"] == "Pending"


def test_a_pull_that_keeps_failing_is_tried_again_after_each_back_off(slow: tuple[KubeEmulator, httpx.Client]) -> None:
    kube, api = slow
    api.post(DEPLOYMENTS, json=deployment(replicas=1, annotations={BEHAVIOUR_ANNOTATION: "image-pull-error"}))
    name = the_pod(kube)["metadata"]["name"]

    def counts() -> dict[str, int] | None:
        """Each kubelet event's count, by its message without the image (the scheduler's have none)."""
        found = {e["message"].split(' "')[0]: e["count"] for e in events_about(api, name) if "count" in e}
        return found if found.get("Failed to pull image", 0) >= 3 else None

    found = wait_until(counts, what="a third failed pull")
    assert found["Pulling image"] >= 3  # each try pulls again
    assert found["Error: ErrImagePull"] >= 3
    assert found["Back-off pulling image"] >= 2 and found["Error: ImagePullBackOff"] >= 2
    assert the_pod(kube)["status"]["phase"] == "Pending"


def test_pulls_are_tried_again_on_the_kubelets_back_off_schedule() -> None:
    # crash_period stands for the kubelet's 10 s: 10, 20, 40, 80, 160 s, then 300 s at most
    rules = Behaviours(ready_delay=1, crash_period=10)
    failures = pull_failures("image-pull-error", rules, until=700)
    assert failures == [(1, 10), (11, 20), (31, 40), (71, 80), (151, 160), (311, 300), (611, 300)]
    assert pull_failures("image-pull-error-once", rules, until=700) == [(1, 10)]


@pytest.mark.parametrize(
    ("image", "error"),
    [
        ("registry.example/Web:1", "invalid reference format: repository name (Web) must be lowercase"),
        ("Web", "invalid reference format: repository name (library/Web) must be lowercase"),
        ("registry.example/web:1:2", "invalid reference format"),
        ("registry.example/web:1", None),
        ("localhost:5000/team/web@sha256:" + "a" * 64, None),
        ("nginx", None),
    ],
)
def test_image_references_parse_as_the_kubelets(image: str, error: str | None) -> None:
    assert parse_error(image) == error


def test_an_invalid_image_name_never_starts(kube: KubeEmulator, api: httpx.Client) -> None:
    image = "registry.example/Web:1"
    api.post(DEPLOYMENTS, json=deployment(replicas=1, image=image))
    wait_until(lambda: waiting_reason(kube) == "InvalidImageName", what="InvalidImageName")
    pod = the_pod(kube)
    waiting = pod["status"]["containerStatuses"][0]["state"]["waiting"]
    message = (
        f'Failed to apply default image tag "{image}": couldn\'t parse image reference "{image}": '
        "invalid reference format: repository name (Web) must be lowercase"
    )
    assert waiting["message"] == message
    assert kubelet_events(api, pod["metadata"]["name"]) == [
        ("Warning", "InspectFailed", message),
        ("Warning", "Failed", "Error: InvalidImageName"),
    ]


def test_deployment_events_and_field_selectors(kube: KubeEmulator, api: httpx.Client) -> None:
    api.post(DEPLOYMENTS, json=deployment(replicas=1))
    wait_for(api, f"{DEPLOYMENTS}/web", rollout_done)
    api.patch(
        f"{DEPLOYMENTS}/web/scale",
        json={"spec": {"replicas": 3}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    wait_for(api, f"{DEPLOYMENTS}/web", rollout_done)
    selector = "involvedObject.kind=Deployment,involvedObject.name=web"
    found = api.get(EVENTS, params={"fieldSelector": selector}).json()["items"]
    replicaset = kube.objects("replicasets", "default")[0]["metadata"]["name"]
    assert [e["message"] for e in found] == [
        f"Scaled up replica set {replicaset} from 0 to 1",
        f"Scaled up replica set {replicaset} from 1 to 3",
    ]
    assert {e["source"]["component"] for e in found} == {"deployment-controller"}
    pod_events = api.get(EVENTS, params={"fieldSelector": "involvedObject.kind=Pod,reason=Started"}).json()["items"]
    assert len(pod_events) == 3
    assert api.get(EVENTS, params={"fieldSelector": "source=kubelet,type=Warning"}).json()["items"] == []


def test_the_same_events_through_events_k8s_io(kube: KubeEmulator, api: httpx.Client) -> None:
    api.post(DEPLOYMENTS, json=deployment(replicas=1))
    wait_for(api, f"{DEPLOYMENTS}/web", rollout_done)
    pod = the_pod(kube)["metadata"]["name"]
    listed = api.get(NEW_EVENTS, params={"fieldSelector": f"involvedObject.name={pod}"}).json()
    assert (listed["kind"], listed["apiVersion"]) == ("EventList", "events.k8s.io/v1")
    scheduled = next(e for e in listed["items"] if e["reason"] == "Scheduled")
    assert scheduled["regarding"]["name"] == pod
    assert scheduled["note"].startswith(f"Successfully assigned default/{pod}")
    assert scheduled["reportingController"] == "default-scheduler"
    assert scheduled["action"] == "Binding"
    pulling = next(e for e in listed["items"] if e["reason"] == "Pulling")
    assert pulling["deprecatedSource"]["component"] == "kubelet"
    assert pulling["deprecatedCount"] == 1
    one = api.get(f"{NEW_EVENTS}/{scheduled['metadata']['name']}").json()
    assert one == scheduled
    written = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "mine"},
        "eventTime": "2026-01-01T00:00:00.000000Z",
        "reportingController": "example.com/tester",
        "reportingInstance": "tester-1",
        "action": "Testing",
        "reason": "Tested",
        "note": "written through events.k8s.io",
        "type": "Normal",
        "regarding": {"kind": "Pod", "namespace": "default", "name": pod},
    }
    assert api.post(NEW_EVENTS, json=written).status_code == 201
    core = api.get(f"{EVENTS}/mine").json()
    assert (core["message"], core["reportingComponent"], core["involvedObject"]["name"]) == (
        "written through events.k8s.io",
        "example.com/tester",
        pod,
    )
    assert api.delete(f"{NEW_EVENTS}/mine").status_code == 200
    assert api.get(f"{EVENTS}/mine").status_code == 404
    assert api.get(f"{NEW_EVENTS}/mine").json()["details"]["group"] == "events.k8s.io"


@needs_kubectl
def test_kubectl_describe_and_events_list_what_the_kubelet_said(kube: KubeEmulator, api: httpx.Client) -> None:
    api.post(DEPLOYMENTS, json=deployment(replicas=1, annotations={BEHAVIOUR_ANNOTATION: "image-pull-error"}))
    wait_until(lambda: waiting_reason(kube) == "ImagePullBackOff", what="ImagePullBackOff")
    pod = the_pod(kube)["metadata"]["name"]
    described = kubectl(kube.kubeconfig, "describe", "pod", pod)
    assert "Back-off pulling image" in described
    assert "Error: ErrImagePull" in described
    assert "kubelet" in described
    listed = kubectl(kube.kubeconfig, "events", "--for", f"pod/{pod}")
    assert "Pulling" in listed
    assert "ImagePullBackOff" in listed
