"""The config file's bytes, and the one path it is known by."""

from __future__ import annotations

from pathlib import Path

from arxdeploy.errors import ConfigError, ConfigProblem


def read_file(path: Path, file: str) -> tuple[Path, bytes]:
    """The canonical path (so one file always maps to one state folder) and the file's bytes."""
    try:
        absolute = path.resolve()
        return absolute, absolute.read_bytes()
    except FileNotFoundError:
        message, hint = (
            "no such file",
            "write one (`arxdeploy schema` describes every key; `arxdeploy demo` shows a working one), or pass -c FILE",
        )
    except IsADirectoryError:
        message, hint = "is a folder, not a config file", "pass -c FILE with the path of the YAML file"
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
        message, hint = f"cannot be read: {getattr(exc, 'strerror', None) or exc}", None
    raise ConfigError([ConfigProblem(file, None, "", message, hint)])
