"""The archive format on its own: the manifest first, every member checked as it is read, and
nothing an archive names ever reaches the disk."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

from arxdeploy.backup.archive import COMPRESSION, STORED, entries, level_for, pack, unpack
from arxdeploy.backup.manifest import MANIFEST, Manifest


def manifest_for(files: dict[str, bytes | Path]) -> Manifest:
    return Manifest("20261205-100000-abcd", "arxos", "staging", "2026-12-05T10:00:00+00:00", entries(files))


def test_an_archive_reads_back_whole_with_the_members_asked_for(tmp_path: Path) -> None:
    big = tmp_path / "dump.sql"
    big.write_bytes(b"INSERT INTO t VALUES (1);\n" * 100_000)
    files: dict[str, bytes | Path] = {"target/a.yaml": b"kind: A\n", "dumps/dump.sql": big}
    pack(tmp_path / "b.tar.gz", manifest_for(files), files, mtime=0)
    with tarfile.open(tmp_path / "b.tar.gz") as tar:
        assert tar.getnames() == [MANIFEST, "dumps/dump.sql", "target/a.yaml"]
        assert all((m.uid, m.gid, m.mode, m.mtime) == (0, 0, 0o600, 0) for m in tar.getmembers())
    opened = unpack(tmp_path / "b.tar.gz", keep=lambda name: name.startswith("target/"))
    assert opened.damaged == [] and opened.manifest == manifest_for(files)
    assert opened.kept == {"target/a.yaml": b"kind: A\n"}  # the dump was checked, not kept
    # A dump asked for is streamed to a file, checked on the way, never held in memory.
    (tmp_path / "out").mkdir()
    opened = unpack(tmp_path / "b.tar.gz", spill=lambda name: name.startswith("dumps/"), into=tmp_path / "out")
    assert opened.damaged == [] and opened.kept == {} and opened.spilled == {"dumps/dump.sql": tmp_path / "out" / "0"}
    assert (tmp_path / "out" / "0").read_bytes() == big.read_bytes()
    # The same content makes the same archive.
    pack(tmp_path / "again.tar.gz", manifest_for(files), files, mtime=0)
    assert (tmp_path / "again.tar.gz").read_bytes() == (tmp_path / "b.tar.gz").read_bytes()


def test_hostile_or_unlisted_members_are_reported_and_never_written(tmp_path: Path) -> None:
    files: dict[str, bytes | Path] = {"target/a.yaml": b"kind: A\n"}
    path = tmp_path / "evil.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, data in [
            (MANIFEST, manifest_for(files).to_bytes()),
            ("target/a.yaml", b"kind: A\n"),
            ("../../escape.txt", b"owned"),
            ("/etc/cron.d/evil", b"owned"),
            ("extra.txt", b"not in the manifest"),
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("target/link")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    opened = unpack(path, keep=lambda name: True)
    assert opened.damaged == [
        "../../escape.txt: not a plain file name, or given twice",
        "/etc/cron.d/evil: not a plain file name, or given twice",
        "target/link: not a plain file name, or given twice",
        "extra.txt: not in the manifest",
    ]
    assert set(opened.kept) == {"target/a.yaml", "extra.txt"}
    assert not (tmp_path.parent / "escape.txt").exists() and not (tmp_path / "escape.txt").exists()
    # Written to files (as dumps are): under numbers of the reader's choosing, never by their names.
    (tmp_path / "out").mkdir()
    spilled = unpack(path, spill=lambda name: True, into=tmp_path / "out")
    assert spilled.damaged == opened.damaged and spilled.kept == {}
    assert spilled.spilled == {"target/a.yaml": tmp_path / "out" / "0", "extra.txt": tmp_path / "out" / "1"}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["0", "1"]
    assert (tmp_path / "out" / "0").read_bytes() == b"kind: A\n"
    assert not (tmp_path.parent / "escape.txt").exists() and not (tmp_path / "escape.txt").exists()


def test_a_missing_manifest_or_member_is_named(tmp_path: Path) -> None:
    files: dict[str, bytes | Path] = {"target/a.yaml": b"a", "target/b.yaml": b"b"}
    path = tmp_path / "short.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, data in [(MANIFEST, manifest_for(files).to_bytes()), ("target/a.yaml", b"a")]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    assert unpack(path).damaged == ["target/b.yaml: missing"]
    (tmp_path / "none.tar.gz").write_bytes(b"not even gzip")
    assert unpack(tmp_path / "none.tar.gz").damaged[-1] == "manifest.json: missing"


def test_a_dump_compressed_already_is_stored_not_deflated_again(tmp_path: Path) -> None:
    """A compressed dump (as ``pg_dump -Fc`` writes) makes most of the bytes: the archive stores
    them as they are, and still reads back whole; a plain SQL dump is compressed."""
    packed = tmp_path / "dump.custom"
    packed.write_bytes(os.urandom(3 << 20))  # random bytes do not compress, like a compressed dump
    plain = tmp_path / "dump.sql"
    plain.write_bytes(b"INSERT INTO t VALUES (1);\n" * 120_000)
    config = {"config/deployment_config.yaml": b"service: arxos\n" * 50}
    assert level_for({**config, "dumps/database.dump": packed}) == STORED
    assert level_for({**config, "dumps/database.dump": plain}) == COMPRESSION
    assert level_for(config) == COMPRESSION
    files: dict[str, bytes | Path] = {**config, "dumps/database.dump": packed}
    pack(tmp_path / "b.tar.gz", manifest_for(files), files, mtime=0)
    size = (tmp_path / "b.tar.gz").stat().st_size
    assert packed.stat().st_size < size < packed.stat().st_size + 64 * 1024  # stored: its size and a little
    (tmp_path / "out").mkdir()
    opened = unpack(tmp_path / "b.tar.gz", spill=lambda name: name.startswith("dumps/"), into=tmp_path / "out")
    assert opened.damaged == [] and (tmp_path / "out" / "0").read_bytes() == packed.read_bytes()
