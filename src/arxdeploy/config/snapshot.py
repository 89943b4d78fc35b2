"""The content a deployment runs: the resolved config and every file it names, read once.

Approvals bind to this content's digest, and what runs after the gate is this very content:
check scripts and database scripts run from a private copy of the bytes read here and manifest
templates are rendered from the text read here, never read from disk again. Edits made while a deployment
waits at its gate therefore cannot reach it; they change the digest of the content on disk,
which voids the approvals (``engine.gate``), for the waiting process and ``resume`` alike.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from arxdeploy.config.essentials import Essentials

if TYPE_CHECKING:
    from arxdeploy.config.loader import LoadedConfig


@dataclass(frozen=True)
class Snapshot:
    files: Mapping[Path, bytes | None]  # absolute path -> content (None: missing or unreadable)
    digest: str  # sha256 over the resolved config and every file, names included

    def read(self, path: Path) -> bytes | None:
        return self.files.get(path)

    def templates_in(self, folder: Path) -> dict[str, str]:
        """``name -> text`` of the ``*.yaml`` files directly in ``folder`` (one environment's)."""
        return {
            path.name: content.decode("utf-8")
            for path, content in sorted(self.files.items())
            if path.parent == folder and path.suffix == ".yaml" and content is not None
        }


def take(of: Essentials | LoadedConfig) -> Snapshot:
    """Read the config's files once, now, and digest them with the resolved config."""
    essentials = of if isinstance(of, Essentials) else of.essentials
    base = essentials.base_dir
    paths = list(essentials.files)
    if essentials.manifests is not None:
        paths += sorted(p for p in essentials.manifests.rglob("*") if p.is_file())
    files: dict[Path, bytes | None] = {}
    digest = hashlib.sha256(essentials.resolved.encode())
    for path in paths:
        try:
            content: bytes | None = path.read_bytes()
        except OSError:
            content = None
        files[path] = content
        name = path.relative_to(base) if path.is_relative_to(base) else path
        digest.update(b"\0" + str(name).encode())
        digest.update(b"\0" + (content if content is not None else b"missing"))
    return Snapshot(files=files, digest=digest.hexdigest())
