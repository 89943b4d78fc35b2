"""Key paths into the config file (``("environments", "staging", "replicas")``), how they are
written in messages, and the line each starts on. Pure: no YAML, no pydantic."""

from __future__ import annotations

from collections.abc import Mapping

KeyPath = tuple[str | int, ...]


def dotted(path: KeyPath) -> str:
    """``("health_checks", "custom_checks", 0, "script")`` -> ``health_checks.custom_checks[0].script``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def line_of(lines: Mapping[KeyPath, int], path: KeyPath) -> int | None:
    """Line of ``path``, or of its nearest parent that is in the file (for a missing key)."""
    for size in range(len(path), -1, -1):
        if path[:size] in lines:
            return lines[path[:size]]
    return None
