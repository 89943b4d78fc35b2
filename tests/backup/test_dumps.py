"""Database dumps in backups: the index says which backups hold one, and a restore hands the
restore hook a private file with exactly the dump's bytes, once every digest of the backup
matched; a backup that cannot be opened whole (no key, a changed byte) never reaches it."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Mapping
from pathlib import Path

import pytest
from pyrage import x25519

from arxdeploy.backup.crypto import Opener
from arxdeploy.domain.events import Deployment
from arxdeploy.errors import DamagedBackupError, UsageError
from arxdeploy.ports import BackupInfo, Export

from .conftest import Place

EXPORT = Export(files={"environment.json": b"{}\n"}, versions=("1.0",))
KEY = x25519.Identity.generate()
DUMP = b"PGDMP\x01\x0e" + bytes(range(256)) * 4000  # binary, as pg_dump -Fc writes it


def dump_hook(deployment: Deployment, folder: Path) -> dict[str, Path]:
    (folder / "database.dump").write_bytes(DUMP)
    return {"database.dump": folder / "database.dump"}


class Restorer:
    """A restore hook that remembers what it was given, as the restore script would see it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, bytes], dict[str, str]]] = []

    def __call__(self, deployment: Deployment, dumps: Mapping[str, Path], backup: BackupInfo) -> str:
        modes = {name: oct(path.stat().st_mode & 0o777) for name, path in dumps.items()}
        self.calls.append((deployment.id, backup.id, {n: p.read_bytes() for n, p in dumps.items()}, modes))
        self.paths = list(dumps.values())
        return f"restored from {backup.id}"


@pytest.mark.parametrize("place", ["folder"], indirect=True)
@pytest.mark.parametrize("sealed", [False, True], ids=["plain", "encrypted"])
def test_a_restore_hands_the_hook_exactly_the_dump_once_the_backup_is_whole(place: Place, sealed: bool) -> None:
    restorer = Restorer()
    recipients = (str(KEY.to_public()),) if sealed else ()
    backups = place.backups(recipients=recipients, opener=Opener([KEY]), dumps=dump_hook, restore_dumps=restorer)
    taken, by = place.deployment(), place.deployment()
    info = backups.save(deployment=taken, export=EXPORT)
    assert info.database is True and backups.get(taken.id).database is True  # the index says so
    assert backups.restore_database(backup_id=taken.id, deployment=by) == f"restored from {taken.id}"
    assert restorer.calls == [(by.id, taken.id, {"database.dump": DUMP}, {"database.dump": "0o600"})]
    assert not any(path.exists() for path in restorer.paths)  # the private copy is gone afterwards


@pytest.mark.parametrize("place", ["folder"], indirect=True)
def test_a_backup_without_a_dump_or_backups_without_a_restore_script_restore_no_database(place: Place) -> None:
    restorer = Restorer()
    d = place.deployment()
    info = place.backups(restore_dumps=restorer).save(deployment=d, export=EXPORT)
    assert info.database is False
    with pytest.raises(UsageError, match=f"backup {d.id} holds no database dump"):
        place.backups(restore_dumps=restorer).restore_database(backup_id=d.id, deployment=d)
    with pytest.raises(UsageError, match=r"backup\.database is not in the config"):
        place.backups(dumps=dump_hook).restore_database(backup_id=d.id, deployment=d)
    assert restorer.calls == []


@pytest.mark.parametrize("place", ["folder"], indirect=True)
def test_an_encrypted_dump_needs_the_key_and_a_changed_dump_is_never_restored(place: Place, tmp_path: Path) -> None:
    restorer = Restorer()
    sealed = place.backups(recipients=(str(KEY.to_public()),), dumps=dump_hook, restore_dumps=restorer)
    d = place.deployment()
    sealed.save(deployment=d, export=EXPORT)
    with pytest.raises(UsageError, match="is encrypted"):
        sealed.restore_database(backup_id=d.id, deployment=d)

    # One byte of the dump changed, the archive's digest in the index made to match: the
    # manifest inside still names the dump.
    plain = place.backups(dumps=dump_hook, restore_dumps=restorer)
    forged = place.deployment()
    plain.save(deployment=forged, export=EXPORT)
    storage, key = place.storage, f"arxos/staging/{forged.id}.tar.gz"
    assert storage.get(key, tmp_path / "in.tar.gz")
    with tarfile.open(tmp_path / "in.tar.gz") as tar, tarfile.open(tmp_path / "out.tar.gz", "w:gz") as out:
        for member in tar.getmembers():
            body = tar.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == "dumps/database.dump":
                body = body[:-1] + bytes([body[-1] ^ 1])
            out.addfile(member, io.BytesIO(body))
    data = (tmp_path / "out.tar.gz").read_bytes()
    storage.put(key, data)
    index = json.loads(storage.read(f"arxos/staging/{forged.id}.json") or b"")
    index["archive"].update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    storage.put(f"arxos/staging/{forged.id}.json", json.dumps(index).encode())
    with pytest.raises(DamagedBackupError, match=r"dumps/database\.dump: sha256 does not match the manifest"):
        plain.restore_database(backup_id=forged.id, deployment=forged)
    assert restorer.calls == []
