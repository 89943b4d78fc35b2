"""Fixtures for the Kubernetes API emulator: a fresh emulator per test, reached over real HTTPS."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from arxdeploy.testing.kube import KubeEmulator
from tests.support import wait_until

MERGE = {"Content-Type": "application/merge-patch+json"}
JSON_PATCH = {"Content-Type": "application/json-patch+json"}
STRATEGIC = {"Content-Type": "application/strategic-merge-patch+json"}
APPLY = {"Content-Type": "application/apply-patch+yaml"}
DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
PODS = "/api/v1/namespaces/default/pods"
SERVICES = "/api/v1/namespaces/default/services"
EVENTS = "/api/v1/namespaces/default/events"
KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")


@pytest.fixture
def kube() -> Iterator[KubeEmulator]:
    with KubeEmulator(ready_delay=0.05) as emulator:
        yield emulator


@pytest.fixture
def api(kube: KubeEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=kube.url, headers=kube.headers, verify=kube.ssl_context(), timeout=10) as client:
        yield client


def deployment(
    name: str = "web",
    replicas: int = 2,
    image: str = "registry.example/web:1",
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    labels = labels or {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": dict(labels)},
            "template": {
                "metadata": {"labels": dict(labels), "annotations": annotations or {}},
                "spec": {"containers": [{"name": "web", "image": image, "ports": [{"containerPort": 8080}]}]},
            },
            **spec,
        },
    }


def configmap(name: str, labels: dict[str, str] | None = None, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels or {}}, "data": data}


def wait_for(api: httpx.Client, path: str, check: Any, timeout: float = 10.0) -> dict[str, Any]:
    """GET ``path`` until ``check(object)`` holds; returns the object."""

    def probe() -> dict[str, Any] | None:
        response = api.get(path)
        if response.status_code != 200:
            return None
        body: dict[str, Any] = response.json()
        return body if check(body) else None

    return wait_until(probe, timeout=timeout, what=f"{path} to satisfy {check}")


def rollout_done(obj: dict[str, Any]) -> bool:
    status, spec = obj.get("status") or {}, obj["spec"]
    return (
        status.get("observedGeneration") == obj["metadata"]["generation"]
        and status.get("updatedReplicas", 0) == spec["replicas"]
        and status.get("availableReplicas", 0) == spec["replicas"]
        and status.get("replicas", 0) == spec["replicas"]
    )


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None, ok: bool = True) -> str:
    """Run the real kubectl against ``kubeconfig``; its stdout, or its stderr when ``ok`` is False."""
    assert KUBECTL is not None
    result = subprocess.run(
        [KUBECTL, "--kubeconfig", str(kubeconfig), *args],
        check=False,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode == 0) is ok, result.stderr
    return result.stdout if ok else result.stderr


def events_about(api: httpx.Client, name: str, namespace: str = "default") -> list[dict[str, Any]]:
    """The v1 Events whose involvedObject is ``name``, as kubectl describe lists them."""
    path = f"/api/v1/namespaces/{namespace}/events"
    items: list[dict[str, Any]] = api.get(path, params={"fieldSelector": f"involvedObject.name={name}"}).json()["items"]
    return items
