"""Where the runtime keeps its files under the state directory, and how they are written.

Shared by the runtime (which writes them) and the client (which reads them).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Environment names become directory names: keep them plain.
ENVIRONMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


@dataclass(frozen=True)
class RuntimeFiles:
    root: Path

    @property
    def lock(self) -> Path:
        return self.root / "runtime.lock"

    @property
    def info(self) -> Path:
        """Where the runtime says how to reach it (pid, url, token): readable by the owner only."""
        return self.root / "runtime.json"

    @property
    def log(self) -> Path:
        return self.root / "runtime.log"

    @property
    def metrics_targets(self) -> Path:
        """The runtime's /metrics address for Prometheus' file-based discovery (``file_sd_configs``)."""
        return self.root / "metrics-targets.json"

    @property
    def replicas(self) -> Path:
        """The process groups started, so a new runtime can kill what a dead one left behind."""
        return self.root / "replicas.json"

    def logs(self, environment: str) -> Path:
        return self.root / "logs" / environment

    def replica_log(self, environment: str, color: str, index: int) -> Path:
        return self.logs(environment) / f"{color}-{index}.log"


def write_json_atomic(path: Path, data: Any, *, mode: int = 0o600) -> None:
    """Readers see the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2, sort_keys=True)
            out.write("\n")
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path) -> Any:
    """The parsed file, or None if it is missing or torn."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
