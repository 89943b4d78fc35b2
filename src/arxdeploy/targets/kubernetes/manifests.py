"""The Kubernetes objects of one environment, as plain dicts (no client library needed).

One color is a Deployment ``<service>-<color>``, its HPA and its PodDisruptionBudget, plus the
ConfigMaps its pods read (named by their content, immutable: see ``own_config``). The
environment shares the live Service ``<service>`` (selects the live color), the preview Service
``<service>-preview`` (selects the candidate) and its NetworkPolicies.

Two sources, never mixed: without ``target.kubernetes.manifests`` the objects are built here from
the config (``deployment``, ``hpa``, ...); with it, the templates in ``<manifests>/<environment>/``
are the objects, and the config's keys that describe objects (image, container_port, resources,
autoscaling, egress) have no effect (``arxdeploy validate`` warns about them). Either way
arxdeploy adds its labels, sets the replica count, names the color's ConfigMaps by content and
owns the two Services.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from arxdeploy.domain.states import Color
from arxdeploy.errors import UsageError
from arxdeploy.targets.kubernetes.spec import EgressSpec, EnvSpec, GatewaySpec, KubeSpec, spec_from_config

Manifest = dict[str, Any]

ENV_LABEL = "arxdeploy.io/environment"
VERSION_LABEL = "arxdeploy.io/version"
# https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/
NAME_LABEL = "app.kubernetes.io/name"
INSTANCE_LABEL = "app.kubernetes.io/instance"
APP_VERSION_LABEL = "app.kubernetes.io/version"
COMPONENT_LABEL = "app.kubernetes.io/component"
PART_OF_LABEL = "app.kubernetes.io/part-of"
MANAGED_LABEL = "app.kubernetes.io/managed-by"
COMPONENT = "server"
# A color's ConfigMaps: the label carries the content hash (and marks them as ours to delete),
# the annotation the name the template gave.
CONTENT_HASH_LABEL = "arxdeploy.io/content-hash"
CONFIGMAP_ANNOTATION = "arxdeploy.io/configmap"
HASH_LENGTH = 10
# Pod Security admission: the namespace refuses pods that break the restricted profile, as it
# stood in this Kubernetes version (a cluster that knows no newer one uses its newest).
POD_SECURITY_LEVEL = "restricted"
POD_SECURITY_VERSION = "v1.37"
PORT_NAME = "http"  # arxdeploy's Services send traffic to the container port with this name
SERVICE_PORT = 80
DNS_PORT = 53
TMP_VOLUME = "tmp"
# A NetworkPolicy peer for the cluster's DNS: kube-system, as every distribution runs it there.
DNS_NAMESPACE = "kube-system"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"  # set by the API server on every namespace
# A selector color that no Deployment carries: the live Service then has no endpoints.
NO_COLOR = "none"
# Kinds that belong to one color; everything else in a template folder is shared (ConfigMaps
# that a color's pods read excepted: they become the color's, see own_config).
COLOR_KINDS = frozenset({"Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget"})
# traffic_router: gateway (kubernetes-sigs/gateway-api, apis/v1): the route and where it keeps the live color
GATEWAY_GROUP = "gateway.networking.k8s.io"
ROUTE_API_VERSION = f"{GATEWAY_GROUP}/v1"
LIVE_ANNOTATION = "arxdeploy.io/live-color"

# What Kubernetes accepts where a version goes: a label value and an image tag.
LABEL_VALUE = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
LABEL_VALUE_MAX = 63
IMAGE_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def check_version(version: str) -> None:
    """Refuse a version that cannot be a label value and an image tag (``UsageError``, exit 2).

    Every object of a color carries the version as a label, and the default image is
    ``<service>:<version>``: the API server or the registry would refuse it later, mid-deploy.
    """
    wrong = []
    if len(version) > LABEL_VALUE_MAX or not LABEL_VALUE.fullmatch(version):
        wrong.append(
            f"a label value (at most {LABEL_VALUE_MAX} letters, digits, '-', '_' and '.', "
            "starting and ending with a letter or digit)"
        )
    if not IMAGE_TAG.fullmatch(version):
        wrong.append("an image tag (at most 128 letters, digits, '_', '.' and '-', not starting with '.' or '-')")
    if wrong:
        raise UsageError(
            f"version {version!r} cannot be deployed to Kubernetes: it is not {' nor '.join(wrong)}",
            hint="use letters, digits, '.', '_' and '-' only, like 1.2.0-build5 for 1.2.0+build5",
        )


def deployment_name(service: str, color: Color) -> str:
    return f"{service}-{color.value}"


def preview_name(service: str) -> str:
    return f"{service}-preview"


def image_for(spec: KubeSpec, version: str) -> str:
    image = spec.image.format(version=version) if spec.image else f"{spec.service}:{version}"
    return spec.pinned.get(image, image)


def _pinned_images(obj: Manifest, pinned: Mapping[str, str]) -> Manifest:
    """A Deployment from a template whose containers run the pinned digest of their image, where one was resolved."""
    pod = pod_spec_of(obj)
    containers = [c for key in ("initContainers", "containers") for c in pod.get(key) or []]
    if not pinned or not any(c.get("image") in pinned for c in containers):
        return obj
    made = copy.deepcopy(obj)
    pod = pod_spec_of(made)
    for key in ("initContainers", "containers"):
        for container in pod.get(key) or []:
            container["image"] = pinned.get(container.get("image"), container.get("image"))
    return made


def shared_labels(spec: KubeSpec, environment: str) -> dict[str, str]:
    """Labels of the objects both colors share (Services, NetworkPolicies, ConfigMaps)."""
    return {
        "app": spec.service,
        NAME_LABEL: spec.service,
        INSTANCE_LABEL: _label_value(f"{spec.service}-{environment}"),
        COMPONENT_LABEL: COMPONENT,
        PART_OF_LABEL: spec.service,
        MANAGED_LABEL: "arxdeploy",
        ENV_LABEL: environment,
    }


def labels(spec: KubeSpec, environment: str, color: Color, version: str) -> dict[str, str]:
    """Labels of one color's objects and pods: the shared ones, its color and its version."""
    return {
        **shared_labels(spec, environment),
        "color": color.value,
        VERSION_LABEL: version,
        APP_VERSION_LABEL: version,
    }


