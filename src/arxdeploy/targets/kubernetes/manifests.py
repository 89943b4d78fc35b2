"""The Kubernetes objects of one environment, as plain dicts (no client library needed).

One color is a Deployment ``<service>-<color>`` and its HPA. The environment shares the live
Service ``<service>`` (selects the live color), the preview Service ``<service>-preview``
(selects the candidate) and a NetworkPolicy. A folder of templates can replace the defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from arxdeploy.domain.states import Color
from arxdeploy.errors import UsageError
from arxdeploy.targets.kubernetes.spec import EnvSpec, KubeSpec, spec_from_config

Manifest = dict[str, Any]

ENV_LABEL = "arxdeploy.io/environment"
VERSION_LABEL = "arxdeploy.io/version"
MANAGED_LABEL = "app.kubernetes.io/managed-by"
PORT_NAME = "http"
SERVICE_PORT = 80
HPA_CPU_PERCENT = 70
# A selector color that no Deployment carries: the live Service then has no endpoints.
NO_COLOR = "none"
# Kinds that belong to one color; everything else in a template folder is shared.
COLOR_KINDS = frozenset({"Deployment", "HorizontalPodAutoscaler"})


def deployment_name(service: str, color: Color) -> str:
    return f"{service}-{color.value}"


def preview_name(service: str) -> str:
    return f"{service}-preview"


def image_for(spec: KubeSpec, version: str) -> str:
    return spec.image.format(version=version) if spec.image else f"{spec.service}:{version}"


def labels(spec: KubeSpec, environment: str, color: Color, version: str) -> dict[str, str]:
    return {
        "app": spec.service,
        "color": color.value,
        ENV_LABEL: environment,
        VERSION_LABEL: version,
        MANAGED_LABEL: "arxdeploy",
    }


def _meta(name: str, namespace: str, object_labels: dict[str, str]) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": object_labels}


def namespace_object(spec: KubeSpec, environment: str) -> Manifest:
    name = spec.namespace_for(environment)
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {ENV_LABEL: environment}}}


def deployment(spec: KubeSpec, environment: str, color: Color, version: str) -> Manifest:
    env = spec.env(environment)
    checks = spec
    all_labels = labels(spec, environment, color, version)
    probe_get = {"path": spec.health_endpoints[0], "port": PORT_NAME}
    container: dict[str, Any] = {
        "name": spec.service,
        "image": image_for(spec, version),
        "ports": [{"name": PORT_NAME, "containerPort": spec.container_port, "protocol": "TCP"}],
        "readinessProbe": {
            "httpGet": probe_get,
            "periodSeconds": max(1, int(checks.interval.total_seconds())),
            "timeoutSeconds": max(1, int(checks.timeout.total_seconds())),
            "successThreshold": checks.success_threshold,
            "failureThreshold": checks.failure_threshold,
        },
        # Liveness is looser than readiness: a slow app is taken out of rotation, not killed.
        "livenessProbe": {
            "httpGet": probe_get,
            "initialDelaySeconds": 10,
            "periodSeconds": 10,
            "timeoutSeconds": max(1, int(checks.timeout.total_seconds())),
            "failureThreshold": 3,
        },
    }
    resources = _resources(env)
    if resources:
        container["resources"] = resources
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(deployment_name(spec.service, color), spec.namespace_for(environment), all_labels),
        "spec": {
            "replicas": env.replicas,
            "selector": {"matchLabels": {"app": spec.service, "color": color.value}},
            "progressDeadlineSeconds": max(1, int(checks.progress_deadline.total_seconds())),
            "template": {"metadata": {"labels": all_labels}, "spec": {"containers": [container]}},
        },
    }


def _resources(env: EnvSpec) -> dict[str, dict[str, str]]:
    return {part: dict(amounts) for part, amounts in (("requests", env.requests), ("limits", env.limits)) if amounts}


def hpa(spec: KubeSpec, environment: str, color: Color, version: str) -> Manifest:
    replicas = spec.env(environment).replicas
    name = deployment_name(spec.service, color)
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _meta(name, spec.namespace_for(environment), labels(spec, environment, color, version)),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": replicas,
            "maxReplicas": 2 * replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": HPA_CPU_PERCENT},
                    },
                }
            ],
        },
    }


def service(spec: KubeSpec, environment: str, *, name: str, color: Color | None) -> Manifest:
    """A ClusterIP Service on port 80 selecting ``app`` and ``color`` (None: no pods)."""
    shared = {"app": spec.service, ENV_LABEL: environment, MANAGED_LABEL: "arxdeploy"}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(name, spec.namespace_for(environment), shared),
        "spec": {
            "selector": {"app": spec.service, "color": color.value if color else NO_COLOR},
            "ports": [{"name": PORT_NAME, "port": SERVICE_PORT, "targetPort": PORT_NAME, "protocol": "TCP"}],
        },
    }


def network_policy(spec: KubeSpec, environment: str) -> Manifest:
    shared = {"app": spec.service, ENV_LABEL: environment, MANAGED_LABEL: "arxdeploy"}
    port = spec.container_port
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(f"{spec.service}-ingress", spec.namespace_for(environment), shared),
        "spec": {
            "podSelector": {"matchLabels": {"app": spec.service}},
            "policyTypes": ["Ingress"],
            "ingress": [{"ports": [{"protocol": "TCP", "port": port}]}],
        },
    }


def color_objects(spec: KubeSpec, environment: str, color: Color, version: str) -> list[Manifest]:
    """The objects that make up one color: its Deployment and HPA."""
    templated = _templates(spec, environment, color, version)
    if templated is not None:
        # Our labels on the objects themselves: inspect finds colors and versions by them.
        ours = labels(spec, environment, color, version)
        return [_labelled(m, ours) for m in templated if m.get("kind") in COLOR_KINDS]
    return [deployment(spec, environment, color, version), hpa(spec, environment, color, version)]


def shared_objects(
    spec: KubeSpec,
    environment: str,
    *,
    live: Color | None,
    candidate: Color,
    version: str,
) -> list[Manifest]:
    """The environment's Services and NetworkPolicy, the live one on ``live``, preview on ``candidate``."""
    templated = _templates(spec, environment, candidate, version)
    if templated is not None:
        return [m for m in templated if m.get("kind") not in COLOR_KINDS]
    return [
        service(spec, environment, name=spec.service, color=live),
        service(spec, environment, name=preview_name(spec.service), color=candidate),
        network_policy(spec, environment),
    ]


