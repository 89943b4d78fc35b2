"""``StoredBackups``: ``arxdeploy.ports.Backups`` on a ``Storage``, and what the CLI reads.

Each backup is two objects under ``<service>/<environment>/``: the archive ``<id>.tar.gz``
(``.tar.gz.age`` when encrypted), uploaded first, and its index ``<id>.json``, uploaded last.
A backup is **whole** when its index can be read and its archive is there with the size the
index gives; listings show only whole backups, so an upload cut anywhere (the archive half
sent, or the index never written) leaves nothing that looks like a backup. Its parts are
deleted by the next retention pass. Checking the digests (``verify``) downloads the archive:
its sha256 must match the index, then every file the manifest inside it names.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from arxdeploy.backup import archive, contents, retention
from arxdeploy.backup.crypto import NEED_KEY, Opener, Sealer
from arxdeploy.backup.crypto import SUFFIX as SEALED
from arxdeploy.backup.manifest import Index, Manifest, check_id, sha256_of
from arxdeploy.backup.storage import Storage, Stored
from arxdeploy.domain.events import Deployment
from arxdeploy.errors import BackupError, DamagedBackupError, NotFoundError, UsageError
from arxdeploy.ports import BackupInfo, Clock, Export, Store

log = logging.getLogger(__name__)

INDEX = ".json"


@dataclass(frozen=True)
class Rules:
    """What the config says about backups beyond where they go."""

    keep: int = 20
    max_age: timedelta | None = None
    recipients: tuple[str, ...] = ()  # encryption on when there are any


@dataclass(frozen=True)
class Sources:
    """Where the parts of a backup that are not the target's come from."""

    config: contents.ConfigCopy
    store: Store
    mask: Callable[[Any], Any]  # hides secrets in data (the config's ``${VAR}`` values)
    dumps: contents.DumpHook | None = None


@dataclass(frozen=True)
class Listing:
    whole: list[BackupInfo]  # newest first
    incomplete: list[str]  # ids with parts but no whole backup: uploads cut short, or damaged indexes


@dataclass(frozen=True)
class Checked:
    """What ``verify`` found: each file of the backup and whether it matched its digest."""

    backup: BackupInfo
    files: dict[str, str]  # name -> sha256 as the manifest gives it
    damaged: tuple[str, ...]  # "name: what is wrong"
    spilled: dict[str, Path] = field(default_factory=dict)  # files written out, by name (dumps)

    @property
    def intact(self) -> bool:
        return not self.damaged


