"""Rendered objects carry the seed's numbers and pass the Kubernetes schemas offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from arxdeploy.config import LoadedConfig
from arxdeploy.domain.states import Color
from arxdeploy.errors import NotFoundError, UsageError
from arxdeploy.targets.kubernetes import manifests
from arxdeploy.targets.kubernetes.spec import KubeSpec, spec_from_config
from tests.fixtures.kube import SEED_K8S, load_seed

KUBE_VERSION = "1.37.0"


def by_kind(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind and name in (None, o["metadata"]["name"])]
    return found


@pytest.mark.parametrize(
    ("environment", "replicas", "requests", "limits"),
    [
        ("staging", 2, {"cpu": "50m", "memory": "64Mi"}, {"cpu": "200m", "memory": "256Mi"}),
        ("production", 3, {"cpu": "100m", "memory": "128Mi"}, {"cpu": "500m", "memory": "512Mi"}),
    ],
)
def test_seed_numbers_land_in_the_objects(
    spec: KubeSpec, environment: str, replicas: int, requests: dict[str, str], limits: dict[str, str]
) -> None:
    objects = manifests.objects(spec, environment, version="1.4.2", color=Color.GREEN)
    namespace = f"arxos-{environment}"
    assert by_kind(objects, "Namespace")["metadata"]["name"] == namespace
    deployment = by_kind(objects, "Deployment")
    assert deployment["metadata"]["name"] == "arxos-green"
    assert deployment["metadata"]["namespace"] == namespace
    assert deployment["metadata"]["labels"] == {
        "app": "arxos",
        "color": "green",
        "arxdeploy.io/environment": environment,
        "arxdeploy.io/version": "1.4.2",
        "app.kubernetes.io/managed-by": "arxdeploy",
    }
    pod_spec = deployment["spec"]
    assert pod_spec["replicas"] == replicas
    assert pod_spec["selector"] == {"matchLabels": {"app": "arxos", "color": "green"}}
    assert pod_spec["progressDeadlineSeconds"] == 300
    (container,) = pod_spec["template"]["spec"]["containers"]
    assert container["image"] == "ghcr.io/arxos/arxos-backend:1.4.2"
    assert container["ports"][0]["containerPort"] == 8080
    assert container["resources"] == {"requests": requests, "limits": limits}
    assert container["readinessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    hpa = by_kind(objects, "HorizontalPodAutoscaler")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (replicas, 2 * replicas)
    assert hpa["scaleTargetRef"]["name"] == "arxos-green"
    assert by_kind(objects, "Service", "arxos")["spec"]["selector"] == {"app": "arxos", "color": "green"}
    assert by_kind(objects, "Service", "arxos-preview")["spec"]["selector"] == {"app": "arxos", "color": "green"}
    policy = by_kind(objects, "NetworkPolicy")["spec"]
    assert policy["ingress"] == [{"ports": [{"protocol": "TCP", "port": 8080}]}]


@pytest.mark.parametrize("environment", ["staging", "production"])
@pytest.mark.parametrize("color", list(Color))
def test_every_object_passes_strict_schema_validation_offline(spec: KubeSpec, environment: str, color: Color) -> None:
    objects = manifests.objects(spec, environment, version="1.4.2", color=color)
    objects.append(manifests.service(spec, environment, name="arxos", color=None))
    assert len(objects) == 7
    for obj in objects:
        kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)


def test_strict_validation_catches_a_misspelt_field(spec: KubeSpec) -> None:
    deployment = manifests.deployment(spec, "staging", Color.BLUE, "1")
    deployment["spec"]["replica"] = 2
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBE_VERSION, strict=True)


def test_no_live_color_selects_no_pods(spec: KubeSpec) -> None:
    service = manifests.service(spec, "staging", name="arxos", color=None)
    assert service["spec"]["selector"]["color"] == manifests.NO_COLOR
    assert manifests.NO_COLOR not in {c.value for c in Color}


def test_namespace_template_and_default_image(tmp_path: Path) -> None:
    text = SEED_K8S.replace("    image: ghcr.io/arxos/arxos-backend:{version}\n", "    namespace: team-{environment}\n")
    spec = spec_from_config(load_seed(tmp_path, text).config)
    deployment = manifests.deployment(spec, "production", Color.BLUE, "2.0")
    assert deployment["metadata"]["namespace"] == "team-production"
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "arxos:2.0"


def test_render_returns_yaml_of_every_object(seed: LoadedConfig) -> None:
    text = manifests.render(seed.config, "staging", version="1.4.2", base_dir=seed.base_dir)
    docs = list(yaml.safe_load_all(text))
    assert [d["kind"] for d in docs] == [
        "Namespace",
        "Deployment",
        "HorizontalPodAutoscaler",
        "Service",
        "Service",
        "NetworkPolicy",
    ]
    for doc in docs:
        kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)


def test_render_names_the_known_environments(seed: LoadedConfig) -> None:
    with pytest.raises(NotFoundError, match="staging, production"):
        manifests.render(seed.config, "qa", version="1")


TEMPLATE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {service}-{color}
  namespace: {namespace}
  labels: {app: {service}, color: {color}, arxdeploy.io/version: "{version}"}
spec:
  replicas: {replicas}
  selector: {matchLabels: {app: {service}, color: {color}}}
  template:
    metadata: {labels: {app: {service}, color: {color}}}
    spec:
      containers: [{name: app, image: "registry.example/{service}:{version}"}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: {service}-settings, namespace: {namespace}}
data: {LOG_LEVEL: info}
"""


def test_a_template_folder_replaces_the_defaults(tmp_path: Path) -> None:
    folder = tmp_path / "k8s" / "staging"
    folder.mkdir(parents=True)
    (folder / "app.yaml").write_text(TEMPLATE)
    text = SEED_K8S.replace("    container_port: 8080\n", "    container_port: 8080\n    manifests: k8s\n")
    loaded = load_seed(tmp_path, text)
    spec = spec_from_config(loaded.config, base_dir=loaded.base_dir)
    (deployment,) = manifests.color_objects(spec, "staging", Color.GREEN, "3.1")
    assert deployment["metadata"] == {
        "name": "arxos-green",
        "namespace": "arxos-staging",
        "labels": manifests.labels(spec, "staging", Color.GREEN, "3.1"),  # ours added: inspect needs them
    }
    assert deployment["spec"]["replicas"] == 2
    shared = manifests.shared_objects(spec, "staging", live=None, candidate=Color.GREEN, version="3.1")
    assert [o["kind"] for o in shared] == ["ConfigMap"]
    for obj in [deployment, *shared]:
        kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
    with pytest.raises(UsageError, match=r"no \*\.yaml templates"):
        manifests.color_objects(spec, "production", Color.GREEN, "3.1")
