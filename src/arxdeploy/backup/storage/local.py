"""Backups in a folder on this machine (the default: ``backups/`` in the state directory)."""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from arxdeploy.backup.manifest import CHUNK
from arxdeploy.backup.storage import Stored
from arxdeploy.errors import BackupError

_PARTIAL = ".partial-"


class FolderStorage:
    """A file is written beside its final name and renamed into place once complete and flushed:
    a reader finds the old file or the new one, never part of one."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, key: str, source: Path | bytes) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, partial = tempfile.mkstemp(dir=path.parent, prefix=f"{_PARTIAL}{path.name}.")
        except OSError as exc:
            raise BackupError(f"cannot write backups in {path.parent}: {exc.strerror}") from exc
        try:
            with os.fdopen(fd, "wb") as out:
                if isinstance(source, bytes):
                    out.write(source)
                else:
                    with source.open("rb") as f:
                        while chunk := f.read(CHUNK):
                            out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            Path(partial).replace(path)
        except OSError as exc:
            Path(partial).unlink(missing_ok=True)
            raise BackupError(f"cannot write {path}: {exc.strerror}") from exc
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise

    def get(self, key: str, out: Path) -> bool:
        try:
            shutil.copyfile(self._path(key), out)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise BackupError(f"cannot read {self._path(key)}: {exc.strerror}") from exc
        return True

    def read(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise BackupError(f"cannot read {self._path(key)}: {exc.strerror}") from exc

    def list(self, prefix: str) -> list[Stored]:
        if not self.root.is_dir():
            return []
        found = []
        for path in self.root.rglob("*"):
            key = path.relative_to(self.root).as_posix()
            if not key.startswith(prefix) or path.name.startswith(_PARTIAL) or not path.is_file():
                continue
            stat = path.stat()
            found.append(Stored(key, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC)))
        return found

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise BackupError(f"cannot delete {self._path(key)}: {exc.strerror}") from exc

    def where(self, key: str) -> str:
        return str(self._path(key))

    def _path(self, key: str) -> Path:
        return self.root / key
