"""The configuration reference (docs/configuration.md), generated from the same models as the schema."""

from __future__ import annotations

import json
from typing import Any

from arxdeploy.config.loader import json_schema

_HEADER = """\
# deployment_config.yaml reference

Generated from arxdeploy's config models by `arxdeploy schema --markdown`; do not edit by hand.
Durations accept a number of seconds or `500ms`, `30s`, `5m`, `1h`. Any string may use
`${VAR}` or `${VAR:-default}`; values read from the environment are masked in all output.
Unknown keys are errors (top-level keys starting with `x-` are ignored, for YAML anchors).
"""


def markdown() -> str:
    schema = json_schema()
    defs: dict[str, Any] = schema.get("$defs", {})
    lines = [_HEADER]
    _table(lines, "", schema, defs, depth=0)
    return "\n".join(lines).rstrip() + "\n"


def _table(lines: list[str], prefix: str, node: dict[str, Any], defs: dict[str, Any], depth: int) -> None:
    properties: dict[str, Any] = node.get("properties", {})
    if not properties:
        return
    required = set(node.get("required", []))
    lines += ["", f"## `{prefix or '(top level)'}`", ""]
    if node.get("description") and prefix:
        lines += [str(node["description"]), ""]
    lines += ["| key | type | default | description |", "|---|---|---|---|"]
    nested: list[tuple[str, dict[str, Any]]] = []
    for name, prop in properties.items():
        resolved = _resolve(prop, defs)
        key = f"{prefix}.{name}" if prefix else name
        default = "required" if name in required else _default(prop)
        lines.append(f"| `{name}` | {_type(prop, defs)} | {default} | {prop.get('description', '')} |")
        if "properties" in resolved:
            nested.append((key, resolved))
        extra = resolved.get("additionalProperties")
        if isinstance(extra, dict) and "properties" in _resolve(extra, defs):
            nested.append((f"{key}.<name>", _resolve(extra, defs)))
        items = resolved.get("items")
        if isinstance(items, dict) and "properties" in _resolve(items, defs):
            nested.append((f"{key}[]", _resolve(items, defs)))
    for key, child in nested:
        _table(lines, key, child, defs, depth + 1)


def _resolve(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in prop:
        return {**defs[prop["$ref"].rsplit("/", 1)[-1]], **{k: v for k, v in prop.items() if k != "$ref"}}
    for option in prop.get("anyOf", []):
        if "$ref" in option or "items" in option:  # a mapping or a list of them, or null
            return {**prop, **_resolve(option, defs)}
    return prop


def _type(prop: dict[str, Any], defs: dict[str, Any]) -> str:
    if "$ref" in prop:
        return "mapping"
    if prop.get("format") == "quantity":
        return "quantity"
    if "enum" in prop:
        return " \\| ".join(f"`{v}`" for v in prop["enum"])
    if "const" in prop:
        return f"`{prop['const']}`"
    if "anyOf" in prop:
        kinds = [_type(option, defs) for option in prop["anyOf"]]
        if {"number", "string"} <= set(kinds):
            return "duration"
        return " or ".join(dict.fromkeys(kinds))
    kind = prop.get("type", "any")
    if kind == "array":
        return f"list of {_type(prop.get('items', {}), defs)}"
    if kind == "object":
        return "mapping"
    return str(kind)


def _default(prop: dict[str, Any]) -> str:
    if "default" not in prop:
        return "-"
    return f"`{json.dumps(prop['default'])}`"
