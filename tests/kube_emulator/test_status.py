"""The status and scale subresources are kept apart from the main resource."""

from __future__ import annotations

import httpx

from arxdeploy.testing.kube import KubeEmulator
from tests.kube_emulator.conftest import DEPLOYMENTS, MERGE, deployment


def test_main_resource_writes_ignore_status(api: httpx.Client) -> None:
    api.post(DEPLOYMENTS, json=dict(deployment(replicas=0), status={"replicas": 99}))
    assert api.get(f"{DEPLOYMENTS}/web").json()["status"].get("replicas") != 99
    patched = api.patch(
        f"{DEPLOYMENTS}/web", json={"status": {"replicas": 42}, "spec": {"paused": True}}, headers=MERGE
    )
    assert patched.json()["spec"]["paused"] is True
    assert patched.json()["status"].get("replicas") != 42


def test_status_writes_change_only_status() -> None:
    with (
        KubeEmulator(hpa_sync_period=None) as kube,  # no HPA controller: the test owns the status
        httpx.Client(base_url=kube.url, headers=kube.headers, verify=kube.ssl_context()) as api,
    ):
        _status_writes_change_only_status(api)


def _status_writes_change_only_status(api: httpx.Client) -> None:
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "maxReplicas": 4},
    }
    path = "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers/web"
    api.post("/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers", json=hpa)
    response = api.patch(
        f"{path}/status",
        json={"status": {"currentReplicas": 2}, "spec": {"maxReplicas": 9}, "metadata": {"labels": {"x": "y"}}},
        headers=MERGE,
    )
    assert response.status_code == 200
    body = api.get(f"{path}/status").json()
    assert body["status"]["currentReplicas"] == 2
    assert body["spec"]["maxReplicas"] == 4
    assert "labels" not in body["metadata"]
    assert body["metadata"]["generation"] == 1
    full = dict(body, status={"desiredReplicas": 3})
    assert api.put(f"{path}/status", json=full).json()["status"] == {"desiredReplicas": 3}


def test_scale_subresource_reads_and_writes_replicas(api: httpx.Client) -> None:
    api.post(DEPLOYMENTS, json=deployment(replicas=1))
    scale = api.get(f"{DEPLOYMENTS}/web/scale").json()
    assert scale["kind"] == "Scale"
    assert scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"]["replicas"] == 1
    assert scale["status"]["selector"] == "app=web"
    assert (
        api.patch(f"{DEPLOYMENTS}/web/scale", json={"spec": {"replicas": 3}}, headers=MERGE).json()["spec"]["replicas"]
        == 3
    )
    scale = api.get(f"{DEPLOYMENTS}/web/scale").json()
    scale["spec"]["replicas"] = 0
    assert api.put(f"{DEPLOYMENTS}/web/scale", json=scale).json()["spec"]["replicas"] == 0
    assert api.get(f"{DEPLOYMENTS}/web").json()["spec"]["replicas"] == 0
    assert api.put(f"{DEPLOYMENTS}/web/scale", json=dict(scale, spec={"replicas": 2})).status_code == 409  # stale


def test_unknown_subresources_are_not_found(api: httpx.Client) -> None:
    api.post("/api/v1/namespaces/default/configmaps", json={"metadata": {"name": "c"}})
    assert api.get("/api/v1/namespaces/default/configmaps/c/status").status_code == 404
