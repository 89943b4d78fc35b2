"""``${VAR}`` and ``${VAR:-default}`` in config strings, filled from a given environment.

``$${`` is a literal ``${``. As in the shell, ``:-`` also uses the default when the variable
is set but empty. The environment is always passed in: the package never reads os.environ.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_TOKEN = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

SYNTAX_HINT = "write ${NAME} or ${NAME:-default}, or $${ for a literal ${"


@dataclass(frozen=True)
class Interpolated:
    text: str
    from_environ: tuple[str, ...] = ()  # variables whose value came from the environment
    secrets: tuple[str, ...] = ()  # their non-empty values, which no message may show
    missing: tuple[str, ...] = ()  # variables neither set nor given a default
    malformed: bool = False  # a ``${`` that is not a valid reference


def interpolate(text: str, environ: Mapping[str, str]) -> Interpolated:
    """Replace every reference in ``text``; problems are reported, not raised."""
    if "$" not in text:
        return Interpolated(text)
    from_environ: list[str] = []
    secrets: list[str] = []
    missing: list[str] = []
    malformed = False

    def replace(match: re.Match[str]) -> str:
        nonlocal malformed
        token, body = match.group(0), match.group(1)
        if token == "$${":
            return "${"
        name, sep, default = (body or "").partition(":-")
        if body is None or not _NAME.fullmatch(name):
            malformed = True
            return ""
        value = environ.get(name)
        if value is not None and (value or not sep):
            from_environ.append(name)
            if value:
                secrets.append(value)
            return value
        if sep:
            return default
        missing.append(name)
        return ""

    result = _TOKEN.sub(replace, text)
    return Interpolated(
        result, tuple(dict.fromkeys(from_environ)), tuple(secrets), tuple(dict.fromkeys(missing)), malformed
    )