def _label_value(text: str) -> str:
    """``text`` cut to a label value's 63 characters (a long service and environment name)."""
    return text[:LABEL_VALUE_MAX].rstrip("-_.")


def _meta(name: str, namespace: str, object_labels: dict[str, str]) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": object_labels}


def selector(spec: KubeSpec, color: Color) -> dict[str, str]:
    """What selects one color's pods (a Deployment's selector is immutable: these two only)."""
    return {"app": spec.service, "color": color.value}


def namespace_object(spec: KubeSpec, environment: str) -> Manifest:
    """The namespace, enforcing the restricted Pod Security Standard (and warning and auditing by it)."""
    name = spec.namespace_for(environment)
    security = {
        f"pod-security.kubernetes.io/{mode}{suffix}": value
        for mode in ("enforce", "audit", "warn")
        for suffix, value in (("", POD_SECURITY_LEVEL), ("-version", POD_SECURITY_VERSION))
    }
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {ENV_LABEL: environment, MANAGED_LABEL: "arxdeploy", **security}},
    }


def deployment(spec: KubeSpec, environment: str, color: Color, version: str) -> Manifest:
    env = spec.env(environment)
    all_labels = labels(spec, environment, color, version)
    probe_get = {"path": spec.health_endpoints[0], "port": PORT_NAME}
    period = max(1, int(spec.interval.total_seconds()))
    timeout = max(1, int(spec.timeout.total_seconds()))
    container: dict[str, Any] = {
        "name": spec.service,
        "image": image_for(spec, version),
        # Each pod start asks the registry: a node's cached copy of a private image is not
        # reused by a pod that could not pull it itself, and a moved tag is noticed.
        "imagePullPolicy": "Always",
        "ports": [{"name": PORT_NAME, "containerPort": spec.container_port, "protocol": "TCP"}],
        # Up to the progress deadline to start; liveness and readiness only begin after it.
        "startupProbe": {
            "httpGet": probe_get,
            "periodSeconds": period,
            "timeoutSeconds": timeout,
            "failureThreshold": max(1, -(-int(spec.progress_deadline.total_seconds()) // period)),
        },
        "readinessProbe": {
            "httpGet": probe_get,
            "periodSeconds": period,
            "timeoutSeconds": timeout,
            "successThreshold": spec.success_threshold,
            "failureThreshold": spec.failure_threshold,
        },
        # Liveness is looser than readiness: a slow app is taken out of rotation, not killed.
        "livenessProbe": {"httpGet": probe_get, "periodSeconds": 10, "timeoutSeconds": timeout, "failureThreshold": 3},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": TMP_VOLUME, "mountPath": "/tmp"}],  # the one writable place
    }
    resources = _resources(env)
    if resources:
        container["resources"] = resources
    pod_spec = {
        "automountServiceAccountToken": False,  # the app does not call the Kubernetes API
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "topologySpreadConstraints": [
            _spread(spec, color, "topology.kubernetes.io/zone"),
            _spread(spec, color, "kubernetes.io/hostname"),
        ],
        "containers": [container],
        "volumes": [{"name": TMP_VOLUME, "emptyDir": {}}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(deployment_name(spec.service, color), spec.namespace_for(environment), all_labels),
        "spec": {
            "replicas": env.replicas,
            "selector": {"matchLabels": selector(spec, color)},
            "progressDeadlineSeconds": max(1, int(spec.progress_deadline.total_seconds())),
            "template": {"metadata": {"labels": all_labels}, "spec": pod_spec},
        },
    }


def _spread(spec: KubeSpec, color: Color, topology_key: str) -> dict[str, Any]:
    """Spread a color's pods evenly over ``topology_key``; a cluster with one zone or node still schedules them."""
    return {
        "maxSkew": 1,
        "topologyKey": topology_key,
        "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": {"matchLabels": selector(spec, color)},
    }


def _resources(env: EnvSpec) -> dict[str, dict[str, str]]:
    return {part: dict(amounts) for part, amounts in (("requests", env.requests), ("limits", env.limits)) if amounts}


def max_replicas(env: EnvSpec) -> int:
    return env.max_replicas or 2 * env.replicas


def hpa(spec: KubeSpec, environment: str, color: Color, version: str) -> Manifest:
    env = spec.env(environment)
    name = deployment_name(spec.service, color)
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _meta(name, spec.namespace_for(environment), labels(spec, environment, color, version)),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": env.replicas,
            "maxReplicas": max_replicas(env),
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": env.cpu_utilization},
                    },
                }
            ],
        },
    }


