"""Turn pydantic's validation errors into ``ConfigProblem``s a person can act on.

Each problem names the dotted key and its line, says in plain words what was expected, and
suggests the closest valid key or value. Values that came from the environment are never
shown: the message says "the value from ${VAR}" instead.
"""

from __future__ import annotations

import datetime
import difflib
import re
import types
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from arxdeploy.config.keys import KeyPath, dotted, line_of
from arxdeploy.config.models import Config
from arxdeploy.errors import ConfigProblem

_MIN_SECRET = 3  # as arxdeploy.redact: shorter values would blank out ordinary words in messages
_SHOWN_CHARS = 40

_EXPECTED = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "a finite number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping of keys",
    "model_type": "a mapping of keys",
    "model_attributes_type": "a mapping of keys",
}
_BOUNDS = {
    "greater_than_equal": ("ge", "at least"),
    "greater_than": ("gt", "more than"),
    "less_than_equal": ("le", "at most"),
    "less_than": ("lt", "less than"),
}


def translate(
    exc: ValidationError,
    *,
    file: str,
    lines: Mapping[KeyPath, int],
    from_environ: Mapping[KeyPath, tuple[str, ...]],
    broken: Iterable[KeyPath] = (),
) -> list[ConfigProblem]:
    """One ``ConfigProblem`` per pydantic error, except where the value was already reported."""
    skip = set(broken)
    problems = []
    for error in exc.errors(include_url=False):
        path = tuple(part for part in error["loc"] if part != "[key]")
        if any(path[:size] in skip for size in range(len(path) + 1)):
            continue
        message, hint = _describe(error, path, from_environ.get(path))
        problems.append(ConfigProblem(file, line_of(lines, path), dotted(path), message, hint))
    return problems


def mask(text: str | None, secrets: Iterable[str]) -> str | None:
    """Last line of defence: blank out any secret that still made it into a message."""
    if text is None:
        return None
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= _MIN_SECRET:
            text = text.replace(secret, "***")
    return text


def _describe(error: ErrorDetails, path: KeyPath, variables: tuple[str, ...] | None) -> tuple[str, str | None]:
    kind, value, ctx = error["type"], error["input"], error.get("ctx") or {}
    got = _from_environ(variables) if variables else _got(value)
    hint = ctx.get("hint")
    if kind == "missing":
        return "is required", _field_hint(path)
    if kind == "extra_forbidden":
        return "is not a known key here", _key_hint(path)
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {got}", _type_hint(kind, value)
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        close = [] if variables else _close(value, choices)
        return f"must be {ctx.get('expected')}, got {got}", f"did you mean '{close[0]}'?" if close else None
    if kind in _BOUNDS:
        name, words = _BOUNDS[kind]
        return f"must be {words} {ctx.get(name)}, got {got}", None
    if kind in ("too_short", "too_long"):
        return _length(kind, ctx), hint
    if kind == "string_too_short":
        return "must not be empty", None
    if "value" in ctx:  # our own checks put the value in double quotes so it can be hidden here
        message = error["msg"]
        if variables:
            message = message.replace(f'"{ctx["value"]}"', _from_environ(variables))
        return message, hint
    message = error["msg"].removeprefix("Value error, ")
    return message, hint


def _from_environ(variables: tuple[str, ...]) -> str:
    names = ", ".join(f"${{{name}}}" for name in variables)
    return f"the value from {names} (not shown)"


def _got(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int) and value.bit_length() > _SHOWN_CHARS * 3:  # str() of a huge int can fail
        return "a very long number"
    if isinstance(value, int | float):
        return f"the number {value}" if len(str(value)) <= _SHOWN_CHARS else "a very long number"
    if isinstance(value, str):
        shown = value if len(value) <= _SHOWN_CHARS else value[: _SHOWN_CHARS - 3] + "..."
        return f"the text {shown!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, datetime.date):
        return "a date"
    return "binary data" if isinstance(value, bytes) else type(value).__name__


def _type_hint(kind: str, value: Any) -> str | None:
    if kind == "string_type" and isinstance(value, bool | int | float | datetime.date):
        return "YAML read it as a number, date or true/false; put it in quotes to make it text"
    if kind == "list_type":
        return "write [a, b] or one '- item' per line"
    if kind in ("dict_type", "model_type") and value is None:
        return "add keys under it, or remove it"
    if value is None:
        return "give it a value, or remove the key to use the default"
    return None


def _length(kind: str, ctx: Mapping[str, Any]) -> str:
    limit = ctx.get("min_length") if kind == "too_short" else ctx.get("max_length")
    if ctx.get("field_type") == "Dictionary":
        noun = "entry" if limit == 1 else "entries"
    else:
        noun = "item" if limit == 1 else "items"
    words = "at least" if kind == "too_short" else "at most"
    return f"needs {words} {limit} {noun}"


def _close(value: Any, choices: Iterable[str]) -> list[str]:
    if not isinstance(value, str):
        return []
    return difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)


# --- knowing the models ------------------------------------------------------------------


def _unwrap(annotation: Any) -> Any:
    """Strip ``Annotated`` and ``| None`` to reach the type underneath."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            options = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(options) != 1:
                return annotation
            annotation = options[0]
        else:
            return annotation


def _model(annotation: Any) -> type[BaseModel] | None:
    annotation = _unwrap(annotation)
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def model_at(path: KeyPath) -> type[BaseModel] | None:
    """The model class that validates the mapping at ``path`` (list indexes and dict keys skipped)."""
    current: Any = Config
    for part in path:
        current = _unwrap(current)
        model = _model(current)
        if model is not None:
            if not isinstance(part, str) or part not in model.model_fields:
                return None
            current = model.model_fields[part].annotation
        elif get_origin(current) in (list, dict):
            current = get_args(current)[-1]  # the item type, or the value type of a dict
        else:
            return None
    return _model(current)


def _field_hint(path: KeyPath) -> str | None:
    model = model_at(path[:-1])
    name = path[-1]
    if model is None or not isinstance(name, str) or name not in model.model_fields:
        return None
    description = model.model_fields[name].description
    return f"{name}: {description}" if description else None


def _key_hint(path: KeyPath) -> str | None:
    name, model = path[-1], model_at(path[:-1])
    if model is None or not isinstance(name, str):
        return None
    known = list(model.model_fields)
    close = _close(name, known)
    if close:
        return f"did you mean '{close[0]}'?"
    elsewhere = _field_homes().get(name)
    if elsewhere:
        return f"'{name}' belongs under {' or '.join(elsewhere)}; keys here: {', '.join(known)}"
    return f"keys here: {', '.join(known)}"


@cache
def _field_homes() -> dict[str, list[str]]:
    """Field name -> the places it is a key, like ``environments.<name>``, for misplaced keys."""
    homes: dict[str, list[str]] = {}

    def visit(model: type[BaseModel], where: str) -> None:
        for name, info in model.model_fields.items():
            homes.setdefault(name, []).append(where or "the top level")
            annotation = _unwrap(info.annotation)
            inner = _model(annotation)
            label = name
            if inner is None and get_origin(annotation) in (list, dict):
                inner = _model(get_args(annotation)[-1])
                label += "[]" if get_origin(annotation) is list else ".<name>"
            if inner is not None:
                visit(inner, f"{where}.{label}" if where else label)

    visit(Config, "")
    return homes
