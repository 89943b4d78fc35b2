"""Unmodified official clients against the emulator: kubernetes, lightkube and kubectl."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from arxdeploy.testing.kube import KubeEmulator

KUBECTL = shutil.which("kubectl")
MANIFESTS = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: registry.example/web:1
          ports: [{containerPort: 8080}]
        - name: sidecar
          image: registry.example/proxy:1
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
"""


def test_the_official_kubernetes_client(kube: KubeEmulator) -> None:
    kubernetes = pytest.importorskip("kubernetes")
    from kubernetes import client, config, watch

    api_client = config.new_client_from_config(config_file=str(kube.kubeconfig))
    try:
        apps, core = client.AppsV1Api(api_client), client.CoreV1Api(api_client)
        labels = {"app": "web"}
        body = client.V1Deployment(
            metadata=client.V1ObjectMeta(name="web", labels=labels),
            spec=client.V1DeploymentSpec(
                replicas=2,
                selector=client.V1LabelSelector(match_labels=labels),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=labels),
                    spec=client.V1PodSpec(containers=[client.V1Container(name="web", image="registry.example/web:1")]),
                ),
            ),
        )
        created = apps.create_namespaced_deployment("default", body)  # POSTs without a Content-Type
        assert created.metadata.generation == 1
        stream = watch.Watch()
        for event in stream.stream(
            apps.list_namespaced_deployment, "default", field_selector="metadata.name=web", timeout_seconds=10
        ):
            if (event["object"].status.available_replicas or 0) == 2:
                stream.stop()
        assert apps.read_namespaced_deployment_status("web", "default").status.ready_replicas == 2
        scaled = apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 1}})
        assert scaled.spec.replicas == 1
        with pytest.raises(client.ApiException) as missing:
            core.read_namespaced_config_map("ghost", "default")
        assert missing.value.status == 404
        stale = apps.read_namespaced_deployment("web", "default")
        apps.patch_namespaced_deployment("web", "default", {"metadata": {"labels": {"x": "1"}}})
        stale.metadata.labels = {"app": "web", "y": "2"}
        with pytest.raises(client.ApiException) as conflict:
            apps.replace_namespaced_deployment("web", "default", stale)
        assert conflict.value.status == 409
        pods = core.list_namespaced_pod("default", label_selector="app in (web),pod-template-hash")
        assert pods.items
        apps.delete_namespaced_deployment("web", "default")
        assert core.list_namespaced_pod("default").items == []
    finally:
        api_client.close()
    assert kubernetes.__version__


def test_lightkube(kube: KubeEmulator) -> None:
    pytest.importorskip("lightkube")
    from lightkube import ApiError, Client, KubeConfig
    from lightkube.models.meta_v1 import ObjectMeta
    from lightkube.resources.core_v1 import ConfigMap

    client = Client(KubeConfig.from_file(str(kube.kubeconfig)))
    try:
        client.create(ConfigMap(metadata=ObjectMeta(name="settings", labels={"a": "1"}), data={"k": "v"}))
        assert client.get(ConfigMap, "settings").data == {"k": "v"}
        client.patch(ConfigMap, "settings", {"data": {"k2": "v2"}})
        client.apply(ConfigMap(metadata=ObjectMeta(name="applied"), data={"x": "1"}), field_manager="tests")
        assert sorted(c.metadata.name for c in client.list(ConfigMap, labels={"a": "1"})) == ["settings"]
        with pytest.raises(ApiError) as missing:
            client.get(ConfigMap, "ghost")
        assert missing.value.status.code == 404
        # lightkube re-opens a watch the server ends, so the test stops reading itself
        seen = []
        for kind, obj in client.watch(ConfigMap, namespace="default", resource_version="1", server_timeout=5):
            seen.append((kind, obj.metadata.name))
            if len(seen) == 3:
                break
        assert seen == [("ADDED", "settings"), ("MODIFIED", "settings"), ("ADDED", "applied")]
    finally:
        client.close()


def kubectl(kube: KubeEmulator, *args: str, stdin: str | None = None, ok: bool = True) -> str:
    assert KUBECTL is not None
    result = subprocess.run(
        [KUBECTL, "--kubeconfig", str(kube.kubeconfig), *args],
        check=False,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (result.returncode == 0) is ok, result.stderr
    return result.stdout if ok else result.stderr


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_kubectl_apply_get_patch_and_rollout_status(kube: KubeEmulator, tmp_path: Path) -> None:
    manifests = tmp_path / "web.yaml"
    manifests.write_text(MANIFESTS)
    assert "deployment.apps/web created" in kubectl(kube, "apply", "-f", str(manifests))
    assert "deployment.apps/web unchanged" in kubectl(kube, "apply", "-f", str(manifests))
    assert "successfully rolled out" in kubectl(kube, "rollout", "status", "deployment/web", "--timeout=20s")
    assert kubectl(kube, "get", "deploy", "web", "-o", "jsonpath={.status.readyReplicas}") == "2"
    patch = '{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"registry.example/web:2"}]}}}}'
    assert "patched" in kubectl(kube, "patch", "deployment", "web", "--type", "strategic", "-p", patch)
    images = kubectl(kube, "get", "deploy", "web", "-o", "jsonpath={.spec.template.spec.containers[*].image}")
    assert images == "registry.example/web:2 registry.example/proxy:1"
    assert "successfully rolled out" in kubectl(kube, "rollout", "status", "deployment/web", "--timeout=20s")
    names = kubectl(kube, "get", "pods", "-l", "app=web", "-o", "name").split()
    assert len(names) == 2
    edited = MANIFESTS.replace("replicas: 2", "replicas: 3")
    assert "deployment.apps/web configured" in kubectl(kube, "apply", "-f", "-", stdin=edited)
    assert kubectl(kube, "get", "deploy", "web", "-o", "jsonpath={.spec.replicas}") == "3"
    # the three-way merge of apply restores the image the manifest declares over the patched one
    deployment: Any = kube.get("deployments", "default", "web")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example/web:1"
    kubectl(kube, "delete", "-f", str(manifests))
    assert kube.objects("pods") == []


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_kubectl_rollout_status_reports_a_missed_progress_deadline(kube: KubeEmulator, tmp_path: Path) -> None:
    kube.set_behaviour("never-ready", image="registry.example/web:1")
    stuck = MANIFESTS.replace("replicas: 2", "replicas: 1\n  progressDeadlineSeconds: 1")
    kubectl(kube, "apply", "-f", "-", stdin=stuck)
    error = kubectl(kube, "rollout", "status", "deployment/web", "--timeout=20s", ok=False)
    assert 'deployment "web" exceeded its progress deadline' in error
