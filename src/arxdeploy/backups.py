"""The backups a deployment takes before it changes anything, as the target wrote them.

Every target writes ``<state_dir>/backups/<deployment id>/manifest.json`` with the sha256 of
each file it saved; this module lists them and checks that the files are still intact.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arxdeploy.errors import NotFoundError


@dataclass(frozen=True)
class Backup:
    deployment_id: str
    environment: str
    created_at: str
    folder: Path
    files: dict[str, str]  # name -> sha256 recorded when it was written
    damaged: tuple[str, ...]  # files missing or no longer matching their digest

    @property
    def intact(self) -> bool:
        return not self.damaged

    def to_json(self) -> dict[str, Any]:
        return {
            "deployment_id": self.deployment_id,
            "environment": self.environment,
            "created_at": self.created_at,
            "folder": str(self.folder),
            "files": self.files,
            "intact": self.intact,
            "damaged": list(self.damaged),
        }


def list_backups(state_dir: Path, *, environment: str | None = None) -> list[Backup]:
    """Newest first; folders without a readable manifest are skipped."""
    found = []
    for manifest in (state_dir / "backups").glob("*/manifest.json"):
        backup = _read(manifest)
        if backup and (environment is None or backup.environment == environment):
            # created_at has whole seconds: the manifest's mtime orders backups within one.
            found.append((backup.created_at, manifest.stat().st_mtime_ns, backup))
    return [backup for *_, backup in sorted(found, key=lambda row: row[:2], reverse=True)]


def get_backup(state_dir: Path, deployment_id: str) -> Backup:
    """The backup taken by one deployment (a unique prefix of its id is enough)."""
    matches = [b for b in list_backups(state_dir) if b.deployment_id.startswith(deployment_id)]
    if len(matches) != 1:
        what = "no backup" if not matches else f"{len(matches)} backups"
        raise NotFoundError(f"{what} for deployment {deployment_id!r}", hint="see them with `arxdeploy backup list`")
    return matches[0]


def prune(state_dir: Path, *, environment: str, keep: int) -> list[str]:
    """Delete all but the newest ``keep`` backups of ``environment``; returns the deployment ids deleted."""
    deleted = []
    for old in list_backups(state_dir, environment=environment)[keep:]:
        shutil.rmtree(old.folder, ignore_errors=True)
        deleted.append(old.deployment_id)
    return deleted


def _read(manifest: Path) -> Backup | None:
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        files = {str(k): str(v) for k, v in dict(data.get("files", {})).items()}
        deployment_id, environment = str(data["deployment_id"]), str(data["environment"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    folder = manifest.parent
    damaged = tuple(name for name, digest in files.items() if _sha256(folder / name) != digest)
    return Backup(deployment_id, environment, str(data.get("created_at", "")), folder, files, damaged)


def _sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None
