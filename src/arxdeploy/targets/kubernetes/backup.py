"""Export an environment's objects as re-appliable YAML, with a manifest of digests."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from arxdeploy.errors import TargetError

DEPLOYMENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
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
) -> dict[str, Any]:
    """Write one YAML file per object, the Secret names, and ``manifest.json``; return the manifest."""
    if not DEPLOYMENT_ID.match(deployment_id):
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
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": files,
    }
    _write(folder / "manifest.json", json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n")
    return manifest


def _write(path: Path, data: bytes) -> str:
    """Write atomically (a crash leaves the old file or the new one) and return the sha256."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(data)
    temporary.replace(path)
    return hashlib.sha256(data).hexdigest()