def pod_disruption_budget(spec: KubeSpec, environment: str, color: Color, version: str) -> Manifest:
    """At most one pod of the color evicted at a time (node drains, upgrades); never-ready pods may go."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(
            deployment_name(spec.service, color),
            spec.namespace_for(environment),
            labels(spec, environment, color, version),
        ),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": selector(spec, color)},
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }


def service(spec: KubeSpec, environment: str, *, name: str, color: Color | None) -> Manifest:
    """A ClusterIP Service on port 80 selecting ``app`` and ``color`` (None: no pods)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(name, spec.namespace_for(environment), shared_labels(spec, environment)),
        "spec": {
            "selector": {"app": spec.service, "color": color.value if color else NO_COLOR},
            "ports": [{"name": PORT_NAME, "port": SERVICE_PORT, "targetPort": PORT_NAME, "protocol": "TCP"}],
        },
    }


# --- traffic_router: gateway ------------------------------------------------------------


def color_service_name(service_name: str, color: Color) -> str:
    """A color's own Service, the HTTPRoute's backend (``traffic_router: gateway``)."""
    return f"{service_name}-{color.value}"


def route_name(spec: KubeSpec) -> str:
    return spec.service


def color_services(spec: KubeSpec, environment: str) -> list[Manifest]:
    """One Service per color, selecting that color's pods: the route's backends."""
    return [
        service(spec, environment, name=color_service_name(spec.service, color), color=color)
        for color in (Color.BLUE, Color.GREEN)
    ]


def _gateway(spec: KubeSpec) -> GatewaySpec:
    if spec.gateway is None:
        raise UsageError("traffic_router: gateway needs target.kubernetes.gateway", hint="add gateway: {name: ...}")
    return spec.gateway


def _parent_ref(gateway: GatewaySpec) -> dict[str, Any]:
    ref: dict[str, Any] = {"group": GATEWAY_GROUP, "kind": "Gateway", "name": gateway.name}
    if gateway.namespace:
        ref["namespace"] = gateway.namespace
    if gateway.section_name:
        ref["sectionName"] = gateway.section_name
    return ref


def backend_refs(spec: KubeSpec, weights: dict[Color, int]) -> list[dict[str, Any]]:
    """Both colors' Services, in a fixed order, each with its weight (0 when absent)."""
    return [
        {
            "group": "",
            "kind": "Service",
            "name": color_service_name(spec.service, color),
            "port": SERVICE_PORT,
            "weight": int(weights.get(color, 0)),
        }
        for color in (Color.BLUE, Color.GREEN)
    ]


