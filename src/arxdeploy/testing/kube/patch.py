"""The four PATCH flavours of the API server: JSON merge, JSON patch, strategic merge and apply.

Strategic merge knows the merge keys by field name (the emulator serves a fixed set of kinds, so
the handful of keyed lists in their schemas is enough); unknown lists are replaced, as Kubernetes
does for lists without a patch strategy.
"""

from __future__ import annotations

import copy
from typing import Any


class PatchError(Exception):
    """The patch is well-formed but cannot be applied: the API server answers 422."""


# field name -> merge key, from the Kubernetes type definitions (patchMergeKey).
_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "ownerReferences": "uid",
    "conditions": "type",
    "resourceClaims": "name",
}
_UNION_LISTS = {"finalizers"}  # primitive lists with patchStrategy "merge"


def merge_patch(original: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(original) if isinstance(original, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _parent(doc: Any, parts: list[str]) -> tuple[Any, str]:
    current = doc
    for part in parts[:-1]:
        current = _child(current, part)
    return current, parts[-1]


def _child(container: Any, part: str) -> Any:
    if isinstance(container, dict):
        if part not in container:
            raise PatchError(f"path element {part!r} not found")
        return container[part]
    if isinstance(container, list):
        return container[_index(container, part, allow_end=False)]
    raise PatchError(f"cannot descend into {type(container).__name__} at {part!r}")


def _index(items: list[Any], part: str, *, allow_end: bool) -> int:
    if part == "-" and allow_end:
        return len(items)
    if not part.isdigit():
        raise PatchError(f"invalid array index {part!r}")
    index = int(part)
    if index > len(items) or (index == len(items) and not allow_end):
        raise PatchError(f"array index {index} out of bounds")
    return index


def _add(doc: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return value
    parent, last = _parent(doc, parts)
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, allow_end=True), value)
    else:
        raise PatchError(f"cannot add to {type(parent).__name__}")
    return doc


def _remove(doc: Any, parts: list[str]) -> tuple[Any, Any]:
    if not parts:
        raise PatchError("cannot remove the whole document")
    parent, last = _parent(doc, parts)
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"unable to remove nonexistent key: {last}")
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, last, allow_end=False))
    raise PatchError(f"cannot remove from {type(parent).__name__}")


def json_patch(original: Any, operations: Any) -> Any:
    """RFC 6902. A failed ``test`` or a missing path raises :class:`PatchError`."""
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations")
    doc = copy.deepcopy(original)
    for operation in operations:
        if not isinstance(operation, dict) or "op" not in operation or "path" not in operation:
            raise PatchError(f"invalid operation {operation!r}")
        op, parts = operation["op"], _pointer(operation["path"])
        if op == "add":
            doc = _add(doc, parts, copy.deepcopy(operation.get("value")))
        elif op == "remove":
            doc, _ = _remove(doc, parts)
        elif op == "replace":
            doc, _ = _remove(doc, parts)
            doc = _add(doc, parts, copy.deepcopy(operation.get("value")))
        elif op in {"move", "copy"}:
            source = _pointer(operation.get("from", ""))
            if op == "move":
                doc, value = _remove(doc, source)
            else:
                value = copy.deepcopy(_get(doc, source))
            doc = _add(doc, parts, value)
        elif op == "test":
            if _get(doc, parts) != operation.get("value"):
                raise PatchError(f"testing value {operation['path']} failed")
        else:
            raise PatchError(f"unknown operation {op!r}")
    return doc


def _get(doc: Any, parts: list[str]) -> Any:
    for part in parts:
        doc = _child(doc, part)
    return doc


def _merge_key(field: str, items: list[Any]) -> str | None:
    if field == "ports":  # container ports merge on containerPort, Service ports on port
        keyed = [i for i in items if isinstance(i, dict)]
        return "containerPort" if any("containerPort" in i for i in keyed) else "port"
    return _MERGE_KEYS.get(field)


def strategic_merge(original: Any, patch: Any) -> Any:
    """Strategic merge patch: keyed lists merge by key, ``$patch`` directives, ``null`` deletes."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    base = copy.deepcopy(original) if isinstance(original, dict) else {}
    directive = patch.get("$patch")
    if directive == "replace":
        return _strip({k: v for k, v in patch.items() if k != "$patch"})
    if directive == "delete":
        return None
    retain = patch.get("$retainKeys")
    orders: dict[str, list[Any]] = {}
    for key, value in patch.items():
        if key in {"$patch", "$retainKeys"}:
            continue
        if key.startswith("$setElementOrder/"):
            orders[key.split("/", 1)[1]] = value
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            base[field] = [item for item in base.get(field) or [] if item not in value]
            continue
        if value is None:
            base.pop(key, None)
        elif isinstance(value, list):
            base[key] = _merge_list(key, base.get(key), value)
        elif isinstance(value, dict):
            merged = strategic_merge(base.get(key), value)
            if merged is None:
                base.pop(key, None)
            else:
                base[key] = merged
        else:
            base[key] = value
    for field, order in orders.items():
        if isinstance(base.get(field), list):
            base[field] = _reorder(field, base[field], order)
    if isinstance(retain, list):
        base = {k: v for k, v in base.items() if k in retain}
    return base


def _merge_list(field: str, original: Any, patch: list[Any]) -> list[Any]:
    current = list(copy.deepcopy(original)) if isinstance(original, list) else []
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [_strip(i) for i in patch if not (isinstance(i, dict) and i.get("$patch") == "replace")]
    if field in _UNION_LISTS:
        return current + [item for item in patch if item not in current]
    key = _merge_key(field, current + patch)
    if key is None or not all(isinstance(i, dict) for i in patch):
        return [_strip(i) for i in patch]
    for item in patch:
        position = next(
            (n for n, old in enumerate(current) if isinstance(old, dict) and old.get(key) == item.get(key)), None
        )
        if item.get("$patch") == "delete":
            if position is not None:
                current.pop(position)
        elif position is None:
            current.append(_strip(item))
        else:
            current[position] = strategic_merge(current[position], item)
    return current


def _reorder(field: str, items: list[Any], order: list[Any]) -> list[Any]:
    key = _merge_key(field, items)
    wanted = [o.get(key) if isinstance(o, dict) and key else o for o in order]
    ident = [i.get(key) if isinstance(i, dict) and key else i for i in items]
    ranked = sorted(range(len(items)), key=lambda n: wanted.index(ident[n]) if ident[n] in wanted else len(wanted) + n)
    return [items[n] for n in ranked]


def _strip(value: Any) -> Any:
    """Drop directives from a value that is stored as is (a new list item, a replaced map)."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if not k.startswith("$") and v is not None}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def apply_patch(original: dict[str, Any] | None, applied: dict[str, Any]) -> dict[str, Any]:
    """Server-side apply, simplified: the applied object is strategically merged over the live one.

    Field ownership is not tracked, so fields an earlier apply set and this one omits are kept
    (a real server would remove them), and ``fieldManager`` conflicts never happen.
    """
    merged = strategic_merge(original or {}, applied)
    return merged if isinstance(merged, dict) else {}
