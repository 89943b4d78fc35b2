"""Export an environment's objects as re-appliable YAML, with a manifest of digests."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from arxdeploy.domain.ids import is_deployment_id
from arxdeploy.domain.states import Color
from arxdeploy.errors import NotFoundError, TargetError
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


def write(
    folder: Path,
    *,
    deployment_id: str,
    environment: str,
    namespace: str,
    objects: list[dict[str, Any]],
    secret_names: list[str],
    namespace_existed: bool = True,
) -> dict[str, Any]:
    """Write one YAML file per object, the Secret names, and ``manifest.json``; return the manifest.

    ``namespace_existed`` is recorded so that a failed first deployment removes the namespace it
    created, and never one that was there before it.
    """
    if not is_deployment_id(deployment_id):
        raise TargetError(f"deployment id {deployment_id!r} cannot name a backup folder")
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    for obj in objects:
        clean = strip(obj)
        files[file_name(clean)] = _write(folder / file_name(clean), yaml.safe_dump(clean, sort_keys=False).encode())
    # Secret values never leave the cluster: only which Secrets a restore will need.
    names = json.dumps(sorted(secret_names), indent=2).encode() + b"\n"
    files[SECRET_NAMES_FILE] = _write(folder / SECRET_NAMES_FILE, names)
    manifest: dict[str, Any] = {
        "deployment_id": deployment_id,
        "environment": environment,
        "namespace": namespace,
        "namespace_existed": namespace_existed,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": files,
    }
    _write(folder / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n")
    return manifest


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """A backup's ``manifest.json``, or None when there is none (or it cannot be read)."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def saved_names(manifest: dict[str, Any], kinds: tuple[str, ...]) -> set[tuple[str, str]]:
    """(kind, name) of each object the backup saved, from its file names (``file_name``)."""
    found = set()
    for name in manifest.get("files") or {}:
        for kind in kinds:
            prefix = f"{kind.lower()}-"
            if name.startswith(prefix) and name.endswith(".yaml"):
                found.add((kind, name.removeprefix(prefix).removesuffix(".yaml")))
    return found


def _write(path: Path, data: bytes) -> str:
    """Write atomically (a crash leaves the old file or the new one) and return the sha256."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    temporary.replace(path)
    return hashlib.sha256(data).hexdigest()


def saved_color(backups_dir: Path, *, environment: str, version: str) -> tuple[str, list[dict[str, Any]], list[str]]:
    """What ran ``version`` in the newest intact backup of ``environment`` that has it.

    Returns the backup's deployment id, its objects (the ConfigMaps the Deployment that ran the
    version reads, the NetworkPolicies it lived with, the Deployment, and its HPA and
    PodDisruptionBudget) and the namespace's Secret names then. Other ConfigMaps are not the
    color's and are left out: restoring them would change what the live color reads. Raises
    ``NotFoundError`` when no intact backup ran that version.
    """
    manifests = []
    for path in backups_dir.glob("*/manifest.json"):
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(manifest, dict) and manifest.get("environment") == environment:
            manifests.append((str(manifest.get("created_at", "")), path.stat().st_mtime_ns, path, manifest))
    for *_, path, manifest in sorted(manifests, key=lambda row: row[:2], reverse=True):  # newest first
        found = _objects_if_intact(path.parent, manifest)
        if found is None:
            continue
        deployment = next((o for o in found if o.get("kind") == "Deployment" and _version(o) == version), None)
        if deployment is None:
            continue
        name = deployment["metadata"]["name"]
        hpa = [o for o in found if o.get("kind") == "HorizontalPodAutoscaler" and _scales(o) == name]
        budget = [o for o in found if o.get("kind") == "PodDisruptionBudget" and o["metadata"].get("name") == name]
        reads = configmap_refs(deployment)
        configmaps = [o for o in found if o.get("kind") == "ConfigMap" and o["metadata"].get("name") in reads]
        policies = [o for o in found if o.get("kind") == "NetworkPolicy"]
        names = json.loads((path.parent / SECRET_NAMES_FILE).read_text(encoding="utf-8"))
        saved = [*configmaps, *policies, deployment, *hpa, *budget]
        return str(manifest["deployment_id"]), saved, [str(n) for n in names]
    raise NotFoundError(f"no intact backup of {environment} ran version {version}")


def _objects_if_intact(folder: Path, manifest: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The backup's objects, or None when a file is missing or no longer matches its digest."""
    objects = []
    for name, digest in dict(manifest.get("files") or {}).items():
        try:
            data = (folder / name).read_bytes()
        except OSError:
            return None
        if hashlib.sha256(data).hexdigest() != digest:
            return None
        if name.endswith(".yaml"):
            obj = yaml.safe_load(data)
            if isinstance(obj, dict):
                objects.append(obj)
    return objects


def _version(obj: dict[str, Any]) -> str | None:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels.get(VERSION_LABEL)


def _scales(hpa: dict[str, Any]) -> str | None:
    return ((hpa.get("spec") or {}).get("scaleTargetRef") or {}).get("name")


def configmaps_in_backups(backups_dir: Path, *, environment: str) -> set[str]:
    """The ConfigMaps that the Deployments saved in ``environment``'s backups read (intact or not)."""
    names: set[str] = set()
    for path in backups_dir.glob("*/manifest.json"):
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(manifest, dict) or manifest.get("environment") != environment:
            continue
        for saved in path.parent.glob("deployment-*.yaml"):
            try:
                obj = yaml.safe_load(saved.read_bytes())
            except (OSError, yaml.YAMLError):
                continue
            if isinstance(obj, dict):
                names |= configmap_refs(obj)
    return names


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
