"""Rendered objects carry the seed's numbers and pass the Kubernetes schemas offline."""

from __future__ import annotations

import re
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
    ours = {
        "app": "arxos",
        "app.kubernetes.io/name": "arxos",
        "app.kubernetes.io/instance": f"arxos-{environment}",
        "app.kubernetes.io/component": "server",
        "app.kubernetes.io/part-of": "arxos",
        "app.kubernetes.io/managed-by": "arxdeploy",
        "arxdeploy.io/environment": environment,
    }
    assert deployment["metadata"]["labels"] == {
        **ours,
        "color": "green",
        "arxdeploy.io/version": "1.4.2",
        "app.kubernetes.io/version": "1.4.2",
    }
    pod_spec = deployment["spec"]
    assert pod_spec["replicas"] == replicas
    assert pod_spec["selector"] == {"matchLabels": {"app": "arxos", "color": "green"}}
    assert pod_spec["progressDeadlineSeconds"] == 300
    assert pod_spec["template"]["metadata"]["labels"] == deployment["metadata"]["labels"]
    (container,) = pod_spec["template"]["spec"]["containers"]
    assert container["image"] == "ghcr.io/arxos/arxos-backend:1.4.2"
    assert container["ports"][0]["containerPort"] == 8080
    assert container["resources"] == {"requests": requests, "limits": limits}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}
    # the progress deadline (5m) to start, in steps of the check interval (2s); then the others begin
    assert (container["startupProbe"]["periodSeconds"], container["startupProbe"]["failureThreshold"]) == (2, 150)
    assert "initialDelaySeconds" not in container["livenessProbe"]
    hpa = by_kind(objects, "HorizontalPodAutoscaler")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (replicas, 2 * replicas)
    assert hpa["metrics"][0]["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}
    assert hpa["scaleTargetRef"]["name"] == "arxos-green"
    budget = by_kind(objects, "PodDisruptionBudget")
    assert budget["metadata"]["name"] == "arxos-green"
    assert budget["spec"] == {
        "maxUnavailable": 1,
        "selector": {"matchLabels": {"app": "arxos", "color": "green"}},
        "unhealthyPodEvictionPolicy": "AlwaysAllow",
    }
    assert by_kind(objects, "Service", "arxos")["spec"]["selector"] == {"app": "arxos", "color": "green"}
    assert by_kind(objects, "Service", "arxos-preview")["spec"]["selector"] == {"app": "arxos", "color": "green"}
    for shared in [o for o in objects if o["kind"] in ("Service", "NetworkPolicy")]:
        assert shared["metadata"]["labels"] == ours  # no color, no version: both colors share them
    policy = by_kind(objects, "NetworkPolicy")["spec"]
    assert policy["ingress"] == [{"ports": [{"protocol": "TCP", "port": 8080}]}]
    assert policy["policyTypes"] == ["Ingress"]  # no egress list in the config: egress is not restricted


def test_the_pods_are_hardened_for_a_production_cluster(spec: KubeSpec) -> None:
    deployment = manifests.deployment(spec, "production", Color.BLUE, "1.4.2")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    assert pod["automountServiceAccountToken"] is False
    (container,) = pod["containers"]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert container["imagePullPolicy"] == "Always"
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {}}]
    spreads = {c["topologyKey"]: c for c in pod["topologySpreadConstraints"]}
    assert set(spreads) == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
    for spread in spreads.values():
        assert (spread["maxSkew"], spread["whenUnsatisfiable"]) == (1, "ScheduleAnyway")
        assert spread["labelSelector"] == {"matchLabels": {"app": "arxos", "color": "blue"}}
    namespace = manifests.namespace_object(spec, "production")["metadata"]["labels"]
    assert namespace == {
        "arxdeploy.io/environment": "production",
        "app.kubernetes.io/managed-by": "arxdeploy",
        "pod-security.kubernetes.io/enforce": "restricted",
        "pod-security.kubernetes.io/enforce-version": "v1.37",
        "pod-security.kubernetes.io/audit": "restricted",
        "pod-security.kubernetes.io/audit-version": "v1.37",
        "pod-security.kubernetes.io/warn": "restricted",
        "pod-security.kubernetes.io/warn-version": "v1.37",
    }


AUTOSCALING_AND_EGRESS = """    autoscaling: {max_replicas: 5, cpu_utilization: 60}
    egress:
      - {cidr: 10.20.0.0/16, ports: [5432]}
      - {namespace: databases, pods: {app: postgres}, ports: [5432, 5433]}
      - {pods: {app: redis}}
"""