def http_route(spec: KubeSpec, environment: str, *, live: Color | None) -> Manifest:
    """The environment's HTTPRoute with all traffic on ``live`` (none when None): a rule matching
    the gateway's path whose backendRefs are both colors' Services, by weight (percentages); the
    live color in an annotation, since a 50/50 split does not tell it."""
    gateway = _gateway(spec)
    route_spec: dict[str, Any] = {
        "parentRefs": [_parent_ref(gateway)],
        "rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": gateway.path}}],
                "backendRefs": backend_refs(spec, {live: 100} if live else {}),
            }
        ],
    }
    if gateway.hostnames:
        route_spec["hostnames"] = list(gateway.hostnames)
    return {
        "apiVersion": ROUTE_API_VERSION,
        "kind": "HTTPRoute",
        "metadata": {
            "name": route_name(spec),
            "namespace": spec.namespace_for(environment),
            "labels": shared_labels(spec, environment),
            "annotations": {LIVE_ANNOTATION: live.value if live else NO_COLOR},
        },
        "spec": route_spec,
    }


def gateway_objects(spec: KubeSpec, environment: str, *, live: Color | None) -> list[Manifest]:
    """With ``traffic_router: gateway``: both colors' Services, then the HTTPRoute (all on ``live``)."""
    return [*color_services(spec, environment), http_route(spec, environment, live=live)]


def network_policy(spec: KubeSpec, environment: str) -> Manifest:
    """Ingress to the app's pods on its port only (the Services, and the API server's proxy for the checks)."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(f"{spec.service}-ingress", spec.namespace_for(environment), shared_labels(spec, environment)),
        "spec": {
            "podSelector": {"matchLabels": {"app": spec.service}},
            "policyTypes": ["Ingress"],
            "ingress": [{"ports": [{"protocol": "TCP", "port": spec.container_port}]}],
        },
    }


def egress_policy(spec: KubeSpec, environment: str) -> Manifest | None:
    """Egress from the app's pods to DNS and to the environment's ``egress`` list; None without a list."""
    rules = spec.env(environment).egress
    if rules is None:
        return None
    dns = {
        "to": [{"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: DNS_NAMESPACE}}}],
        "ports": [{"protocol": "UDP", "port": DNS_PORT}, {"protocol": "TCP", "port": DNS_PORT}],
    }
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta(f"{spec.service}-egress", spec.namespace_for(environment), shared_labels(spec, environment)),
        "spec": {
            "podSelector": {"matchLabels": {"app": spec.service}},
            "policyTypes": ["Egress"],
            "egress": [dns, *(_egress_rule(rule) for rule in rules)],
        },
    }


def _egress_rule(rule: EgressSpec) -> dict[str, Any]:
    peer: dict[str, Any] = {}
    if rule.cidr is not None:
        peer["ipBlock"] = {"cidr": rule.cidr}
    if rule.namespace is not None:
        peer["namespaceSelector"] = {"matchLabels": {NAMESPACE_NAME_LABEL: rule.namespace}}
    if rule.pods:
        peer["podSelector"] = {"matchLabels": dict(rule.pods)}
    out: dict[str, Any] = {"to": [peer]}
    if rule.ports:
        out["ports"] = [{"protocol": rule.protocol, "port": port} for port in rule.ports]
    return out


# --- the ConfigMaps a color reads are the color's ------------------------------------------


def pod_spec_of(obj: Manifest) -> dict[str, Any]:
    """The pod template's spec of a Deployment (an empty dict when it has none)."""
    spec = ((obj.get("spec") or {}).get("template") or {}).get("spec")
    return spec if isinstance(spec, dict) else {}


