"""``MemoryBackups``: a fake of ``arxdeploy.ports.Backups`` that keeps exports in memory.

Faults are injected by method name (``fail_on``, as ``FakeTarget`` does); ``damage`` makes a
backup fail its digest check from then on, as a flipped byte in storage would. With
``database``, backups hold a (pretend) database dump, and each restore of one is listed in
``restored``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from arxdeploy.domain.events import Deployment
from arxdeploy.errors import BackupError, DamagedBackupError, NotFoundError, UsageError
from arxdeploy.ports import BackupInfo, Clock, Export


@dataclass
class MemoryBackups:
    clock: Clock
    keep: int = 20
    saved: dict[str, tuple[BackupInfo, Export]] = field(default_factory=dict)
    damaged: set[str] = field(default_factory=set)
    fail_on: dict[str, int] = field(default_factory=dict)  # method name -> how many more calls fail
    calls: list[str] = field(default_factory=list)
    database: bool = False  # backups hold a dump of the database (backup.database)
    restored: list[tuple[str, str]] = field(default_factory=list)  # (backup, deployment) per database restore

    def _call(self, name: str, detail: str) -> None:
        self.calls.append(f"{name} {detail}")
        if self.fail_on.get(name, 0) > 0:
            self.fail_on[name] -= 1
            raise BackupError(f"injected failure in {name}")

    def save(self, *, deployment: Deployment, export: Export) -> BackupInfo:
        self._call("save", deployment.id)
        info = BackupInfo(
            id=deployment.id,
            service=deployment.service,
            environment=deployment.environment,
            created_at=self.clock.now(),
            target="fake",
            versions=export.versions,
            facts=dict(export.facts),
            live_version=deployment.previous_version,
            live_color=deployment.old_color,
            files=len(export.files),
            size=sum(len(data) for data in export.files.values()),
            encrypted=False,
            where=f"memory://{deployment.environment}/{deployment.id}",
            database=self.database,
        )
        self.saved[deployment.id] = (info, export)
        for old in self.kept(environment=deployment.environment)[self.keep :]:
            del self.saved[old.id]
        return info

    def kept(self, *, environment: str) -> list[BackupInfo]:
        self._call("kept", environment)
        found = [info for info, _ in self.saved.values() if info.environment == environment]
        return sorted(found, key=lambda b: (b.created_at, b.id), reverse=True)

    def target_part(self, *, backup_id: str) -> Export:
        self._call("target_part", backup_id)
        if backup_id not in self.saved:
            raise NotFoundError(f"no backup {backup_id!r}")
        if backup_id in self.damaged:
            raise DamagedBackupError(f"backup {backup_id} is damaged: environment.json", damaged=["environment.json"])
        return self.saved[backup_id][1]

    def restore_database(self, *, backup_id: str, deployment: Deployment) -> str:
        self._call("restore_database", backup_id)
        if backup_id not in self.saved:
            raise NotFoundError(f"no backup {backup_id!r}")
        if backup_id in self.damaged:
            raise DamagedBackupError(f"backup {backup_id} is damaged: dumps/database.dump", damaged=["database.dump"])
        if not self.saved[backup_id][0].database:
            raise UsageError(f"backup {backup_id} holds no database dump")
        self.restored.append((backup_id, deployment.id))
        return f"database restored from backup {backup_id}"

    def damage(self, backup_id: str) -> None:
        self.damaged.add(backup_id)
