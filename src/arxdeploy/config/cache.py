"""The validated config of reading commands, kept between runs (like Python's ``__pycache__``).

Building the config's models and validating the file is most of what ``status`` spends; a
reading command instead loads the ``LoadedConfig`` an earlier command (any command: each keeps
what it validated) made from the very same inputs. An entry is used only when everything validation depends on is unchanged, all in
its key: the file's bytes and absolute path, the value of every ``${VAR}`` the file names, the
code of the config and domain packages, and the Python and pydantic versions. Any other entry,
or one that cannot be read, is ignored, and the file is validated as if there were no cache.

No secret is ever written: a file is kept only when no value of it came from the environment
(every ``${VAR}`` it names is unset or empty), so its ``LoadedConfig`` holds only what the file
says. The entries are pickles: one per config file, in a folder only its owner may write
(``$ARXDEPLOY_CACHE_DIR``, else ``$XDG_CACHE_HOME/arxdeploy``, else ``~/.cache/arxdeploy``),
and an entry anyone else could have written is not loaded. ``ARXDEPLOY_CACHE_DIR=off`` turns
the cache off.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import stat
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from arxdeploy.config.loader import LoadedConfig

FORMAT = b"arxdeploy-config-cache 1"
OFF = "off"
_REFERENCE = re.compile(r"\$\{([^}]*)\}?")  # every ${...} in the text, $${ escapes included: over-reading is safe
_CODE = ("config", "domain")  # the packages whose code shapes a LoadedConfig


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
    from pydantic.version import VERSION

    text = raw.decode("utf-8", "replace")
    variables = sorted({body.partition(":-")[0] for body in _REFERENCE.findall(text)})
    values = [environ.get(name) for name in variables]
    if any(values):
        return None
    digest = hashlib.sha256(FORMAT)
    for part in (sys.version, VERSION, _code_fingerprint(), str(path), repr(list(zip(variables, values, strict=True)))):
        digest.update(b"\0" + part.encode())
    digest.update(b"\0" + raw)
    return digest.hexdigest().encode()


def load(where: Path, path: Path, expected: bytes) -> LoadedConfig | None:
    """The entry for ``path`` when it was made from ``expected``; None otherwise."""
    entry = _entry(where, path)
    try:
        with entry.open("rb") as f:
            if not _owned(os.fstat(f.fileno())) or not _owned(entry.parent.stat()):
                return None
            if f.readline().rstrip(b"\n") != expected:
                return None
            loaded = pickle.load(f)
    except Exception:  # noqa: BLE001 - any unreadable entry is a miss: the file is validated instead
        return None
    from arxdeploy.config.loader import LoadedConfig

    return loaded if isinstance(loaded, LoadedConfig) and not loaded.secrets else None


def keep(where: Path, loaded: LoadedConfig, made_from: bytes) -> None:
    """Write the entry for ``loaded``, atomically; a cache that cannot be written is no cache."""
    if loaded.secrets:
        return  # never reached through key(); kept as the rule itself
    import tempfile  # writing is the rarer case: a reading command that finds its entry never imports it

    entry = _entry(where, loaded.path)
    try:
        entry.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=entry.parent, prefix=".entry-")  # mode 0600
        temporary = Path(name)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(made_from + b"\n")
                pickle.dump(loaded, f, protocol=pickle.HIGHEST_PROTOCOL)
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


def _code_fingerprint() -> str:
    """Names, sizes and modification times of the modules a LoadedConfig is made of: a changed or
    reinstalled arxdeploy never reads what another version wrote."""
    root = Path(__file__).resolve().parent.parent
    parts = []
    for package in _CODE:
        for module in sorted((root / package).glob("*.py")):
            info = module.stat()
            parts.append(f"{package}/{module.name}:{info.st_size}:{info.st_mtime_ns}")
    return ";".join(parts)
