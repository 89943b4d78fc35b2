"""Watch: one queue per watcher, fed synchronously by the store so no event is ever dropped.

A watcher sees an object that starts matching its selectors as ADDED and one that stops
matching as DELETED, as the API server's watch cache reports them.
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass, field
from typing import Any

from arxdeploy.testing.kube.resources import Resource
from arxdeploy.testing.kube.selectors import FieldSelector, LabelSelector


@dataclass(frozen=True)
class Change:
    resource_version: int
    type: str  # ADDED, MODIFIED, DELETED
    resource: Resource
    obj: dict[str, Any]
    old: dict[str, Any] | None = None


@dataclass(eq=False)
class Watcher:
    resource: Resource
    namespace: str | None
    labels: LabelSelector
    fields: FieldSelector
    queue: asyncio.Queue[dict[str, Any] | None] = field(default_factory=asyncio.Queue)

    def _matches(self, obj: dict[str, Any] | None) -> bool:
        if obj is None:
            return False
        meta = obj["metadata"]
        if self.namespace is not None and meta.get("namespace") != self.namespace:
            return False
        return self.labels.matches(meta.get("labels")) and self.fields.matches(obj)

    def offer(self, change: Change) -> None:
        if change.resource != self.resource:
            return
        now, before = self._matches(change.obj), self._matches(change.old)
        if change.type == "MODIFIED" and now != before:
            kind = "ADDED" if now else "DELETED"
        elif now:
            kind = change.type
        else:
            return
        self.queue.put_nowait({"type": kind, "object": copy.deepcopy(change.obj)})

    def expired(self, requested: int, oldest: int) -> None:
        status = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": f"too old resource version: {requested} ({oldest})",
            "reason": "Expired",
            "code": 410,
        }
        self.queue.put_nowait({"type": "ERROR", "object": status})
        self.close()

    def close(self) -> None:
        self.queue.put_nowait(None)
