"""Wires ``config.backup`` to ``arxdeploy.backup``: where backups go, what goes in them, who can
open them. The bootstrap's, for backups; nothing else picks a storage."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from arxdeploy.config.snapshot import Snapshot
from arxdeploy.domain.events import Deployment
from arxdeploy.errors import ConfigError, ConfigProblem
from arxdeploy.ports import BackupInfo, Clock, Export, Store
from arxdeploy.redact import Redactor, environment_secrets

if TYPE_CHECKING:
    from arxdeploy.backup.storage import Storage
    from arxdeploy.backup.stored import StoredBackups
    from arxdeploy.config import LoadedConfig
    from arxdeploy.database import DatabaseScripts


def open_backups(
    loaded: LoadedConfig,
    snapshot: Snapshot,
    store: Store,
    redactor: Redactor,
    environ: Mapping[str, str],
    clock: Clock,
) -> StoredBackups:
    """Where this service's backups are kept and what goes in them. Nothing is reached yet: the
    storage's SDK is imported when a backup is first written or read."""
    from arxdeploy.backup import crypto
    from arxdeploy.backup.contents import ConfigCopy
    from arxdeploy.backup.stored import Rules, Sources, StoredBackups

    check_recipients(loaded)
    config = loaded.config
    settings = config.backup
    resolved = json.dumps(redactor.data(config.model_dump(mode="json")), indent=2, sort_keys=True).encode()
    files = {
        (path.relative_to(loaded.base_dir) if path.is_relative_to(loaded.base_dir) else path).as_posix(): content
        for path, content in snapshot.files.items()
        if content is not None
    }
    database = database_scripts(loaded, snapshot, redactor, environ)
    return StoredBackups(
        storage=_backup_storage(loaded, environ),
        service=config.service,
        target=config.target.type,
        clock=clock,
        sources=Sources(
            config=ConfigCopy(resolved + b"\n", files),
            store=store,
            mask=redactor.data,
            dumps=database.dump if database else None,
        ),
        rules=Rules(
            keep=settings.keep,
            max_age=settings.max_age,
            recipients=tuple(settings.recipients) if settings.encryption else (),
        ),
        opener=lambda: crypto.Opener.from_environ(environ),
        restore_dumps=database.restore if database else None,
    )


def database_scripts(
    loaded: LoadedConfig, snapshot: Snapshot, redactor: Redactor, environ: Mapping[str, str]
) -> DatabaseScripts | None:
    """``backup.database``'s scripts as read when the command started; None without it. Their
    output is masked of the config's secrets and of every variable named like a secret
    (PGPASSWORD...): the credentials the scripts get come from the environment, not the config."""
    settings = loaded.config.backup.database
    if settings is None:
        return None
    from arxdeploy.database import DatabaseScripts, Script

    def script(key: str, path: str) -> Script:
        return Script(f"backup.database.{key}", path, snapshot.read(loaded.base_dir / path))

    return DatabaseScripts(
        backup_script=script("backup_script", settings.backup_script),
        restore_script=script("restore_script", settings.restore_script),
        timeout=settings.timeout,
        cwd=loaded.base_dir,
        environ=environ,
        mask=redactor.also(environment_secrets(environ)),
    )


def check_recipients(loaded: LoadedConfig) -> None:
    """Refuse a recipient age cannot seal for (a wrong checksum), naming its line: a ``ConfigError``."""
    recipients = loaded.config.backup.recipients
    if not recipients:
        return
    from arxdeploy.backup import crypto

    for index, recipient in enumerate(recipients):
        problem = crypto.recipient_problem(recipient)
        if problem:
            key = ("backup", "recipients", index)
            raise ConfigError(
                [ConfigProblem(str(loaded.path), loaded.line_of(*key), f"backup.recipients[{index}]", problem)]
            )


@dataclass(frozen=True)
class DeferredBackups:
    """``ports.Backups`` over backups made on first use: a command that never takes or reads a
    backup (``status``, ``history``) imports none of the backup code."""

    made: Callable[[], StoredBackups]

    def save(self, *, deployment: Deployment, export: Export) -> BackupInfo:
        return self.made().save(deployment=deployment, export=export)

    def kept(self, *, environment: str) -> list[BackupInfo]:
        return self.made().kept(environment=environment)

    def target_part(self, *, backup_id: str) -> Export:
        return self.made().target_part(backup_id=backup_id)

    def restore_database(self, *, backup_id: str, deployment: Deployment) -> str:
        return self.made().restore_database(backup_id=backup_id, deployment=deployment)


def _backup_storage(loaded: LoadedConfig, environ: Mapping[str, str]) -> Storage:
    where = loaded.config.backup.storage
    if where.type == "s3":
        from arxdeploy.backup.storage.s3 import S3Storage

        assert where.bucket is not None  # the config models require it for type s3
        return S3Storage(bucket=where.bucket, prefix=where.prefix, region=where.region, endpoint_url=where.endpoint_url)
    if where.type == "azure_blob":
        from arxdeploy.backup.storage.azure import AzureBlobStorage

        assert where.container is not None  # the config models require it for type azure_blob
        return AzureBlobStorage(
            container=where.container, prefix=where.prefix, account_url=where.account_url, environ=environ
        )
    from arxdeploy.backup.storage.local import FolderStorage

    return FolderStorage(loaded.base_dir / where.path if where.path else loaded.state_dir / "backups")
