"""What reading commands need of a validated config, kept between runs (like Python's ``__pycache__``).

Importing pydantic, building the config's models and validating the file is most of what
``status`` would spend; a reading command instead loads the ``Essentials`` (plain data, see
``config.essentials``) an earlier command made from the very same inputs: every command that
validates the file keeps them. An entry is used only when everything validation depends on is
unchanged, all in its key: the file's bytes and absolute path, the value of every ``${VAR}`` the
file names, the code of the config and domain packages, the Python version and the installed pydantic and PyYAML.
Any other entry, or one that cannot be read, is ignored, and the file is validated as if there
were no cache.

No secret is ever written: a file is kept only when no value of it came from the environment
(every ``${VAR}`` it names is unset or empty), so an entry holds only what the file says. The
entries are pickles: one per config file, in a folder only its owner may write
(``$ARXDEPLOY_CACHE_DIR``, else ``$XDG_CACHE_HOME/arxdeploy``, else ``~/.cache/arxdeploy``),
and an entry anyone else could have written is not loaded. ``ARXDEPLOY_CACHE_DIR=off`` turns
the cache off.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import pickle
import re
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from arxdeploy.config.essentials import Essentials

FORMAT = b"arxdeploy-config-cache 1"
OFF = "off"
_REFERENCE = re.compile(r"\$\{([^}]*)\}?")  # every ${...} in the text, $${ escapes included: over-reading is safe
_CODE = ("config", "domain")  # the packages whose code shapes an entry
# The file that names each library's version (pydantic pins its pydantic-core exactly).
_LIBRARIES = (("pydantic", "version.py"), ("yaml", "__init__.py"))


def folder(environ: Mapping[str, str]) -> Path | None:
    """Where entries live, or None: turned off, or no home to keep them in."""
    chosen = environ.get("ARXDEPLOY_CACHE_DIR")
    if chosen == OFF:
        return None
    if chosen:
        return Path(chosen)
    base = environ.get("XDG_CACHE_HOME") or (str(Path(environ["HOME"]) / ".cache") if environ.get("HOME") else None)
    return Path(base) / "arxdeploy" if base else None


def key(path: Path, raw: bytes, environ: Mapping[str, str]) -> bytes | None:
    """What an entry for ``path`` must have been made from; None when the file takes a non-empty
    value from the environment, which may be a secret and is never kept."""
    text = raw.decode("utf-8", "replace")
    variables = sorted({body.partition(":-")[0] for body in _REFERENCE.findall(text)})
    values = [environ.get(name) for name in variables]
    if any(values):
        return None
    digest = hashlib.sha256(FORMAT)
    for part in (sys.version, _code_fingerprint(), str(path), repr(list(zip(variables, values, strict=True)))):
        digest.update(b"\0" + part.encode())
    digest.update(b"\0" + raw)
    return digest.hexdigest().encode()


@dataclass(frozen=True)
class Slot:
    """Where the entry for one config file goes, and the key it must carry."""

    folder: Path
    path: Path  # the config file, absolute
    key: bytes


def slot(path: Path, raw: bytes, environ: Mapping[str, str]) -> Slot | None:
    """The entry ``path`` with these bytes has under ``environ``; None: nothing is kept for it
    (the cache is off or has no home, or the file takes a value from the environment)."""
    where = folder(environ)
    made_from = key(path, raw, environ) if where is not None else None
    return Slot(where, path, made_from) if where is not None and made_from is not None else None


def load(at: Slot) -> Essentials | None:
    """The entry ``at`` names when it was made from its key; None otherwise."""
    entry, expected = _entry(at.folder, at.path), at.key
    try:
        with entry.open("rb") as f:
            if not _owned(os.fstat(f.fileno())) or not _owned(entry.parent.stat()):
                return None
            if f.readline().rstrip(b"\n") != expected:
                return None
            found = pickle.load(f)
    except Exception:  # noqa: BLE001 - any unreadable entry is a miss: the file is validated instead
        return None
    from arxdeploy.config.essentials import Essentials

    return found if isinstance(found, Essentials) and not found.secrets else None


def keep(at: Slot, essentials: Essentials) -> None:
    """Write the entry ``at`` names, atomically; a cache that cannot be written is no cache."""
    if essentials.secrets:
        return  # never reached through key(); kept as the rule itself
    import tempfile  # writing is the rarer case: a reading command that finds its entry never imports it

    entry, made_from = _entry(at.folder, at.path), at.key
    try:
        entry.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=entry.parent, prefix=".entry-")  # mode 0600
        temporary = Path(name)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(made_from + b"\n")
                pickle.dump(essentials, f, protocol=pickle.HIGHEST_PROTOCOL)
            temporary.replace(entry)  # readers see the old entry or the new one, never half of one
        except BaseException:
            temporary.unlink()
            raise
    except OSError:
        pass


def _entry(where: Path, path: Path) -> Path:
    return where / "config" / f"{hashlib.sha256(str(path).encode()).hexdigest()[:32]}.pickle"


def _owned(info: os.stat_result) -> bool:
    """Made by this user and writable by no one else: what may be unpickled."""
    return info.st_uid == os.geteuid() and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


@functools.cache  # the code does not change while a process runs
def _code_fingerprint() -> str:
    """Names, sizes and modification times of the modules an entry is made by and of, and of the
    libraries that validate (found, not imported: a hit imports neither): a changed or reinstalled
    arxdeploy, pydantic or PyYAML never reads what another version wrote."""
    root = Path(__file__).resolve().parent.parent
    parts = []
    for module in [module for package in _CODE for module in sorted((root / package).glob("*.py"))]:
        info = module.stat()
        parts.append(f"{module}:{info.st_size}:{info.st_mtime_ns}")
    for library, versioned in _LIBRARIES:
        spec = importlib.util.find_spec(library)  # a top-level package: found, not imported
        if spec is not None and spec.origin:
            parts.append(f"{library}:{hashlib.sha256((Path(spec.origin).parent / versioned).read_bytes()).hexdigest()}")
    return ";".join(parts)