def _labelled(obj: Manifest, extra: dict[str, str]) -> Manifest:
    meta = dict(obj.get("metadata") or {})
    meta["labels"] = {**(meta.get("labels") or {}), **extra}
    return {**obj, "metadata": meta}


def _templates(spec: KubeSpec, environment: str, color: Color, version: str) -> list[Manifest] | None:
    """``<manifests>/<environment>/*.yaml`` with placeholders filled; None without a folder."""
    if spec.manifests is None:
        return None
    where = spec.manifests / environment
    values = {
        "service": spec.service,
        "color": color.value,
        "version": version,
        "namespace": spec.namespace_for(environment),
        "replicas": str(spec.env(environment).replicas),
    }
    out: list[Manifest] = []
    for name, template in sorted(spec.templates.get(environment, {}).items()):
        if not name.endswith(".yaml"):
            continue
        text = template
        # Plain replacement, not str.format: YAML flow style uses braces of its own.
        for key, value in values.items():
            text = text.replace("{" + key + "}", value)
        out += [doc for doc in yaml.safe_load_all(text) if isinstance(doc, dict)]
    if not out:
        raise UsageError(f"{where} holds no *.yaml templates", hint="check target.kubernetes.manifests")
    return out


def objects(spec: KubeSpec, environment: str, *, version: str, color: Color = Color.BLUE) -> list[Manifest]:
    """Every object a first deployment of ``version`` as ``color`` applies, namespace first."""
    spec.env(environment)  # NotFoundError for an unknown name, before anything else
    return [
        namespace_object(spec, environment),
        *color_objects(spec, environment, color, version),
        *shared_objects(spec, environment, live=color, candidate=color, version=version),
    ]


def render(config: Any, environment: str, *, version: str, base_dir: Path | None = None) -> str:
    """``objects`` of an ``arxdeploy.config.Config`` as one YAML stream, for ``arxdeploy k8s render``.

    ``base_dir`` is the config file's folder (``LoadedConfig.base_dir``): template folders are
    relative to it. Review the output or pipe it to ``kubectl apply -f -``.
    """
    spec = spec_from_config(config, base_dir=base_dir)
    return yaml.safe_dump_all(objects(spec, environment, version=version), sort_keys=False)
