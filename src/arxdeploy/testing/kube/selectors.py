"""Label and field selectors, parsed from query strings as the API server does."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from arxdeploy.targets.kubernetes.selectors import LabelSelector, Requirement, from_label_selector_object
from arxdeploy.testing.kube.errors import bad_request

# The object form is the Kubernetes target's (the network_policy gate matches with it too); the
# emulator's modules import every selector from here.
__all__ = [
    "FieldSelector",
    "LabelSelector",
    "Requirement",
    "from_label_selector_object",
    "parse_field_selector",
    "parse_label_selector",
    "to_string",
]

_KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_VALUE = r"[A-Za-z0-9]?(?:[-A-Za-z0-9_.]*[A-Za-z0-9])?"
_EQUALITY = re.compile(rf"^\s*({_KEY})\s*(==|=|!=)\s*({_VALUE})\s*$")
_SET = re.compile(rf"^\s*({_KEY})\s+(in|notin)\s*\(([^)]*)\)\s*$")
_EXISTS = re.compile(rf"^\s*(!?)\s*({_KEY})\s*$")


def _split(text: str) -> list[str]:
    """Split on commas that are not inside ``( )``: ``a in (x,y),b`` has two requirements."""
    parts: list[str] = []
    depth = 0
    current = ""
    for char in text:
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        current += char
    parts.append(current)
    return [part for part in parts if part.strip()]


def parse_label_selector(text: str | None) -> LabelSelector:
    if not text:
        return LabelSelector()
    requirements: list[Requirement] = []
    for part in _split(text):
        if match := _SET.match(part):
            values = frozenset(v.strip() for v in match.group(3).split(",") if v.strip())
            requirements.append(Requirement(match.group(1), match.group(2), values))
        elif match := _EQUALITY.match(part):
            operator = "notin" if match.group(2) == "!=" else "in"
            requirements.append(Requirement(match.group(1), operator, frozenset({match.group(3)})))
        elif match := _EXISTS.match(part):
            requirements.append(Requirement(match.group(2), "!exists" if match.group(1) else "exists", frozenset()))
        else:
            raise bad_request(f"unable to parse requirement: invalid label selector {text!r}")
    return LabelSelector(tuple(requirements))


def to_string(selector: LabelSelector) -> str:
    """Render as the API server does in ``Scale.status.selector``."""
    parts = []
    for req in selector.requirements:
        if req.operator == "in" and len(req.values) == 1:
            parts.append(f"{req.key}={next(iter(req.values))}")
        elif req.operator in {"in", "notin"}:
            parts.append(f"{req.key} {req.operator} ({','.join(sorted(req.values))})")
        else:
            parts.append(req.key if req.operator == "exists" else f"!{req.key}")
    return ",".join(parts)


@dataclass(frozen=True)
class FieldSelector:
    terms: tuple[tuple[str, bool, str], ...] = ()  # (dotted path, wants equal, value)

    def matches(self, obj: Mapping[str, Any]) -> bool:
        return all((_field(obj, path) == value) == equal for path, equal, value in self.terms)


# field labels that are not a path in the object (an Event's ``source`` is its source's component)
_FIELD_PATHS = {"source": "source.component"}


def _field(obj: Mapping[str, Any], path: str) -> str:
    current: Any = obj
    for part in _FIELD_PATHS.get(path, path).split("."):
        current = current.get(part) if isinstance(current, Mapping) else None
    if isinstance(current, bool):
        return "true" if current else "false"
    return "" if current is None else str(current)


def parse_field_selector(text: str | None, allowed: frozenset[str] | None = None) -> FieldSelector:
    """``allowed``: the field labels the kind supports; another is a 400, as the API server's
    field label conversion answers (``field label not supported: <label>``)."""
    if not text:
        return FieldSelector()
    terms: list[tuple[str, bool, str]] = []
    for part in text.split(","):
        match = re.match(r"^\s*([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*?)\s*$", part)
        if not match:
            raise bad_request(f"invalid field selector: {text!r}")
        if allowed is not None and match.group(1) not in allowed:
            raise bad_request(f"field label not supported: {match.group(1)}")
        terms.append((match.group(1), match.group(2) != "!=", match.group(3)))
    return FieldSelector(tuple(terms))