def test_autoscaling_bounds_and_egress_come_from_the_config(tmp_path: Path) -> None:
    text = SEED_K8S.replace("    monitoring_duration: 10m\n", "    monitoring_duration: 10m\n" + AUTOSCALING_AND_EGRESS)
    spec = spec_from_config(load_seed(tmp_path, text).config)
    objects = manifests.objects(spec, "production", version="1.4.2")
    hpa = by_kind(objects, "HorizontalPodAutoscaler")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 5)
    assert hpa["metrics"][0]["resource"]["target"]["averageUtilization"] == 60
    egress = by_kind(objects, "NetworkPolicy", "arxos-egress")
    assert egress["spec"]["podSelector"] == {"matchLabels": {"app": "arxos"}}
    assert egress["spec"]["policyTypes"] == ["Egress"]
    assert egress["spec"]["egress"] == [
        {
            "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        },
        {"to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}], "ports": [{"protocol": "TCP", "port": 5432}]},
        {
            "to": [
                {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "databases"}},
                    "podSelector": {"matchLabels": {"app": "postgres"}},
                }
            ],
            "ports": [{"protocol": "TCP", "port": 5432}, {"protocol": "TCP", "port": 5433}],
        },
        {"to": [{"podSelector": {"matchLabels": {"app": "redis"}}}]},  # its own namespace, every port
    ]
    assert [o["metadata"]["name"] for o in objects if o["kind"] == "NetworkPolicy"] == ["arxos-ingress", "arxos-egress"]
    for obj in objects:
        kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
    staging = manifests.objects(spec, "staging", version="1.4.2")  # no list there: no egress policy
    assert [o["metadata"]["name"] for o in staging if o["kind"] == "NetworkPolicy"] == ["arxos-ingress"]


@pytest.mark.parametrize("environment", ["staging", "production"])
@pytest.mark.parametrize("color", list(Color))
def test_every_object_passes_strict_schema_validation_offline(spec: KubeSpec, environment: str, color: Color) -> None:
    objects = manifests.objects(spec, environment, version="1.4.2", color=color)
    objects.append(manifests.service(spec, environment, name="arxos", color=None))
    assert len(objects) == 8
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
        "PodDisruptionBudget",
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


# A color whose pods read three ConfigMaps in the four ways a pod can (one of them twice), beside
# one they do not read and a PodDisruptionBudget.
READS_CONFIG = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: {service}-{color}, namespace: {namespace}}
spec:
  replicas: {replicas}
  selector: {matchLabels: {app: {service}, color: {color}}}
  template:
    metadata: {labels: {app: {service}, color: {color}}}
    spec:
      containers:
        - name: app
          image: "registry.example/{service}:{version}"
          ports: [{name: http, containerPort: 9090}]
          envFrom: [{configMapRef: {name: {service}-env}}]
          env:
            - name: LOG_LEVEL
              valueFrom: {configMapKeyRef: {name: {service}-env, key: LOG_LEVEL}}
          volumeMounts: [{name: files, mountPath: /etc/app}, {name: both, mountPath: /etc/both}]
      volumes:
        - {name: files, configMap: {name: {service}-files}}
        - name: both
          projected:
            sources: [{configMap: {name: {service}-extra}}, {secret: {name: {service}-db}}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: {service}-{color}, namespace: {namespace}}
