"""``Duration``: a timedelta written as ``30``, ``"30s"``, ``"500ms"``, ``"5m"``, ``"1h30m"``, ``"90d"``.

Plain numbers are seconds. Units may be combined largest first (``1d12h``, ``1h30m``, ``2m30s``).
Negative, non-finite, unparseable and absurdly long (over 366 days) values are rejected. In JSON the value is written
back in the same short form (``90`` seconds -> ``"1m30s"``) so a dumped config loads again.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema
from pydantic_core import PydanticCustomError

_NUMBER = r"[0-9]+(?:\.[0-9]+)?"
# One source for both the parser and the JSON Schema, so editors and arxdeploy agree.
# The lookahead demands at least one digit, so the all-optional unit groups cannot match "".
PATTERN = (
    rf"^(?:{_NUMBER}|(?=[0-9])(?:({_NUMBER})d)?(?:({_NUMBER})h)?(?:({_NUMBER})m)?(?:({_NUMBER})s)?(?:({_NUMBER})ms)?)$"
)
_RE = re.compile(PATTERN)
_UNIT_SECONDS = (86400.0, 3600.0, 60.0, 1.0, 0.001)

HELP = "use a number of seconds or 500ms, 30s, 5m, 1h, 90d"
DESCRIPTION = "A duration: a number of seconds, or a string like 500ms, 30s, 5m, 1h, 1h30m, 90d."


MAX = timedelta(days=366)  # longer makes no sense here, and keeps "now + duration" from overflowing
_MAX_BITS = 64  # YAML reads 0x followed by thousands of digits as an int; str() and float() of it fail


def _error(value: object) -> PydanticCustomError:
    # The value goes in quotes so the loader can find and hide it when it is a secret.
    shown = "a very long number" if isinstance(value, int) and value.bit_length() > _MAX_BITS else str(value)
    return PydanticCustomError("duration", '"{value}" is not a duration; ' + HELP, {"value": shown})


def parse_duration(value: object) -> timedelta:
    """Turn config input into a timedelta; raises ``PydanticCustomError`` for anything else."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool) or (isinstance(value, int) and value.bit_length() > _MAX_BITS):
        raise _error(value)  # YAML ``yes`` is a bool (an int to Python); huge ints do not fit a float
    elif isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _parse_text(value)
    else:
        raise _error(value)
    if not math.isfinite(seconds) or seconds < 0:
        raise _error(value)
    if seconds > MAX.total_seconds():
        raise PydanticCustomError(
            "duration_too_long", '"{value}" is too long; the most is 366 days', {"value": str(value)}
        )
    return timedelta(seconds=seconds)


def _parse_text(text: str) -> float:
    match = _RE.match(text)
    if match is None:
        raise _error(text)
    parts = match.groups()
    if not any(parts):
        return float(text)  # a bare number of seconds
    return sum(float(part) * unit for part, unit in zip(parts, _UNIT_SECONDS, strict=True) if part)


def format_duration(value: timedelta) -> str:
    """The short form of ``value``: ``1h30m``, ``500ms``, ``0s``; parses back to the same value."""
    total_ms = round(value.total_seconds() * 1000)
    if total_ms == 0:
        return "0s"
    hours, rest = divmod(total_ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    text = f"{hours}h" if hours else ""
    text += f"{minutes}m" if minutes else ""
    if millis and not (hours or minutes or seconds):
        return text + f"{millis}ms"
    if seconds or millis:
        text += f"{seconds}.{millis:03d}".rstrip("0").rstrip(".") + "s"
    return text


def _validate(value: Any) -> timedelta:
    return parse_duration(value)


Duration = Annotated[
    timedelta,
    BeforeValidator(_validate),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "anyOf": [{"type": "number", "minimum": 0}, {"type": "string", "pattern": PATTERN}],
            "description": DESCRIPTION,
        }
    ),
]
