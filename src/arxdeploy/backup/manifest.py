"""The two documents of a backup: the manifest inside it and the index beside it.

- The **manifest** (``manifest.json``, the archive's first member) names every other file of the
  backup with its sha256 and size, sorted by name. It travels inside the archive, so it is
  encrypted with it: file names and digests do not leak.
- The **index** (``<id>.json``, beside the archive) is what listings and rollbacks read without
  the key: who took the backup, when, what the target's colors ran, the target's facts (names,
  never contents), whether it holds a database dump, and the archive's own size and sha256, so
  a truncated or altered archive is caught before it is even opened. It is written last: a
  backup exists once its index does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from arxdeploy.domain.ids import is_deployment_id
from arxdeploy.domain.states import Color
from arxdeploy.errors import BackupError
from arxdeploy.ports import BackupInfo

SCHEMA = 1
MANIFEST = "manifest.json"
CHUNK = 1 << 20


def check_id(backup_id: str) -> str:
    """A backup is named by its deployment's id: one pattern (``domain.ids``), checked here for all."""
    if not is_deployment_id(backup_id):
        raise BackupError(f"{backup_id!r} cannot name a backup: not a deployment id")
    return backup_id


def sha256_of(source: bytes | Path) -> tuple[str, int]:
    """The sha256 (hex) and size of bytes or of a file, read in chunks."""
    digest = hashlib.sha256()
    if isinstance(source, bytes):
        digest.update(source)
        return digest.hexdigest(), len(source)
    size = 0
    with source.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


@dataclass(frozen=True)
class FileEntry:
    sha256: str
    size: int


@dataclass(frozen=True)
class Manifest:
    id: str
    service: str
    environment: str
    created_at: str  # ISO 8601, UTC
    files: Mapping[str, FileEntry]

    def to_bytes(self) -> bytes:
        body = {
            "schema": SCHEMA,
            "id": self.id,
            "service": self.service,
            "environment": self.environment,
            "created_at": self.created_at,
            "files": {name: {"sha256": e.sha256, "size": e.size} for name, e in sorted(self.files.items())},
        }
        return json.dumps(body, indent=2, sort_keys=True).encode() + b"\n"

    @classmethod
    def from_bytes(cls, data: bytes) -> Manifest:
        """Raises ``ValueError`` when it is not a manifest this version can read."""
        raw = _object(data, "manifest")
        files = raw.get("files")
        if not isinstance(files, dict):
            raise ValueError("manifest without files")
        return cls(
            id=_text(raw, "id"),
            service=_text(raw, "service"),
            environment=_text(raw, "environment"),
            created_at=_text(raw, "created_at"),
            files={str(name): _entry(value) for name, value in files.items()},
        )


@dataclass(frozen=True)
class Index:
    """The index of one backup; ``archive`` is the archive's name beside it."""

    info: BackupInfo
    archive: str
    sha256: str  # of the archive as stored (encrypted, when it is)

    def to_bytes(self) -> bytes:
        i = self.info
        body: dict[str, Any] = {
            "schema": SCHEMA,
            "id": i.id,
            "service": i.service,
            "environment": i.environment,
            "created_at": i.created_at.isoformat(),
            "target": i.target,
            "versions": list(i.versions),
            "facts": dict(i.facts),
            "live_version": i.live_version,
            "live_color": i.live_color.value if i.live_color else None,
            "files": i.files,
            "archive": {"name": self.archive, "size": i.size, "sha256": self.sha256},
            "encryption": "age" if i.encrypted else None,
            "database": i.database,
        }
        return json.dumps(body, indent=2, sort_keys=True).encode() + b"\n"

    @classmethod
    def from_bytes(cls, data: bytes, *, where: str) -> Index:
        """Raises ``ValueError`` when it is not an index this version can read."""
        raw = _object(data, "index")
        archive = raw.get("archive")
        if not isinstance(archive, dict):
            raise ValueError("index without archive")
        facts = raw.get("facts") or {}
        versions = raw.get("versions") or []
        color = raw.get("live_color")
        if not isinstance(facts, dict) or not isinstance(versions, list):
            raise ValueError("index with malformed facts or versions")
        info = BackupInfo(
            id=check_text_id(_text(raw, "id")),
            service=_text(raw, "service"),
            environment=_text(raw, "environment"),
            created_at=datetime.fromisoformat(_text(raw, "created_at")),
            target=_text(raw, "target"),
            versions=tuple(str(v) for v in versions),
            facts=facts,
            live_version=raw.get("live_version"),
            live_color=Color(color) if color else None,
            files=int(raw.get("files") or 0),
            size=int(archive["size"]),
            encrypted=raw.get("encryption") == "age",
            where=where,
            database=raw.get("database") is True,  # absent from indexes written before dumps existed
        )
        return cls(info=info, archive=str(archive["name"]), sha256=str(archive["sha256"]))


def check_text_id(text: str) -> str:
    if not is_deployment_id(text):
        raise ValueError(f"{text!r} is not a backup id")
    return text


def _object(data: bytes, what: str) -> dict[str, Any]:
    raw = json.loads(data)
    if not isinstance(raw, dict):
        raise ValueError(f"{what} is not a JSON object")
    if raw.get("schema") != SCHEMA:
        raise ValueError(f"{what} schema {raw.get('schema')!r} is not {SCHEMA}")
    return raw


def _text(raw: Mapping[str, Any], key: str) -> str:
    value = raw.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"no {key}")
    return value


def _entry(value: Any) -> FileEntry:
    if not isinstance(value, dict):
        raise ValueError("malformed file entry")
    return FileEntry(sha256=str(value["sha256"]), size=int(value["size"]))
