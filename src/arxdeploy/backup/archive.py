"""The archive format: one gzip-compressed tar per backup, ``manifest.json`` first.

Members are regular files only, with a fixed owner, mode and time, so the same content makes
the same archive. Files given as paths (database dumps can be large) are streamed, never read
whole. Reading streams too: each member's sha256 is checked against the manifest as it is
read, and only the members asked for are kept in memory, or written (``spill``, for dumps) to
files the reader names by number in a folder of its choosing: a member's own name never
becomes a path, so a hostile one has nowhere to go.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import tarfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from arxdeploy.backup.manifest import CHUNK, MANIFEST, FileEntry, Manifest, sha256_of

Source = bytes | Path  # a file's content, or where to stream it from
# Level 6, gzip's own default: level 9 (tarfile's default) costs twice the time for ~1% less.
COMPRESSION = 6
# Most of the bytes already compressed (a ``pg_dump -Fc`` dump is): deflating them again costs
# about a second per 50 MB and saves nothing, so they are stored (level 0; any gzip reads it).
STORED = 0
SAMPLE = 1 << 20  # bytes of each streamed file tried, to tell whether it still compresses
INCOMPRESSIBLE = 0.95  # a sample that deflates to more than this share of its size
SUFFIX = ".tar.gz"


def entries(files: Mapping[str, Source]) -> dict[str, FileEntry]:
    """The manifest's entries for ``files``: sha256 and size of each."""
    out = {}
    for name, source in files.items():
        digest, size = sha256_of(source)
        out[name] = FileEntry(digest, size)
    return out


def pack(out: Path, manifest: Manifest, files: Mapping[str, Source], *, mtime: float) -> None:
    """Write the archive of ``files`` to ``out``, the manifest first, the files by name."""
    with (
        out.open("wb") as raw,
        gzip.GzipFile(filename="", fileobj=raw, mode="wb", compresslevel=level_for(files), mtime=int(mtime)) as zipped,
        tarfile.open(fileobj=zipped, mode="w|", format=tarfile.PAX_FORMAT) as tar,
    ):
        _add(tar, MANIFEST, manifest.to_bytes(), mtime)
        for name in sorted(files):
            _add(tar, name, files[name], mtime)


def level_for(files: Mapping[str, Source]) -> int:
    """``COMPRESSION``, or ``STORED`` when nine tenths of the bytes are streamed files that are
    compressed already (judged on a sample of each)."""
    streamed = [source for source in files.values() if isinstance(source, Path)]
    total = sum(len(s) if isinstance(s, bytes) else s.stat().st_size for s in files.values())
    packed = sum(source.stat().st_size for source in streamed if not _compresses(source))
    return STORED if total and packed >= 0.9 * total else COMPRESSION


def _compresses(path: Path) -> bool:
    with path.open("rb") as f:
        sample = f.read(SAMPLE)
    return len(zlib.compress(sample, 1)) <= INCOMPRESSIBLE * len(sample) if sample else True


def _add(tar: tarfile.TarFile, name: str, source: Source, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.mode, info.mtime, info.uid, info.gid = 0o600, int(mtime), 0, 0
    if isinstance(source, bytes):
        info.size = len(source)
        tar.addfile(info, io.BytesIO(source))
        return
    info.size = source.stat().st_size
    with source.open("rb") as f:
        tar.addfile(info, f)


@dataclass
class Opened:
    """What reading an archive found."""

    manifest: Manifest | None = None
    digests: dict[str, str] = field(default_factory=dict)  # every member read -> its sha256
    kept: dict[str, bytes] = field(default_factory=dict)  # the members asked for
    spilled: dict[str, Path] = field(default_factory=dict)  # the members written to files, by name
    damaged: list[str] = field(default_factory=list)  # "name: what is wrong", for people


def unpack(
    path: Path,
    *,
    keep: Callable[[str], bool] = lambda name: False,
    spill: Callable[[str], bool] = lambda name: False,
    into: Path | None = None,
) -> Opened:
    """Read the archive at ``path``, checking every member against the manifest. Members that
    ``keep`` names are kept in memory; those ``spill`` names are written to new files in the
    folder ``into`` (``0``, ``1``, ...: never the member's name), to be used only once nothing
    was found damaged."""
    found = Opened()
    sizes: dict[str, int] = {}
    try:
        with tarfile.open(path, mode="r|gz") as tar:
            for member in tar:
                name = member.name
                if not member.isfile() or not _plain(name) or name in found.digests:
                    found.damaged.append(f"{name}: not a plain file name, or given twice")
                    continue
                reader = tar.extractfile(member)
                assert reader is not None  # a regular file always has one
                digest, kept, size = hashlib.sha256(), io.BytesIO(), 0
                sink = None
                if into is not None and name != MANIFEST and spill(name):
                    found.spilled[name] = into / str(len(found.spilled))
                    # New (never an existing file followed), and readable by this user only.
                    sink = os.fdopen(os.open(found.spilled[name], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")
                with sink or contextlib.nullcontext():
                    while chunk := reader.read(CHUNK):
                        digest.update(chunk)
                        size += len(chunk)
                        if sink is not None:
                            sink.write(chunk)
                        elif name == MANIFEST or keep(name):
                            kept.write(chunk)
                if name == MANIFEST:
                    if found.manifest is not None or found.digests:
                        found.damaged.append(f"{MANIFEST}: not the first member")
                        continue
                    try:
                        found.manifest = Manifest.from_bytes(kept.getvalue())
                    except (ValueError, KeyError, TypeError) as exc:
                        found.damaged.append(f"{MANIFEST}: unreadable ({exc})")
                    continue
                found.digests[name], sizes[name] = digest.hexdigest(), size
                if keep(name) and name not in found.spilled:
                    found.kept[name] = kept.getvalue()
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, OSError) as exc:
        # Cut short or altered: what was read before stays checked; the rest is reported missing.
        found.damaged.append(f"archive: cannot be read to the end ({exc})")
    if found.manifest is None:
        if not any(d.startswith(MANIFEST) for d in found.damaged):
            found.damaged.append(f"{MANIFEST}: missing")
        return found
    for name, entry in sorted(found.manifest.files.items()):
        read = found.digests.get(name)
        if read is None:
            found.damaged.append(f"{name}: missing")
        elif read != entry.sha256 or sizes[name] != entry.size:
            found.damaged.append(f"{name}: sha256 does not match the manifest")
    found.damaged += [f"{n}: not in the manifest" for n in sorted(set(found.digests) - set(found.manifest.files))]
    return found


def _plain(name: str) -> bool:
    path = PurePosixPath(name)
    return bool(name) and not path.is_absolute() and ".." not in path.parts and "\\" not in name