def _configmap_slots(pod: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every dict in a pod spec whose ``name`` names a ConfigMap: env, envFrom, volumes, projected volumes."""
    for volume in pod.get("volumes") or []:
        if isinstance(volume.get("configMap"), dict):
            yield volume["configMap"]
        for source in (volume.get("projected") or {}).get("sources") or []:
            if isinstance(source.get("configMap"), dict):
                yield source["configMap"]
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for container in pod.get(key) or []:
            for source in container.get("envFrom") or []:
                if isinstance(source.get("configMapRef"), dict):
                    yield source["configMapRef"]
            for variable in container.get("env") or []:
                ref = (variable.get("valueFrom") or {}).get("configMapKeyRef")
                if isinstance(ref, dict):
                    yield ref


def configmap_refs(obj: Manifest) -> set[str]:
    """The ConfigMaps a Deployment's pods read."""
    return {str(slot["name"]) for slot in _configmap_slots(pod_spec_of(obj)) if slot.get("name")}


def is_owned_configmap(obj: Manifest) -> bool:
    """Whether ``obj`` is a ConfigMap named by its content (one arxdeploy made a color's)."""
    return obj.get("kind") == "ConfigMap" and CONTENT_HASH_LABEL in ((obj.get("metadata") or {}).get("labels") or {})


def content_hash(configmap: Manifest) -> str:
    """The first 10 hex digits of the sha256 of the ConfigMap's data and binaryData (canonical JSON)."""
    content = {"data": configmap.get("data") or {}, "binaryData": configmap.get("binaryData") or {}}
    encoded = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(encoded).hexdigest()[:HASH_LENGTH]


def own_config(objects: list[Manifest], extra_labels: dict[str, str]) -> list[Manifest]:
    """``objects`` with every ConfigMap their Deployments read made theirs.

    Such a ConfigMap ``<name>`` becomes ``<name>-<hash10>`` (``content_hash``), ``immutable:
    true``, with ``extra_labels`` and the content hash as a label; the Deployments' references
    (env, envFrom, volumes, projected volumes) are rewritten to the new name. So a new color
    never changes what the live one reads, and a color started again reads what it read then.
    A ConfigMap already named by its content is kept as it is (idempotent: a backup restores
    them so), and a reference to a ConfigMap not among ``objects`` is left alone. The owned
    ConfigMaps come first, so that they exist before any pod needs them.
    """
    configmaps = {o["metadata"]["name"]: o for o in objects if o.get("kind") == "ConfigMap"}
    owned: dict[str, Manifest] = {}
    renames: dict[str, str] = {}
    for obj in objects:
        if obj.get("kind") != "Deployment":
            continue
        for name in sorted(configmap_refs(obj)):
            if name in owned or name not in configmaps:
                continue
            found = configmaps[name]
            made = found if is_owned_configmap(found) else _named_by_content(found, extra_labels)
            owned[name] = made
            renames[name] = made["metadata"]["name"]
    out: list[Manifest] = list(owned.values())
    for obj in objects:
        if obj.get("kind") == "ConfigMap" and obj["metadata"]["name"] in owned:
            continue
        out.append(_renamed_refs(obj, renames) if obj.get("kind") == "Deployment" and renames else obj)
    return out


def _named_by_content(configmap: Manifest, extra_labels: dict[str, str]) -> Manifest:
    base = configmap["metadata"]["name"]
    digest = content_hash(configmap)
    name = f"{base}-{digest}"
    if len(name) > 253:
        raise UsageError(f"ConfigMap {base} has a name too long to carry its content hash", hint="shorten it")
    made = copy.deepcopy(configmap)
    meta = made["metadata"]
    meta["name"] = name
    meta["labels"] = {**(meta.get("labels") or {}), **extra_labels, CONTENT_HASH_LABEL: digest}
    meta["annotations"] = {**(meta.get("annotations") or {}), CONFIGMAP_ANNOTATION: base}
    made["immutable"] = True
    return made


def _renamed_refs(deployment: Manifest, renames: dict[str, str]) -> Manifest:
    made = copy.deepcopy(deployment)
    for slot in _configmap_slots(pod_spec_of(made)):
        if slot.get("name") in renames:
            slot["name"] = renames[slot["name"]]
    return made


# --- what a color and the environment are made of -------------------------------------------


def color_objects(spec: KubeSpec, environment: str, color: Color, version: str) -> list[Manifest]:
    """The objects that make up one color: its ConfigMaps (first), Deployment, HPA and PodDisruptionBudget."""
    templated = _templates(spec, environment, color, version)
    if templated is None:
        return [
            deployment(spec, environment, color, version),
            hpa(spec, environment, color, version),
            pod_disruption_budget(spec, environment, color, version),
        ]
    # Our labels on the objects themselves: inspect finds colors and versions by them.
    ours = labels(spec, environment, color, version)
    mine = [_labelled(m, ours) for m in templated if m.get("kind") in COLOR_KINDS]
    mine = [_pinned_images(m, spec.pinned) if m.get("kind") == "Deployment" else m for m in mine]
    read = {name for m in mine if m.get("kind") == "Deployment" for name in configmap_refs(m)}
    configmaps = [m for m in templated if m.get("kind") == "ConfigMap" and m["metadata"].get("name") in read]
    return own_config([*configmaps, *mine], shared_labels(spec, environment))


def shared_objects(
    spec: KubeSpec,
    environment: str,
    *,
    live: Color | None,
    candidate: Color,
    version: str,
) -> list[Manifest]:
    """The environment's Services and NetworkPolicies, the live one on ``live``, preview on ``candidate``.

    From a template folder: every object that is not a color's (nor a ConfigMap a color reads).
    """
    templated = _templates(spec, environment, candidate, version)
    if templated is not None:
        read = {name for m in templated if m.get("kind") == "Deployment" for name in configmap_refs(m)}
        return [
            m
            for m in templated
            if m.get("kind") not in COLOR_KINDS and not (m.get("kind") == "ConfigMap" and m["metadata"]["name"] in read)
        ]
    egress = egress_policy(spec, environment)
    # With a Gateway the route says what is live: no live Service (gateway_objects has the colors' own).
    live_service = [] if spec.routes_by_gateway else [service(spec, environment, name=spec.service, color=live)]
    return [
        *live_service,
        service(spec, environment, name=preview_name(spec.service), color=candidate),
        network_policy(spec, environment),
        *([egress] if egress else []),
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
        try:
            out += [doc for doc in yaml.safe_load_all(text) if isinstance(doc, dict)]
        except yaml.YAMLError as exc:
            raise UsageError(f"{where / name} is not valid YAML once filled in: {exc}") from None
    if not out:
        raise UsageError(f"{where} holds no *.yaml templates", hint="check target.kubernetes.manifests")
    for obj in out:
        if not isinstance(obj.get("metadata"), dict) or not obj["metadata"].get("name") or not obj.get("kind"):
            raise UsageError(f"an object in {where} has no kind or metadata.name", hint="check the templates there")
    return out


def http_port(obj: Manifest) -> int | None:
    """The number of the container port named ``http`` in a Deployment's pods: where the Services send traffic."""
    for container in pod_spec_of(obj).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == PORT_NAME and isinstance(port.get("containerPort"), int):
                return int(port["containerPort"])
    return None


def template_problems(spec: KubeSpec, environment: str) -> list[str]:
    """What in ``environment``'s template folder would make a deployment fail, one sentence each."""
    if spec.manifests is None:
        return []
    try:
        objects = color_objects(spec, environment, Color.BLUE, "0")
    except UsageError as exc:
        return [exc.message]
    where = spec.manifests / environment
    wanted = deployment_name(spec.service, Color.BLUE)
    found = [o for o in objects if o.get("kind") == "Deployment" and o["metadata"]["name"] == wanted]
    if not found:
        return [f"{where} has no Deployment named {{service}}-{{color}}: nothing would run"]
    problems = []
    for obj in found:
        pod_labels = ((obj["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
        if not selector(spec, Color.BLUE).items() <= pod_labels.items():
            problems.append(
                f"the Deployment in {where} gives its pods no labels app: {{service}} and color: {{color}}, "
                "which arxdeploy's Services select"
            )
        if http_port(obj) is None:
            problems.append(
                f"the Deployment in {where} has no container port named {PORT_NAME}, "
                "which arxdeploy's Services send traffic to and the checks go through"
            )
    return problems


def objects(spec: KubeSpec, environment: str, *, version: str, color: Color = Color.BLUE) -> list[Manifest]:
    """Every object a first deployment of ``version`` as ``color`` applies, namespace first."""
    spec.env(environment)  # NotFoundError for an unknown name, before anything else
    return [
        namespace_object(spec, environment),
        *color_objects(spec, environment, color, version),
        *shared_objects(spec, environment, live=color, candidate=color, version=version),
        *(gateway_objects(spec, environment, live=color) if spec.routes_by_gateway else []),
    ]


def render(config: Any, environment: str, *, version: str, base_dir: Path | None = None) -> str:
    """``objects`` of an ``arxdeploy.config.Config`` as one YAML stream, for ``arxdeploy k8s render``.

    ``base_dir`` is the config file's folder (``LoadedConfig.base_dir``): template folders are
    relative to it. Review the output or pipe it to ``kubectl apply -f -``. A version Kubernetes
    cannot carry is refused first (``check_version``).
    """
    check_version(version)
    spec = spec_from_config(config, base_dir=base_dir)
    return yaml.safe_dump_all(objects(spec, environment, version=version), sort_keys=False)
