"""An environment's objects as re-appliable YAML (the target's part of a backup), and what a
restore takes back out of them. ``arxdeploy.backup`` keeps them: manifests, digests and storage
are its business."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

import yaml

from arxdeploy.domain.states import Color
from arxdeploy.targets.kubernetes.manifests import VERSION_LABEL, configmap_refs, deployment_name, pod_spec_of

# Set by the server; re-applying them would fail (resourceVersion) or lie (status).
SERVER_META = ("uid", "resourceVersion", "creationTimestamp", "managedFields", "generation", "selfLink")
SERVER_ANNOTATIONS = ("deployment.kubernetes.io/revision", "kubectl.kubernetes.io/last-applied-configuration")
# Allocated by the server per Service; a restore must get fresh ones.
SERVICE_SPEC_SERVER = ("clusterIP", "clusterIPs")
SECRET_NAMES_FILE = "secret-names.json"


def strip(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` without server-set fields, ready to be applied again."""
    out = {k: v for k, v in obj.items() if k != "status"}
    meta = {k: v for k, v in (out.get("metadata") or {}).items() if k not in SERVER_META}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in SERVER_ANNOTATIONS}
    meta.pop("annotations", None)
    if annotations:
        meta["annotations"] = annotations
    out["metadata"] = meta
    if out.get("kind") == "Service" and isinstance(out.get("spec"), dict):
        out["spec"] = {k: v for k, v in out["spec"].items() if k not in SERVICE_SPEC_SERVER}
    return out


def file_name(obj: dict[str, Any]) -> str:
    return f"{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"


def export_files(objects: list[dict[str, Any]], secret_names: list[str]) -> dict[str, bytes]:
    """One YAML file per object (``file_name``) and the Secrets' names: the target's part of a backup."""
    files = {}
    for obj in objects:
        clean = strip(obj)
        files[file_name(clean)] = yaml.safe_dump(clean, sort_keys=False).encode()
    # Secret values never leave the cluster: only which Secrets a restore will need.
    files[SECRET_NAMES_FILE] = json.dumps(sorted(secret_names), indent=2).encode() + b"\n"
    return files


def saved_color(files: Mapping[str, bytes], *, version: str) -> tuple[list[dict[str, Any]], list[str]] | None:
    """What ran ``version`` in a backup's export (``export_files``), or None if nothing did.

    Returns its objects (the ConfigMaps the Deployment that ran the version reads, the
    NetworkPolicies it lived with, the Deployment, and its HPA and PodDisruptionBudget) and the
    namespace's Secret names then. Other ConfigMaps are not the color's and are left out:
    restoring them would change what the live color reads.
    """
    found = [obj for name, data in sorted(files.items()) if name.endswith(".yaml") for obj in _objects(data)]
    deployment = next((o for o in found if o.get("kind") == "Deployment" and _version(o) == version), None)
    if deployment is None:
        return None
    name = deployment["metadata"]["name"]
    hpa = [o for o in found if o.get("kind") == "HorizontalPodAutoscaler" and _scales(o) == name]
    budget = [o for o in found if o.get("kind") == "PodDisruptionBudget" and o["metadata"].get("name") == name]
    reads = configmap_refs(deployment)
    configmaps = [o for o in found if o.get("kind") == "ConfigMap" and o["metadata"].get("name") in reads]
    policies = [o for o in found if o.get("kind") == "NetworkPolicy"]
    names = json.loads(files.get(SECRET_NAMES_FILE, b"[]"))
    return [*configmaps, *policies, deployment, *hpa, *budget], [str(n) for n in names]


def versions_of(objects: list[dict[str, Any]]) -> set[str]:
    """The versions the exported Deployments run."""
    return {v for o in objects if o.get("kind") == "Deployment" and (v := _version(o))}


def configmaps_read(objects: list[dict[str, Any]]) -> set[str]:
    """The ConfigMaps the exported Deployments read: kept while a backup may bring them back."""
    names: set[str] = set()
    for obj in objects:
        if obj.get("kind") == "Deployment":
            names |= configmap_refs(obj)
    return names


def _objects(data: bytes) -> list[dict[str, Any]]:
    obj = yaml.safe_load(data)
    return [obj] if isinstance(obj, dict) else []


def _version(obj: dict[str, Any]) -> str | None:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels.get(VERSION_LABEL)


def _scales(hpa: dict[str, Any]) -> str | None:
    return ((hpa.get("spec") or {}).get("scaleTargetRef") or {}).get("name")


def secret_refs(obj: dict[str, Any]) -> set[str]:
    """The Secrets a saved Deployment's pods need: env, envFrom, volumes and projected volumes.

    A reference marked ``optional: true`` is left out: its pods start without that Secret.
    """
    pod = pod_spec_of(obj)
    refs: list[tuple[dict[str, Any], str]] = []
    for volume in pod.get("volumes") or []:
        refs.append((volume.get("secret") or {}, "secretName"))
        refs += [
            (source.get("secret") or {}, "name") for source in (volume.get("projected") or {}).get("sources") or []
        ]
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for container in pod.get(key) or []:
            refs += [(source.get("secretRef") or {}, "name") for source in container.get("envFrom") or []]
            refs += [((e.get("valueFrom") or {}).get("secretKeyRef") or {}, "name") for e in container.get("env") or []]
    return {str(ref[key]) for ref, key in refs if ref.get(key) and not ref.get("optional")}


def recolored(obj: dict[str, Any], service: str, color: Color, namespace: str) -> dict[str, Any]:
    """A saved object moved to ``color``: a rollback may start the old version on either slot."""
    out = copy.deepcopy(obj)
    meta = out.setdefault("metadata", {})
    meta["namespace"] = namespace
    if out.get("kind") not in ("Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
        return out
    name = deployment_name(service, color)
    meta["name"] = name
    meta.setdefault("labels", {})["color"] = color.value
    spec = out.setdefault("spec", {})
    if out["kind"] == "HorizontalPodAutoscaler":
        spec.setdefault("scaleTargetRef", {})["name"] = name
        return out
    if out["kind"] == "PodDisruptionBudget":
        spec.setdefault("selector", {}).setdefault("matchLabels", {})["color"] = color.value
        return out
    spec.setdefault("selector", {}).setdefault("matchLabels", {})["color"] = color.value
    template_meta = spec.setdefault("template", {}).setdefault("metadata", {})
    template_meta.setdefault("labels", {})["color"] = color.value
    for spread in pod_spec_of(out).get("topologySpreadConstraints") or []:  # spread among its own pods
        match = (spread.get("labelSelector") or {}).get("matchLabels") or {}
        if "color" in match:
            match["color"] = color.value
    return out
