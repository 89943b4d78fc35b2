"""What the API server does to an object on create and update: defaults, server-set fields,
validation, generation, and keeping ``.status`` apart from the rest."""

from __future__ import annotations

import base64
import binascii
import copy
import random
import uuid
from datetime import UTC, datetime
from typing import Any

from arxdeploy.testing.kube import gateway_schema, quantity, validation
from arxdeploy.testing.kube.errors import bad_request
from arxdeploy.testing.kube.resources import Resource

_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # the API server's generateName alphabet
_MAX_GENERATED_BASE = 63 - 5
_INITIAL_STATUS: dict[str, dict[str, Any]] = {
    "pods": {"phase": "Pending"},
    "namespaces": {"phase": "Active"},
    "services": {"loadBalancer": {}},
}


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def random_suffix(length: int = 5) -> str:
    return "".join(random.choice(_SUFFIX_ALPHABET) for _ in range(length))


def check_type(resource: Resource, obj: Any) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise bad_request("the request body must be a JSON object")
    kind, api_version = obj.get("kind"), obj.get("apiVersion")
    if (kind and kind != resource.kind) or (api_version and api_version != resource.api_version):
        raise bad_request(
            f"the API version in the data ({api_version}) does not match the expected API version "
            f"({resource.api_version}) or the kind ({kind}) is not {resource.kind}"
        )
    obj["kind"], obj["apiVersion"] = resource.kind, resource.api_version
    meta = obj.setdefault("metadata", {})
    if not isinstance(meta, dict):
        raise bad_request("metadata must be an object")
    for part in ("labels", "annotations"):
        values = meta.get(part)
        if values is not None and (
            not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values())
        ):
            raise bad_request(
                f'{resource.kind} in version "{resource.version}" cannot be handled as a {resource.kind}: '
                f"json: cannot unmarshal into Go struct field ObjectMeta.metadata.{part} of type string"
            )
    for spec in quantity.pod_specs(obj):
        for group in ("containers", "initContainers"):
            listed = spec.get(group)
            if listed is not None and (not isinstance(listed, list) or not all(isinstance(c, dict) for c in listed)):
                raise bad_request(
                    f'{resource.kind} in version "{resource.version}" cannot be handled as a {resource.kind}: '
                    f"json: cannot unmarshal into Go struct field PodSpec.spec.{group} of type []v1.Container"
                )
    quantity.check_decodable(obj)
    if resource.plural in {"secrets", "configmaps"}:
        _check_bytes(resource, obj)
    if resource.plural == "secrets":
        _merge_string_data(obj)
    return obj


def _check_bytes(resource: Resource, obj: dict[str, Any]) -> None:
    """Secret ``data`` and ConfigMap ``binaryData`` are ``[]byte`` in Go: JSON carries them in
    base64, and a value that is not base64 fails decoding (400) before anything is validated."""
    field = "data" if resource.plural == "secrets" else "binaryData"
    for value in (obj.get(field) or {}).values():
        if not isinstance(value, str):
            continue
        if (at := _bad_base64_at(value)) is not None:
            raise bad_request(
                f'{resource.kind} in version "{resource.version}" cannot be handled as a {resource.kind}: '
                f"illegal base64 data at input byte {at}"
            )


def _bad_base64_at(value: str) -> int | None:
    """Where Go's ``base64.StdEncoding`` gives up on ``value``, or None if it decodes."""
    try:
        base64.b64decode(value, validate=True)
        return None
    except (binascii.Error, ValueError):
        pass
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
    for index, char in enumerate(value):
        if char not in alphabet:
            return index
    return len(value) - len(value) % 4  # cut short: the last, incomplete quantum


def _merge_string_data(secret: dict[str, Any]) -> None:
    """``stringData`` is write-only: its keys overwrite ``data`` (base64 of the UTF-8 text) and it is
    never stored (``Convert_v1_Secret_To_core_Secret`` in pkg/apis/core/v1/conversion.go)."""
    strings = secret.pop("stringData", None)
    if not strings:
        return
    data = secret.get("data") or {}
    for key, text in strings.items():
        data[key] = base64.b64encode(str(text).encode()).decode()
    secret["data"] = data


def prepare_create(resource: Resource, obj: dict[str, Any], namespace: str | None) -> dict[str, Any]:
    meta = obj["metadata"]
    if namespace is not None:
        if meta.get("namespace") not in (None, "", namespace):
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        meta["namespace"] = namespace
    else:
        meta.pop("namespace", None)
    if not meta.get("name") and meta.get("generateName"):
        # SimpleNameGenerator: the base is cut so that base + 5 random characters fit in 63
        meta["name"] = f"{meta['generateName'][:_MAX_GENERATED_BASE]}{random_suffix()}"
    for server_set in ("resourceVersion", "deletionTimestamp", "managedFields"):
        meta.pop(server_set, None)
    meta["uid"] = str(uuid.uuid4())
    meta["creationTimestamp"] = now()
    if resource.generation:
        meta["generation"] = 1
    if resource.status:
        obj["status"] = copy.deepcopy(_INITIAL_STATUS.get(resource.plural, {}))
    _defaults(resource, obj)
    validation.validate(resource, obj)
    if resource.plural == "pods":
        obj["status"]["qosClass"] = qos_class(obj)  # set once, on create (the pod strategy's PrepareForCreate)
    return obj


