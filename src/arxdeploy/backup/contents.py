"""What a backup holds, by where it sits in the archive:

    target/...                the target's export: Kubernetes objects as YAML and the Secrets'
                              names; the local runtime's account of the environment
    config/resolved.json      the configuration as loaded, every secret masked
    config/files/...          the files it names (check scripts, manifest templates), as read
                              when the command started: the content approvals bind to
    history/deployments.json  the environment's deployments with their events, masked
    dumps/...                 database dumps, from the ``DumpHook`` when one is set (and put
                              back by the ``RestoreHook`` when asked)

Secrets never enter a backup: the config and the history are masked on the way in.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arxdeploy.backup.archive import Source
from arxdeploy.domain.events import Deployment
from arxdeploy.ports import BackupInfo, Export, Store

TARGET = "target/"
CONFIG = "config/resolved.json"
CONFIG_FILES = "config/files/"
HISTORY = "history/deployments.json"
DUMPS = "dumps/"
HISTORY_LIMIT = 200  # deployments: the environment's recent past, not the whole record

# The hook for database dumps: given the deployment and an empty folder, write the dumps there
# and return each one's name (as it will sit under dumps/) and path. Raising fails the backup.
DumpHook = Callable[[Deployment, Path], Mapping[str, Path]]
# The hook that restores them: given the deployment doing it, a backup's dumps (name -> a private
# copy, every digest checked) and that backup (its id; its live version, whose data the dumps
# hold); returns a line for people. Raising fails it.
RestoreHook = Callable[[Deployment, Mapping[str, Path], BackupInfo], str]


@dataclass(frozen=True)
class ConfigCopy:
    """The config as the command read it: resolved (secrets masked) and the files it names."""

    resolved: bytes
    files: Mapping[str, bytes] = field(default_factory=dict)  # relative path -> content


def gather(
    export: Export, *, config: ConfigCopy, history: bytes, dumps: Mapping[str, Path] | None = None
) -> dict[str, Source]:
    """Every file of a backup, by its name in the archive."""
    files: dict[str, Source] = {TARGET + name: data for name, data in export.files.items()}
    files[CONFIG] = config.resolved
    files.update({CONFIG_FILES + name: data for name, data in config.files.items()})
    files[HISTORY] = history
    files.update({DUMPS + name: path for name, path in (dumps or {}).items()})
    return files


def is_dump(name: str) -> bool:
    return name.startswith(DUMPS)


def target_part(files: Mapping[str, bytes]) -> dict[str, bytes]:
    """The target's files out of a backup's, under the names the target gave them."""
    return {name.removeprefix(TARGET): data for name, data in files.items() if name.startswith(TARGET)}


def history(store: Store, deployment: Deployment, mask: Callable[[Any], Any]) -> bytes:
    """The environment's recent deployments (newest first) with their events, as JSON, masked."""
    summaries = store.history(service=deployment.service, environment=deployment.environment, limit=HISTORY_LIMIT)
    out = []
    for summary in summaries:
        d = summary.deployment
        out.append(
            {
                "id": d.id,
                "kind": d.kind.value,
                "version": d.version,
                "previous_version": d.previous_version,
                "state": summary.state.value,
                "created_at": d.created_at.isoformat(),
                "updated_at": summary.updated_at.isoformat(),
                "requested_by": d.requested_by,
                "reason": d.reason,
                "git_ref": d.git_ref,
                "git_sha": d.git_sha,
                "run_url": d.run_url,
                "events": [event.to_json() for event in store.events(deployment_id=d.id)],
            }
        )
    body = {"service": deployment.service, "environment": deployment.environment, "deployments": out}
    return json.dumps(mask(body), indent=1, sort_keys=True).encode() + b"\n"