spec: {maxUnavailable: 1, selector: {matchLabels: {app: {service}, color: {color}}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: {service}-env, namespace: {namespace}, labels: {team: payments}}
data: {LOG_LEVEL: info}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: {service}-files, namespace: {namespace}}
data: {app.toml: "threads = 4"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: {service}-extra, namespace: {namespace}}
binaryData: {blob: AAEC}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: {service}-unread, namespace: {namespace}}
data: {NOTE: shared}
"""


def templated(tmp_path: Path, text: str) -> KubeSpec:
    folder = tmp_path / "k8s" / "staging"
    folder.mkdir(parents=True)
    (folder / "app.yaml").write_text(text)
    config = SEED_K8S.replace("    container_port: 8080\n", "    container_port: 8080\n    manifests: k8s\n")
    loaded = load_seed(tmp_path, config)
    return spec_from_config(loaded.config, base_dir=loaded.base_dir)


def test_the_configmaps_a_color_reads_are_named_by_content_immutable_and_its_own(tmp_path: Path) -> None:
    spec = templated(tmp_path, READS_CONFIG)
    own = manifests.color_objects(spec, "staging", Color.GREEN, "3.1")
    assert [o["kind"] for o in own] == ["ConfigMap", "ConfigMap", "ConfigMap", "Deployment", "PodDisruptionBudget"]
    configmaps = {o["metadata"]["annotations"]["arxdeploy.io/configmap"]: o for o in own if o["kind"] == "ConfigMap"}
    assert set(configmaps) == {"arxos-env", "arxos-files", "arxos-extra"}
    for base, configmap in configmaps.items():
        digest = manifests.content_hash(configmap)
        assert len(digest) == 10
        assert configmap["metadata"]["name"] == f"{base}-{digest}"
        assert configmap["immutable"] is True
        assert configmap["metadata"]["labels"]["arxdeploy.io/content-hash"] == digest
        assert configmap["metadata"]["labels"]["app"] == "arxos"
        assert "color" not in configmap["metadata"]["labels"]  # both colors may read the same one
        kubernetes_validate.validate(configmap, KUBE_VERSION, strict=True)
    assert configmaps["arxos-env"]["metadata"]["labels"]["team"] == "payments"  # the template's labels stay
    names = {base: c["metadata"]["name"] for base, c in configmaps.items()}
    deployment = by_kind(own, "Deployment")
    assert manifests.configmap_refs(deployment) == set(names.values())
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["envFrom"] == [{"configMapRef": {"name": names["arxos-env"]}}]
    assert container["env"][0]["valueFrom"]["configMapKeyRef"] == {"name": names["arxos-env"], "key": "LOG_LEVEL"}
    assert pod["volumes"][0]["configMap"] == {"name": names["arxos-files"]}
    assert pod["volumes"][1]["projected"]["sources"] == [
        {"configMap": {"name": names["arxos-extra"]}},
        {"secret": {"name": "arxos-db"}},  # Secrets are referenced by name, as written
    ]
    kubernetes_validate.validate(deployment, KUBE_VERSION, strict=True)

    shared = manifests.shared_objects(spec, "staging", live=None, candidate=Color.GREEN, version="3.1")
    assert [o["metadata"]["name"] for o in shared] == ["arxos-unread"]  # not read by pods: shared, as written
    assert "immutable" not in shared[0]

    # Another version with the same settings reads the same ConfigMaps; changed settings get new names.
    again = manifests.color_objects(spec, "staging", Color.BLUE, "3.2")
    assert {o["metadata"]["name"] for o in again if o["kind"] == "ConfigMap"} == set(names.values())
    changed = templated(tmp_path / "changed", READS_CONFIG.replace("LOG_LEVEL: info", "LOG_LEVEL: debug"))
    moved = {o["metadata"]["name"] for o in manifests.color_objects(changed, "staging", Color.BLUE, "3.2")}
    assert names["arxos-env"] not in moved
    assert {names["arxos-files"], names["arxos-extra"]} <= moved


def test_owning_config_is_idempotent_and_leaves_unknown_references_alone(tmp_path: Path) -> None:
    spec = templated(tmp_path, READS_CONFIG)
    own = manifests.color_objects(spec, "staging", Color.GREEN, "3.1")
    assert manifests.own_config(own, {"app": "arxos"}) == own  # a backup's objects come back unchanged
    lonely = [o for o in own if o["kind"] != "ConfigMap"]
    assert manifests.own_config(lonely, {"app": "arxos"}) == lonely  # not among the objects: not ours


def test_template_problems_name_what_would_make_a_deployment_fail(tmp_path: Path) -> None:
    assert manifests.template_problems(templated(tmp_path / "good", READS_CONFIG), "staging") == []
    no_port = templated(tmp_path / "no-port", TEMPLATE)  # its container has no port named http
    (problem,) = manifests.template_problems(no_port, "staging")
    assert "has no container port named http" in problem
    unlabelled = READS_CONFIG.replace("metadata: {labels: {app: {service}, color: {color}}}", "metadata: {}")
    unlabelled = unlabelled.replace(
        "selector: {matchLabels: {app: {service}, color: {color}}}\n  template", "selector: {}\n  template"
    )
    (problem,) = manifests.template_problems(templated(tmp_path / "unlabelled", unlabelled), "staging")
    assert "no labels app: {service} and color: {color}" in problem
    renamed = templated(
        tmp_path / "renamed", READS_CONFIG.replace("name: {service}-{color}, namespace", "name: web, namespace")
    )
    (problem,) = manifests.template_problems(renamed, "staging")
    assert "no Deployment named {service}-{color}" in problem
    broken = templated(tmp_path / "broken", "kind: [unclosed\n")
    (problem,) = manifests.template_problems(broken, "staging")
    assert "is not valid YAML" in problem
    assert manifests.template_problems(broken, "production") == [
        f"{broken.manifests}/production holds no *.yaml templates"
    ]


@pytest.mark.parametrize("version", ["1.2.0", "v1.2.0", "1.2.0-rc.1", "2026_01_03", "a" * 63, "abc1234def"])
def test_versions_kubernetes_can_carry(version: str) -> None:
    manifests.check_version(version)


@pytest.mark.parametrize(
    ("version", "wrong"),
    [
        ("1.2.0+build5", "a label value (.*) nor an image tag"),
        ("release/1.2", "a label value (.*) nor an image tag"),
        ("a" * 64, r"a label value \(at most 63"),
        ("_1.2", "a label value"),  # a tag may start with '_', a label value may not
        ("1.2-", "a label value"),
        ("-1.2", "a label value .* nor an image tag"),
        (".1", "a label value .* nor an image tag"),
        ("", "a label value"),
        ("1.2\n", "a label value"),
    ],
)
def test_versions_kubernetes_cannot_carry_are_refused(version: str, wrong: str) -> None:
    with pytest.raises(
        UsageError, match=f"version {re.escape(repr(version))} cannot be deployed to Kubernetes: it is not {wrong}"
    ) as refused:
        manifests.check_version(version)
    assert refused.value.exit_code == 2
    assert "1.2.0-build5" in (refused.value.hint or "")


def test_render_refuses_a_version_kubernetes_cannot_carry(seed: LoadedConfig) -> None:
    with pytest.raises(UsageError, match="cannot be deployed to Kubernetes"):
        manifests.render(seed.config, "staging", version="1.2.0+build5", base_dir=seed.base_dir)