def prepare_update(resource: Resource, old: dict[str, Any], new: dict[str, Any], subresource: str) -> dict[str, Any]:
    """Carry over what a client cannot change, and split status from spec as the real strategies do."""
    if subresource == "status":
        status = new.get("status")
        new = copy.deepcopy(old)
        if status is None:
            new.pop("status", None)
        else:
            new["status"] = status
        return new
    meta, old_meta = new["metadata"], old["metadata"]
    for fixed in ("name", "namespace", "uid", "creationTimestamp", "generation", "deletionTimestamp"):
        if fixed in old_meta:
            meta[fixed] = old_meta[fixed]
        else:
            meta.pop(fixed, None)
    meta.pop("managedFields", None)
    if resource.status:
        if "status" in old:
            new["status"] = copy.deepcopy(old["status"])
        else:
            new.pop("status", None)
    if resource.plural == "services" and isinstance(new.get("spec"), dict):
        # an update that leaves the allocated IP out keeps it, as the real Service strategy does
        for allocated in ("clusterIP", "clusterIPs"):
            if allocated in (old.get("spec") or {}):
                new["spec"].setdefault(allocated, old["spec"][allocated])
    _defaults(resource, new)
    validation.validate(resource, new)
    validation.validate_update(resource, old, new)
    if resource.generation and new.get("spec") != old.get("spec"):
        meta["generation"] = int(old_meta.get("generation", 1)) + 1
    return new


def _defaults(resource: Resource, obj: dict[str, Any]) -> None:
    spec = obj.get("spec")
    if resource.plural in {"deployments", "replicasets"} and isinstance(spec, dict):
        spec.setdefault("replicas", 1)
        if resource.plural == "deployments":
            strategy = spec.setdefault("strategy", {})
            strategy.setdefault("type", "RollingUpdate")
            if strategy["type"] == "RollingUpdate":
                strategy.setdefault("rollingUpdate", {"maxUnavailable": "25%", "maxSurge": "25%"})
            spec.setdefault("revisionHistoryLimit", 10)
            spec.setdefault("progressDeadlineSeconds", 600)
    if resource.plural == "services" and isinstance(spec, dict):
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if "clusterIP" not in spec:
            spec["clusterIP"] = f"10.96.{random.randint(0, 255)}.{random.randint(1, 254)}"
        spec.setdefault("clusterIPs", [spec["clusterIP"]])
        for port in spec.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
                port.setdefault("targetPort", port.get("port"))
    if resource.plural == "secrets" and not obj.get("type"):
        obj["type"] = "Opaque"  # SetDefaults_Secret
    if resource.plural == "namespaces":
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"].get("name", "")
    if resource.plural == "pods" and isinstance(spec, dict):
        # SetDefaults_Pod (pods only, not templates): a limit without a request is also the request
        for container in spec.get("containers") or []:
            resources = container.get("resources") if isinstance(container, dict) else None
            if isinstance(resources, dict) and resources.get("limits"):
                requests = resources.setdefault("requests", {})
                for name, value in resources["limits"].items():
                    requests.setdefault(name, value)
    if resource.plural == "horizontalpodautoscalers" and isinstance(spec, dict):
        _hpa_defaults(spec)
    if resource.plural == "httproutes":
        gateway_schema.route_defaults(obj)
    if resource.plural == "gateways":
        gateway_schema.gateway_defaults(obj)
    if resource.plural == "networkpolicies" and isinstance(spec, dict):
        _network_policy_defaults(spec)


def _network_policy_defaults(spec: dict[str, Any]) -> None:
    """pkg/apis/networking/v1/defaults.go: without policyTypes a policy is about Ingress, and
    Egress too when it has egress rules (SetDefaults_NetworkPolicy); a port's protocol is TCP
    (SetDefaults_NetworkPolicyPort)."""
    if not spec.get("policyTypes"):
        spec["policyTypes"] = ["Ingress", *(["Egress"] if spec.get("egress") else [])]
    for direction in ("ingress", "egress"):
        for rule in spec.get(direction) or []:
            for port in (rule.get("ports") or []) if isinstance(rule, dict) else []:
                if isinstance(port, dict):
                    port.setdefault("protocol", "TCP")


def _hpa_defaults(spec: dict[str, Any]) -> None:
    """pkg/apis/autoscaling/v2/defaults.go: minReplicas 1, CPU at 80 % when no metric is named, and
    a ``behavior`` that is given filled in (a missing one stays missing: the controller then uses
    its own rules)."""
    spec.setdefault("minReplicas", 1)
    if not spec.get("metrics"):
        target = {"type": "Utilization", "averageUtilization": 80}
        spec["metrics"] = [{"type": "Resource", "resource": {"name": "cpu", "target": target}}]
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        up = behavior.get("scaleUp") or {}
        up.setdefault("stabilizationWindowSeconds", 0)
        up.setdefault("selectPolicy", "Max")
        up.setdefault(
            "policies",
            [{"type": "Pods", "value": 4, "periodSeconds": 15}, {"type": "Percent", "value": 100, "periodSeconds": 15}],
        )
        down = behavior.get("scaleDown") or {}
        down.setdefault("selectPolicy", "Max")
        down.setdefault("policies", [{"type": "Percent", "value": 100, "periodSeconds": 15}])
        behavior["scaleUp"], behavior["scaleDown"] = up, down


def qos_class(pod: dict[str, Any]) -> str:
    """Guaranteed (every container's requests equal its limits, for CPU and memory), BestEffort
    (no requests or limits at all), else Burstable (pkg/apis/core/helper/qos)."""
    containers = (pod.get("spec") or {}).get("containers") or []
    resources = [c.get("resources") or {} for c in containers if isinstance(c, dict)]
    if not any(r.get("requests") or r.get("limits") for r in resources):
        return "BestEffort"
    guaranteed = all(
        (r.get("limits") or {}).get(name) is not None
        and (r.get("requests") or {}).get(name, (r.get("limits") or {}).get(name)) == (r.get("limits") or {}).get(name)
        for r in resources
        for name in ("cpu", "memory")
    )
    return "Guaranteed" if guaranteed else "Burstable"
