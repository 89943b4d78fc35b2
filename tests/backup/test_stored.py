"""A backup on each storage, end to end: what it holds, how it lists, what verify catches,
retention, and a storage that is down or refuses the credentials."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from datetime import timedelta
from pathlib import Path

import pytest
from pyrage import x25519

from arxdeploy.backup import contents
from arxdeploy.backup.crypto import IDENTITY_ENV, Opener
from arxdeploy.domain.events import Deployment
from arxdeploy.errors import BackupError, DamagedBackupError, NotFoundError, UsageError
from arxdeploy.ports import Export
from tests.support import free_port

from .conftest import SECRET, Place

EXPORT = Export(
    files={
        "deployment-arxos-blue.yaml": b"kind: Deployment\nmetadata: {name: arxos-blue}\n",
        "secret-names.json": b"[]\n",
    },
    facts={"namespace": "arxos-staging", "objects": ["Deployment/arxos-blue"]},
    versions=("1.0",),
)
KEY = x25519.Identity.generate()


def dump_hook(size: int) -> contents.DumpHook:
    def dumps(deployment: Deployment, folder: Path) -> dict[str, Path]:
        path = folder / "arxos.sql"
        path.write_bytes((b"INSERT INTO t VALUES (%d);\n" * (size // 26 + 1))[:size])
        return {"arxos.sql": path}

    return dumps


@pytest.mark.parametrize("sealed", [False, True], ids=["plain", "encrypted"])
def test_a_backup_holds_the_targets_part_the_config_the_history_and_the_dumps(place: Place, sealed: bool) -> None:
    recipients = (str(KEY.to_public()),) if sealed else ()
    backups = place.backups(recipients=recipients, opener=Opener([KEY]), dumps=dump_hook(300_000))
    d = place.deployment()
    info = backups.save(deployment=d, export=EXPORT)
    assert (info.id, info.environment, info.versions, info.live_version, info.encrypted) == (
        d.id, "staging", ("1.0",), "1.0", sealed
    )  # fmt: skip
    assert info.files == 6 and info.where.endswith(f"staging/{d.id}.tar.gz" + (".age" if sealed else ""))

    checked = backups.verify(d.id)
    assert checked.intact, checked.damaged
    assert sorted(checked.files) == [
        "config/files/scripts/check_db.sh",
        "config/resolved.json",
        "dumps/arxos.sql",
        "history/deployments.json",
        "target/deployment-arxos-blue.yaml",
        "target/secret-names.json",
    ]
    assert backups.target_part(backup_id=d.id) == EXPORT  # the target gets back what it gave, by its own names

    raw = place.storage.read(f"arxos/staging/{d.id}" + (".tar.gz.age" if sealed else ".tar.gz"))
    assert raw is not None and len(raw) == info.size
    index = place.storage.read(f"arxos/staging/{d.id}.json")
    assert index is not None and SECRET.encode() not in index
    if sealed:  # nothing of the content, not even the file names, is readable without the key
        assert b"INSERT INTO" not in raw and b"deployment-arxos-blue" not in raw and b"deployment-arxos" not in index


def test_the_history_and_the_config_in_a_backup_are_masked(place: Place, tmp_path: Path) -> None:
    backups = place.backups()
    d = place.deployment()
    backups.save(deployment=d, export=EXPORT)
    key = f"arxos/staging/{d.id}.tar.gz"
    assert place.storage.get(key, tmp_path / "b.tar.gz")
    with tarfile.open(tmp_path / "b.tar.gz") as tar:
        names = tar.getnames()
        history = json.loads(tar.extractfile("history/deployments.json").read())  # type: ignore[union-attr]
        everything = b"".join(tar.extractfile(m).read() for m in tar.getmembers())  # type: ignore[union-attr]
    assert names[0] == "manifest.json"
    assert SECRET.encode() not in everything
    (entry,) = history["deployments"]
    assert entry["id"] == d.id and entry["reason"] == "password rotated to ***"
    assert entry["events"][0]["note"] == "***"


def test_listings_show_whole_backups_only_newest_first(place: Place) -> None:
    backups = place.backups()
    first, second = place.deployment(), place.deployment()
    other = place.deployment("production")
    for d in (first, second, other):
        backups.save(deployment=d, export=EXPORT)
    assert [b.id for b in backups.kept(environment="staging")] == [second.id, first.id]
    assert [b.id for b in backups.listing().whole] == [other.id, second.id, first.id]
    assert backups.get(second.id[:-2]).id == second.id  # a unique prefix is enough

    # An upload cut before its index was written: the archive alone is no backup.
    storage = place.storage
    cut = place.deployment()
    storage.put(f"arxos/staging/{cut.id}.tar.gz", b"\x1f\x8b half an archive")
    # An archive shorter than its index says (cut short, or replaced): no backup either.
    archive = f"arxos/staging/{first.id}.tar.gz"
    whole = storage.read(archive)
    assert whole is not None
    storage.put(archive, whole[: len(whole) // 2])
    found = backups.listing(environment="staging")
    assert [b.id for b in found.whole] == [second.id]
    assert found.incomplete == sorted([cut.id, first.id])
    with pytest.raises(NotFoundError):
        backups.get("20990101")

    # The next backup's retention pass deletes the parts of both.
    third = place.deployment()
    backups.save(deployment=third, export=EXPORT)
    assert backups.listing(environment="staging").incomplete == []
    assert {o.key for o in storage.list("arxos/staging/")} == {
        f"arxos/staging/{d.id}{suffix}" for d in (second, third) for suffix in (".json", ".tar.gz")
    }


def test_verify_names_a_flipped_byte_a_truncated_archive_and_a_tampered_file(place: Place, tmp_path: Path) -> None:
    backups = place.backups()
    storage = place.storage
    flipped, truncated, tampered = place.deployment(), place.deployment(), place.deployment()
    for d in (flipped, truncated, tampered):
        backups.save(deployment=d, export=EXPORT)

    key = f"arxos/staging/{flipped.id}.tar.gz"
    data = bytearray(storage.read(key) or b"")
    data[len(data) // 2] ^= 0x01
    storage.put(key, bytes(data))
    checked = backups.verify(flipped.id)
    assert not checked.intact
    assert checked.damaged[0] == f"{flipped.id}.tar.gz: sha256 does not match the index (altered or cut short)"

    key = f"arxos/staging/{truncated.id}.tar.gz"
    storage.put(key, (storage.read(key) or b"")[:-100])
    checked = backups.verify(truncated.id)
    assert checked.damaged[0].startswith(f"{truncated.id}.tar.gz: sha256 does not match the index")
    assert any(line.startswith("archive: cannot be read to the end") for line in checked.damaged)
    with pytest.raises(DamagedBackupError, match=f"backup {truncated.id} is damaged"):
        backups.target_part(backup_id=truncated.id)

    # One file changed and the archive's digest in the index made to match: the manifest inside
    # still names the file.
    key = f"arxos/staging/{tampered.id}.tar.gz"
    assert storage.get(key, tmp_path / "in.tar.gz")
    with tarfile.open(tmp_path / "in.tar.gz") as tar, tarfile.open(tmp_path / "out.tar.gz", "w:gz") as out:
        for member in tar.getmembers():
            body = tar.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == "target/deployment-arxos-blue.yaml":
                body = body.replace(b"arxos-blue", b"arxos-evil")
                member.size = len(body)
            out.addfile(member, io.BytesIO(body))
    forged = (tmp_path / "out.tar.gz").read_bytes()
    storage.put(key, forged)
    index = json.loads(storage.read(f"arxos/staging/{tampered.id}.json") or b"")
    index["archive"].update(size=len(forged), sha256=hashlib.sha256(forged).hexdigest())
    storage.put(f"arxos/staging/{tampered.id}.json", json.dumps(index).encode())
    checked = backups.verify(tampered.id)
    assert checked.damaged == ("target/deployment-arxos-blue.yaml: sha256 does not match the manifest",)
    with pytest.raises(DamagedBackupError, match=r"deployment-arxos-blue\.yaml"):
        backups.target_part(backup_id=tampered.id)


def test_an_encrypted_backup_opens_only_with_one_of_its_keys(place: Place, tmp_path: Path) -> None:
    d = place.deployment()
    place.backups(recipients=(str(KEY.to_public()),)).save(deployment=d, export=EXPORT)

    with pytest.raises(UsageError, match="is encrypted") as no_key:
        place.backups().verify(d.id)
    assert IDENTITY_ENV in (no_key.value.hint or "")
    with pytest.raises(UsageError, match="sealed for other keys"):
        place.backups(opener=Opener([x25519.Identity.generate()])).target_part(backup_id=d.id)

    key_file = tmp_path / "restore.key"
    key_file.write_text(f"# created: by a test\n# public key: {KEY.to_public()}\n{KEY}\n")
    opener = Opener.from_environ({"ARXDEPLOY_BACKUP_IDENTITY_FILE": str(key_file)})
    assert place.backups(opener=opener).verify(d.id).intact

    # A flipped byte in an encrypted archive: reported even without the key, and never opened.
    key = f"arxos/staging/{d.id}.tar.gz.age"
    data = bytearray(place.storage.read(key) or b"")
    data[-10] ^= 0x01
    place.storage.put(key, bytes(data))
    with pytest.raises(DamagedBackupError, match="does not match the index"):
        place.backups().verify(d.id)
    with pytest.raises(DamagedBackupError, match="cannot be decrypted"):
        place.backups(opener=opener).target_part(backup_id=d.id)


def test_retention_keeps_the_newest_by_count_and_drops_the_old_by_age(place: Place) -> None:
    backups = place.backups(keep=3, max_age=timedelta(days=30))
    saved = []
    for _ in range(5):
        d = place.deployment()
        backups.save(deployment=d, export=EXPORT)
        saved.append(d.id)
    production = place.deployment("production")
    backups.save(deployment=production, export=EXPORT)
    assert [b.id for b in backups.kept(environment="staging")] == saved[:1:-1]

    place.clock.advance(timedelta(days=31))
    newest = place.deployment()
    backups.save(deployment=newest, export=EXPORT)
    assert [b.id for b in backups.kept(environment="staging")] == [newest.id]
    assert [b.id for b in backups.kept(environment="production")] == [production.id]  # another environment
    # The backup just taken stays, however old the clock says the rules are.
    lonely = place.backups(keep=1, max_age=timedelta(hours=1))
    place.clock.advance(timedelta(days=2))
    last = place.deployment()
    lonely.save(deployment=last, export=EXPORT)
    assert [b.id for b in lonely.kept(environment="staging")] == [last.id]


def test_a_storage_that_is_down_fails_the_backup_and_leaves_nothing(place: Place, tmp_path: Path) -> None:
    if place.kind == "folder":
        blocked = tmp_path / "not-a-folder"
        blocked.write_text("a file where the backups' folder should be")
        from arxdeploy.backup.storage.local import FolderStorage

        storage = FolderStorage(blocked)
    else:
        storage = place.make(endpoint=f"http://127.0.0.1:{free_port()}")  # nothing listens there
    d = place.deployment()
    with pytest.raises(BackupError) as failed:
        place.backups(storage=storage).save(deployment=d, export=EXPORT)
    assert place.kind == "folder" or "cannot reach" in failed.value.message
    assert place.backups().listing().whole == []


def test_credentials_the_storage_refuses_fail_the_backup_with_what_to_fix(place: Place) -> None:
    if place.kind == "folder":
        pytest.skip("a folder has no credentials")
    wrong = "A" * 86 + "==" if place.kind == "azure" else "not-the-secret"
    storage = place.make(secret=wrong)
    with pytest.raises(BackupError, match="refused the credentials") as refused:
        place.backups(storage=storage).save(deployment=place.deployment(), export=EXPORT)
    assert refused.value.hint and ("AWS_ACCESS_KEY_ID" in refused.value.hint or "AZURE_STORAGE" in refused.value.hint)
    assert wrong not in str(refused.value.message) + str(refused.value.hint)
