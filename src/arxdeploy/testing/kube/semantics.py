"""What the API server does to an object on create and update: defaults, server-set fields,
validation, generation, and keeping ``.status`` apart from the rest."""

from __future__ import annotations

import copy
import random
import re
import uuid
from datetime import UTC, datetime
from typing import Any

from arxdeploy.testing.kube.errors import bad_request, invalid
from arxdeploy.testing.kube.resources import Resource
from arxdeploy.testing.kube.selectors import from_label_selector_object

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # the API server's generateName alphabet
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
    if not isinstance(obj.setdefault("metadata", {}), dict):
        raise bad_request("metadata must be an object")
    return obj


def prepare_create(resource: Resource, obj: dict[str, Any], namespace: str | None) -> dict[str, Any]:
    meta = obj["metadata"]
    if namespace is not None:
        if meta.get("namespace") not in (None, "", namespace):
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        meta["namespace"] = namespace
    else:
        meta.pop("namespace", None)
    if not meta.get("name") and meta.get("generateName"):
        meta["name"] = f"{meta['generateName']}{random_suffix()}"
    for server_set in ("resourceVersion", "deletionTimestamp", "managedFields"):
        meta.pop(server_set, None)
    meta["uid"] = str(uuid.uuid4())
    meta["creationTimestamp"] = now()
    if resource.generation:
        meta["generation"] = 1
    if resource.status:
        obj["status"] = copy.deepcopy(_INITIAL_STATUS.get(resource.plural, {}))
    _defaults(resource, obj)
    validate(resource, obj)
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
    validate(resource, new)
    _check_immutable(resource, old, new)
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
    if resource.plural == "namespaces":
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"].get("name", "")


def validate(resource: Resource, obj: dict[str, Any]) -> None:
    meta = obj["metadata"]
    name = meta.get("name") or ""
    if not name:
        raise invalid(resource, name, "metadata.name", "Required value: name or generateName is required")
    if len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
        raise invalid(resource, name, "metadata.name", f'Invalid value: "{name}": a lowercase RFC 1123 subdomain')
    labels = meta.get("labels") or {}
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        raise invalid(resource, name, "metadata.labels", "Invalid value: label values must be strings")
    if resource.plural in {"deployments", "replicasets"}:
        spec = obj.get("spec")
        if not isinstance(spec, dict) or not spec.get("selector"):
            raise invalid(resource, name, "spec.selector", "Required value")
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        if not from_label_selector_object(spec["selector"]).matches(template_labels):
            problem = "Invalid value: `selector` does not match template `labels`"
            raise invalid(resource, name, "spec.template.metadata.labels", problem)
        if not isinstance(spec.get("replicas"), int) or spec["replicas"] < 0:
            raise invalid(resource, name, "spec.replicas", "Invalid value: must be greater than or equal to 0")
    if resource.plural == "pods":
        containers = (obj.get("spec") or {}).get("containers")
        if not containers:
            raise invalid(resource, name, "spec.containers", "Required value")


def _check_immutable(resource: Resource, old: dict[str, Any], new: dict[str, Any]) -> None:
    name = new["metadata"]["name"]
    selector_changed = (old.get("spec") or {}).get("selector") != (new.get("spec") or {}).get("selector")
    if resource.plural in {"deployments", "replicasets"} and selector_changed:
        raise invalid(resource, name, "spec.selector", "Invalid value: field is immutable")
    if resource.plural == "services":
        old_ip, new_ip = (old.get("spec") or {}).get("clusterIP"), (new.get("spec") or {}).get("clusterIP")
        if new_ip != old_ip:
            raise invalid(resource, name, "spec.clusterIP", "Invalid value: field is immutable")
    if resource.plural == "configmaps" and old.get("immutable") is True:
        # as ValidateConfigMapUpdate: the data stays, and so does the flag itself
        for field in ("immutable", "data", "binaryData"):
            if old.get(field) != new.get(field):
                raise invalid(resource, name, field, "Forbidden: field is immutable when `immutable` is set")
    if resource.plural == "pods":
        old_spec, new_spec = _without_images(old.get("spec")), _without_images(new.get("spec"))
        if old_spec != new_spec:
            problem = "Forbidden: pod updates may not change fields other than `spec.containers[*].image`"
            raise invalid(resource, name, "spec", problem)


def _without_images(spec: Any) -> Any:
    spec = copy.deepcopy(spec) or {}
    for container in [*spec.get("containers", []), *spec.get("initContainers", [])]:
        container.pop("image", None)
    for loose in ("activeDeadlineSeconds", "tolerations", "nodeName"):
        spec.pop(loose, None)
    return spec
