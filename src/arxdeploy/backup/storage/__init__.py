"""Where backups are kept, behind one small protocol: a local folder, S3, Azure Blob.

Every implementation keeps one promise: an object is stored whole or not at all, so a reader
never sees part of one (a folder renames a finished file into place; S3 makes an object, or a
multipart upload, visible only once it is complete; Azure commits a block blob's block list in
one call). ``arxdeploy.backup.stored`` builds the rest on it: the archive first, its index last.
Each SDK is imported by its own module, and only when an object is first touched, so commands
that never reach the storage do not pay for it. SDK errors become ``BackupError`` there, with a
hint naming the setting or variable to fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Stored:
    key: str  # relative to the storage's prefix
    size: int
    modified: datetime


class Storage(Protocol):
    def put(self, key: str, source: Path | bytes) -> None:
        """Store ``source`` under ``key``, whole or not at all, replacing what was there."""
        ...

    def get(self, key: str, out: Path) -> bool:
        """Write the object to ``out``; False when there is none."""
        ...

    def read(self, key: str) -> bytes | None:
        """A small object's bytes; None when there is none."""
        ...

    def list(self, prefix: str) -> list[Stored]:
        """Every object whose key starts with ``prefix``."""
        ...

    def delete(self, key: str) -> None:
        """Remove the object; one that is not there is fine."""
        ...

    def where(self, key: str) -> str:
        """Where the object is, for people: a path or a URL."""
        ...