@dataclass
class StoredBackups:
    storage: Storage
    service: str
    target: str  # the target's type, recorded in each index
    clock: Clock
    sources: Sources
    rules: Rules = field(default_factory=Rules)
    opener: Callable[[], Opener | None] = lambda: None  # the identities where this command runs
    restore_dumps: contents.RestoreHook | None = None  # puts a database back from its dump
    _opened: dict[str, Export] = field(default_factory=dict, repr=False)

    # --- ports.Backups -------------------------------------------------------------------

    def save(self, *, deployment: Deployment, export: Export) -> BackupInfo:
        check_id(deployment.id)
        now = self.clock.now()
        folder = f"{self.service}/{deployment.environment}/"
        sealed = bool(self.rules.recipients)
        name = f"{deployment.id}{archive.SUFFIX}{SEALED if sealed else ''}"
        with _scratch() as scratch:
            dumps = {}
            if self.sources.dumps is not None:
                (scratch / "dumps").mkdir()
                dumps = dict(self.sources.dumps(deployment, scratch / "dumps"))
            history = contents.history(self.sources.store, deployment, self.sources.mask)
            files = contents.gather(export, config=self.sources.config, history=history, dumps=dumps)
            manifest = Manifest(
                id=deployment.id,
                service=self.service,
                environment=deployment.environment,
                created_at=now.isoformat(),
                files=archive.entries(files),
            )
            payload = scratch / "backup.tar.gz"
            archive.pack(payload, manifest, files, mtime=now.timestamp())
            if sealed:
                Sealer(self.rules.recipients).seal(payload, scratch / "backup.tar.gz.age")
                payload = scratch / "backup.tar.gz.age"
            digest, size = sha256_of(payload)
            info = BackupInfo(
                id=deployment.id,
                service=self.service,
                environment=deployment.environment,
                created_at=now,
                target=self.target,
                versions=tuple(sorted(set(export.versions))),
                facts=dict(export.facts),
                live_version=deployment.previous_version,
                live_color=deployment.old_color,
                files=len(files),
                size=size,
                encrypted=sealed,
                where=self.storage.where(folder + name),
                database=bool(dumps),
            )
            self.storage.put(folder + name, payload)
            # Last: from now on the backup exists.
            self.storage.put(folder + deployment.id + INDEX, Index(info, name, digest).to_bytes())
        self.prune(environment=deployment.environment, saved=deployment.id)
        return info

    def kept(self, *, environment: str) -> list[BackupInfo]:
        return self.listing(environment=environment).whole

    def target_part(self, *, backup_id: str) -> Export:
        if backup_id not in self._opened:
            index = self._index(backup_id)
            checked, files = self._open(index, keep=lambda name: name.startswith(contents.TARGET))
            _refuse_damaged(checked)
            info = index.info
            self._opened[backup_id] = Export(contents.target_part(files), info.facts, info.versions)
        return self._opened[backup_id]

    def restore_database(self, *, backup_id: str, deployment: Deployment) -> str:
        if self.restore_dumps is None:
            raise UsageError(
                "no database to restore: backup.database is not in the config",
                hint="add backup.database with its backup_script and restore_script",
            )
        index = self._index(backup_id)
        if not index.info.database:
            raise UsageError(
                f"backup {index.info.id} holds no database dump (it was taken without backup.database)",
                hint="`arxdeploy backup list` shows which backups hold one",
            )
        with _scratch() as scratch:
            (scratch / "dumps").mkdir(mode=0o700)
            checked, _ = self._open(index, keep=lambda name: False, spill=contents.is_dump, into=scratch / "dumps")
            _refuse_damaged(checked)
            dumps = {name.removeprefix(contents.DUMPS): path for name, path in checked.spilled.items()}
            return self.restore_dumps(deployment, dumps, index.info)

    # --- for people ----------------------------------------------------------------------

    def listing(self, *, environment: str | None = None) -> Listing:
        """Whole backups (newest first) and the ids of incomplete ones."""
        folder = f"{self.service}/{environment}/" if environment else f"{self.service}/"
        objects = {o.key: o for o in self.storage.list(folder) if _id_of(o.key) is not None}
        whole, incomplete = [], set()
        for key in sorted(objects):
            if key.endswith(INDEX):
                index = self._read_index(key, objects)
                if index is None:
                    incomplete.add(str(_id_of(key)))
                else:
                    whole.append(index.info)
        ids = {b.id for b in whole}
        incomplete |= {str(_id_of(key)) for key in objects if _id_of(key) not in ids}
        whole.sort(key=lambda b: (b.created_at, b.id), reverse=True)
        return Listing(whole, sorted(incomplete))

    def get(self, backup_id: str) -> BackupInfo:
        """A backup by its id, or a unique prefix of it, as its index says (``NotFoundError``
        when there is none, ``DamagedBackupError`` when its index cannot be read)."""
        return self._index(backup_id).info

    def verify(self, backup_id: str) -> Checked:
        """Download the backup, decrypt it when a key is given, and check every digest.

        ``UsageError`` when it is encrypted and no key is given (once its archive's own sha256
        was checked: a damaged archive is reported as such, key or not).
        """
        checked, _ = self._open(self._index(backup_id), keep=lambda name: False)
        return checked

    def prune(self, *, environment: str, saved: str) -> list[str]:
        """Delete what the retention rules no longer keep, and the parts of incomplete uploads;
        returns the ids deleted. Never fails the caller: the backup it follows is already safe."""
        try:
            found = self.listing(environment=environment)
            gone = retention.to_delete(
                found.whole, keep=self.rules.keep, max_age=self.rules.max_age, now=self.clock.now(), saved=saved
            )
            folder = f"{self.service}/{environment}/"
            deleted = [b.id for b in gone] + [i for i in found.incomplete if i != saved]
            for backup_id in deleted:
                # The index first: from then on it no longer lists, whatever happens next.
                parts = [o for o in self.storage.list(folder + backup_id) if _id_of(o.key) == backup_id]
                parts.sort(key=lambda o: not o.key.endswith(INDEX))
                for part in parts:
                    self.storage.delete(part.key)
                log.info("backup deleted", extra={"deployment": backup_id, "kept": self.rules.keep})
        except BackupError as exc:
            log.warning("old backups of %s could not be deleted: %s", environment, exc.message)
            return []
        return deleted

    # --- inside --------------------------------------------------------------------------

    def _read_index(self, key: str, objects: dict[str, Stored], *, whole: bool = True) -> Index | None:
        """The index at ``key``; None when it cannot be read or, with ``whole``, when its archive
        is missing or has another size than the index gives."""
        data = self.storage.read(key)
        if data is None:
            return None
        folder = key.rsplit("/", 1)[0] + "/"
        try:
            index = Index.from_bytes(data, where="")
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("backup index %s cannot be read: %s", self.storage.where(key), exc)
            return None
        stored = objects.get(folder + index.archive)
        if index.info.id != _id_of(key):
            return None
        if whole and (stored is None or stored.size != index.info.size):
            return None  # its archive is missing or not whole: not a backup
        info = dataclasses.replace(index.info, where=self.storage.where(folder + index.archive))
        return Index(info, index.archive, index.sha256)

    def _index(self, backup_id: str) -> Index:
        if not backup_id or "/" in backup_id:
            raise NotFoundError(f"no backup {backup_id!r}", hint="see them with `arxdeploy backup list`")
        objects = {o.key: o for o in self.storage.list(f"{self.service}/")}
        matches = sorted(k for k in objects if k.endswith(INDEX) and str(_id_of(k)).startswith(backup_id))
        exact = [k for k in matches if _id_of(k) == backup_id]  # an exact id wins over longer ones
        chosen = exact or matches
        if len(chosen) != 1:
            what = "no backup" if not chosen else f"{len(chosen)} backups"
            raise NotFoundError(f"{what} for deployment {backup_id!r}", hint="see them with `arxdeploy backup list`")
        # Not necessarily whole: opening it then reports what is wrong with it, as damage.
        index = self._read_index(chosen[0], objects, whole=False)
        if index is None:
            raise DamagedBackupError(
                f"backup {_id_of(chosen[0])} is damaged: its index cannot be read",
                damaged=[chosen[0].rsplit("/", 1)[-1]],
                hint="it cannot be restored; see the whole ones with `arxdeploy backup list`",
            )
        return index

    def _open(
        self,
        index: Index,
        *,
        keep: Callable[[str], bool],
        spill: Callable[[str], bool] = lambda name: False,
        into: Path | None = None,
    ) -> tuple[Checked, dict[str, bytes]]:
        """Download, decrypt and check a backup; the files ``keep`` names in memory, those
        ``spill`` names written to files in ``into`` (``Checked.spilled``)."""
        info = index.info
        key = f"{self.service}/{info.environment}/{index.archive}"
        damaged: list[str] = []
        with _scratch() as scratch:
            payload = scratch / "payload"
            if not self.storage.get(key, payload):
                raise DamagedBackupError(
                    f"backup {info.id} is damaged: {index.archive}: missing", damaged=[index.archive]
                )
            digest, size = sha256_of(payload)
            if (digest, size) != (index.sha256, info.size):
                damaged.append(f"{index.archive}: sha256 does not match the index (altered or cut short)")
            if info.encrypted:
                opener = self.opener()
                if opener is None:
                    if damaged:
                        raise DamagedBackupError(f"backup {info.id} is damaged: {damaged[0]}", damaged=damaged)
                    raise UsageError(f"backup {info.id} is encrypted", hint=NEED_KEY)
                clear = scratch / "clear"
                try:
                    opener.open(payload, clear, what=f"backup {info.id}")
                except DamagedBackupError as exc:
                    raise DamagedBackupError(
                        f"backup {info.id} is damaged: {'; '.join([*damaged, exc.message])}",
                        damaged=[*damaged, index.archive],
                    ) from exc
                payload = clear
            opened = archive.unpack(payload, keep=keep, spill=spill, into=into)
        manifest = opened.manifest
        if manifest is not None and (manifest.id, manifest.environment) != (info.id, info.environment):
            damaged.append(f"manifest.json: names backup {manifest.id} of {manifest.environment}")
        damaged += opened.damaged
        files = {name: entry.sha256 for name, entry in (manifest.files.items() if manifest else ())}
        return Checked(info, files, tuple(damaged), opened.spilled), opened.kept


def _refuse_damaged(checked: Checked) -> None:
    if checked.damaged:
        raise DamagedBackupError(
            f"backup {checked.backup.id} is damaged: {'; '.join(checked.damaged)}",
            damaged=checked.damaged,
            hint="it is never restored; `arxdeploy backup verify ID` shows what is wrong",
        )


_SUFFIXES = (INDEX, archive.SUFFIX + SEALED, archive.SUFFIX)


def _id_of(key: str) -> str | None:
    """The backup id an object's key belongs to (``<service>/<env>/<id><suffix>``); None for an
    object that is no part of a backup, which is never listed nor deleted."""
    name = key.rsplit("/", 1)[-1]
    return next((name.removesuffix(s) for s in _SUFFIXES if name.endswith(s) and name != s), None)


@contextmanager
def _scratch() -> Iterator[Path]:
    """A private folder for the archive on its way out or in, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="arxdeploy-backup-") as folder:
        yield Path(folder)
