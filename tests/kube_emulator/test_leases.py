"""``coordination.k8s.io/v1`` Leases: what leader election and locks are built on."""

from __future__ import annotations

import json
from typing import Any

import httpx

from arxdeploy.testing.kube import KubeEmulator
from tests.kube_emulator.conftest import kubectl, needs_kubectl

LEASES = "/apis/coordination.k8s.io/v1/namespaces/default/leases"


def lease(name: str, holder: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": 15,
            "acquireTime": "2026-01-01T00:00:00.000000Z",
            "renewTime": "2026-01-01T00:00:00.000000Z",
            "leaseTransitions": 0,
        },
    }


def test_create_renew_and_a_stale_takeover_conflicts(api: httpx.Client) -> None:
    created = api.post(LEASES, json=lease("deploy-lock", "runner-a"))
    assert created.status_code == 201
    held = created.json()
    renewed = dict(held, spec=dict(held["spec"], renewTime="2026-01-01T00:00:10.000000Z"))
    assert api.put(f"{LEASES}/deploy-lock", json=renewed).status_code == 200
    # another holder read the lease before the renewal: its takeover must fail, not overwrite
    takeover = dict(held, spec=dict(held["spec"], holderIdentity="runner-b", leaseTransitions=1))
    response = api.put(f"{LEASES}/deploy-lock", json=takeover)
    assert response.status_code == 409
    assert response.json()["reason"] == "Conflict"
    assert response.json()["details"] == {"name": "deploy-lock", "group": "coordination.k8s.io", "kind": "leases"}
    assert api.get(f"{LEASES}/deploy-lock").json()["spec"]["holderIdentity"] == "runner-a"
    assert api.delete(f"{LEASES}/deploy-lock").status_code == 200
    assert api.get(f"{LEASES}/deploy-lock").status_code == 404


def test_label_selectors_and_watch(api: httpx.Client) -> None:
    start = api.get(LEASES).json()["metadata"]["resourceVersion"]
    api.post(LEASES, json=lease("a", "x", app="web"))
    api.post(LEASES, json=lease("b", "y", app="db"))
    names = [i["metadata"]["name"] for i in api.get(LEASES, params={"labelSelector": "app=web"}).json()["items"]]
    assert names == ["a"]
    seen = []
    with api.stream("GET", LEASES, params={"watch": "1", "resourceVersion": start, "timeoutSeconds": "5"}) as stream:
        for line in stream.iter_lines():
            seen.append((json.loads(line)["type"], json.loads(line)["object"]["metadata"]["name"]))
            if len(seen) == 2:
                break
    assert seen == [("ADDED", "a"), ("ADDED", "b")]


def test_the_official_client_and_lightkube_find_leases(kube: KubeEmulator) -> None:
    from lightkube import Client, KubeConfig
    from lightkube.models.coordination_v1 import LeaseSpec
    from lightkube.models.meta_v1 import ObjectMeta
    from lightkube.resources.coordination_v1 import Lease

    from kubernetes import client, config

    light = Client(KubeConfig.from_file(str(kube.kubeconfig)))
    try:
        light.create(
            Lease(metadata=ObjectMeta(name="lock"), spec=LeaseSpec(holderIdentity="me", leaseDurationSeconds=10))
        )
        assert light.get(Lease, "lock").spec.holderIdentity == "me"
    finally:
        light.close()
    api_client = config.new_client_from_config(config_file=str(kube.kubeconfig))
    try:
        found = client.CoordinationV1Api(api_client).read_namespaced_lease("lock", "default")
        assert found.spec.lease_duration_seconds == 10
    finally:
        api_client.close()


@needs_kubectl
def test_kubectl_discovers_leases(kube: KubeEmulator) -> None:
    manifest = json.dumps(lease("lock", "kubectl"))
    assert "lease.coordination.k8s.io/lock created" in kubectl(kube.kubeconfig, "apply", "-f", "-", stdin=manifest)
    holder = kubectl(kube.kubeconfig, "get", "lease", "lock", "-o", "jsonpath={.spec.holderIdentity}")
    assert holder == "kubectl"
    assert "lock" in kubectl(kube.kubeconfig, "get", "leases.coordination.k8s.io", "-o", "name")
