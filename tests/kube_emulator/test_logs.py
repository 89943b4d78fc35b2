"""``pods/{name}/log``: what each simulated container printed, chosen as the API server and the
kubelet choose it (``container``, ``previous``), cut by ``tailLines``; and what ``kubectl logs`` shows."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from arxdeploy.testing.kube import BEHAVIOUR_ANNOTATION, KubeEmulator, NodeSpec
from tests.kube_emulator.conftest import DEPLOYMENTS, PODS, deployment, kubectl, needs_kubectl, rollout_done, wait_for
from tests.support import wait_until

IMAGE = "registry.example/web:1"


def pod_of(kube: KubeEmulator, check: Any = bool) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        pods = kube.objects("pods", "default", "app=web")
        return pods[0] if pods and check(pods[0]) else None

    return wait_until(found, what="the pod")


def waiting(pod: dict[str, Any]) -> str | None:
    statuses = (pod.get("status") or {}).get("containerStatuses") or [{}]
    return ((statuses[0].get("state") or {}).get("waiting") or {}).get("reason")


def log(api: httpx.Client, pod: str, **params: str) -> httpx.Response:
    return api.get(f"{PODS}/{pod}/log", params=params)


def test_a_running_container_printed_its_start_its_ports_and_readiness(kube: KubeEmulator, api: httpx.Client) -> None:
    api.post(DEPLOYMENTS, json=deployment(replicas=1))
    wait_for(api, f"{DEPLOYMENTS}/web", rollout_done)
    name = pod_of(kube)["metadata"]["name"]
    answer = log(api, name)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    assert answer.text == f"starting {IMAGE}\nlistening on :8080\nready\n"
    assert log(api, name, tailLines="1").text == "ready\n"
    assert log(api, name, tailLines="0").text == ""
    stamped = log(api, name, timestamps="true", container="web").text.splitlines()
    assert [line.split(" ", 1)[1] for line in stamped] == [f"starting {IMAGE}", "listening on :8080", "ready"]
    assert all(line.split(" ", 1)[0].endswith("Z") for line in stamped)


def test_a_crash_looping_container_shows_its_last_run_now_and_with_previous(
    kube: KubeEmulator, api: httpx.Client
) -> None:
    api.post(DEPLOYMENTS, json=deployment(replicas=1, annotations={BEHAVIOUR_ANNOTATION: "crashloop"}))
    name = pod_of(kube, lambda p: waiting(p) == "CrashLoopBackOff")["metadata"]["name"]
    ended = [f"starting {IMAGE}", "listening on :8080", "exiting with status 1"]
    assert log(api, name).text.splitlines() == ended  # waiting to restart: the last run
    assert log(api, name, previous="true").text.splitlines() == ended


def test_previous_without_a_terminated_run_and_containers_that_never_ran_are_400(
    kube: KubeEmulator, api: httpx.Client
) -> None:
    api.post(DEPLOYMENTS, json=deployment(replicas=1))
    wait_for(api, f"{DEPLOYMENTS}/web", rollout_done)
    name = pod_of(kube)["metadata"]["name"]
    answer = log(api, name, previous="true")
    assert answer.status_code == 400
    assert answer.json()["message"] == f'previous terminated container "web" in pod "{name}" not found'

    kube.set_behaviour("image-pull-error", image="registry.example/web:2")
    api.post(DEPLOYMENTS, json=deployment(name="pull", replicas=1, image="registry.example/web:2"))
    pulling = wait_until(
        lambda: next(
            (p for p in kube.objects("pods", "default", "app=pull") if waiting(p) == "ImagePullBackOff"), None
        ),
        what="ImagePullBackOff",
    )
    answer = log(api, pulling["metadata"]["name"])
    assert (answer.status_code, answer.json()["reason"]) == (400, "BadRequest")
    text = (
        f'container "web" in pod "{pulling["metadata"]["name"]}" is waiting to start: trying and failing to pull image'
    )
    assert answer.json()["message"] == text


def test_a_pod_on_no_node_has_an_empty_log() -> None:
    with (
        KubeEmulator(ready_delay=0.05, nodes=(NodeSpec("tiny", cpu="100m"),)) as kube,
        httpx.Client(base_url=kube.url, headers=kube.headers, verify=kube.ssl_context(), timeout=10) as api,
    ):
        big = deployment(replicas=1)
        big["spec"]["template"]["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "2"}}
        api.post(DEPLOYMENTS, json=big)
        pod = pod_of(kube, lambda p: (p.get("status") or {}).get("conditions"))
        assert not pod["spec"].get("nodeName")
        answer = log(api, pod["metadata"]["name"])
        assert (answer.status_code, answer.text) == (200, "")


def test_the_container_must_be_named_when_there_are_several_and_must_exist(
    kube: KubeEmulator, api: httpx.Client
) -> None:
    two = deployment(replicas=1)
    two["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "registry.example/side:1"})
    api.post(DEPLOYMENTS, json=two)
    wait_for(api, f"{DEPLOYMENTS}/web", rollout_done)
    name = pod_of(kube)["metadata"]["name"]
    answer = log(api, name)
    assert answer.status_code == 400
    assert (
        answer.json()["message"] == f"a container name must be specified for pod {name}, choose one of: [web sidecar]"
    )
    assert log(api, name, container="sidecar").text.startswith("starting registry.example/side:1\n")
    wrong = log(api, name, container="nope")
    assert (wrong.status_code, wrong.json()["message"]) == (400, f"container nope is not valid for pod {name}")
    negative = log(api, name, container="web", tailLines="-1")
    assert negative.status_code == 422
    assert negative.json()["message"].endswith("tailLines: Invalid value: -1: must be greater than or equal to 0")
    assert api.post(f"{PODS}/{name}/log").status_code == 405


@needs_kubectl
def test_kubectl_logs_reads_them(kube: KubeEmulator, api: httpx.Client) -> None:
    api.post(DEPLOYMENTS, json=deployment(replicas=1))
    wait_for(api, f"{DEPLOYMENTS}/web", rollout_done)
    name = pod_of(kube)["metadata"]["name"]
    assert kubectl(kube.kubeconfig, "logs", name, "--tail=2") == "listening on :8080\nready\n"
    refused = kubectl(kube.kubeconfig, "logs", name, "--previous", ok=False)
    assert f'previous terminated container "web" in pod "{name}" not found' in refused


@pytest.mark.parametrize("path", ["log/extra", "logs"])
def test_other_paths_under_a_pod_are_not_found(kube: KubeEmulator, api: httpx.Client, path: str) -> None:
    api.post(DEPLOYMENTS, json=deployment(replicas=1))
    name = pod_of(kube)["metadata"]["name"]
    assert api.get(f"{PODS}/{name}/{path}").status_code == 404
