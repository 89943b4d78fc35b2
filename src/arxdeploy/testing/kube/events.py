"""Events as the cluster's components write them, and the ``events.k8s.io/v1`` view of the same objects.

Two recorders exist in Kubernetes and both are imitated:

- client-go's ``tools/record`` (kubelet, deployment and HPA controllers, cluster-autoscaler) writes
  ``v1`` Events named ``<object>.<unix nanoseconds in hex>`` with ``source``, ``firstTimestamp``,
  ``lastTimestamp`` and ``count``; an event seen again (same source, object, type, reason and
  message: the ``EventCorrelator``'s key) bumps ``count`` and ``lastTimestamp`` instead;
- client-go's ``tools/events`` (the scheduler) writes ``events.k8s.io/v1`` Events with
  ``reportingController``, ``action``, ``eventTime`` and, when repeated, ``series``.

One object is stored (the ``v1`` form); ``events.k8s.io/v1`` is a conversion of it, as the API
server's (pkg/apis/events/v1/conversion.go: ``regarding``/``involvedObject``, ``note``/``message``,
``reportingController``/``reportingComponent``, ``deprecated*`` for the old fields).
"""

from __future__ import annotations

import copy
import time
from datetime import UTC, datetime
from typing import Any

from arxdeploy.testing.kube.errors import ApiError
from arxdeploy.testing.kube.resources import by_name
from arxdeploy.testing.kube.semantics import now
from arxdeploy.testing.kube.store import Obj, Store

EVENTS = by_name("events")
_KEYED = ("kind", "namespace", "name", "uid", "apiVersion", "fieldPath")


def micro_now() -> str:
    """A ``MicroTime``: RFC 3339 with microseconds."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def reference(obj: Obj, field_path: str | None = None) -> dict[str, Any]:
    meta = obj["metadata"]
    ref = {
        "kind": obj["kind"],
        "namespace": meta.get("namespace", ""),
        "name": meta["name"],
        "uid": meta["uid"],
        "apiVersion": obj["apiVersion"],
        "resourceVersion": meta.get("resourceVersion", ""),
    }
    if not ref["namespace"]:
        del ref["namespace"]
    if field_path:
        ref["fieldPath"] = field_path
    return ref


class Recorder:
    """Writes Events into the store; call with the store's lock held (the controller does)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._seen: dict[tuple[Any, ...], tuple[str, str]] = {}  # correlation key -> (namespace, name)

    def record(
        self,
        obj: Obj,
        kind: str,
        reason: str,
        message: str,
        *,
        component: str,
        host: str = "",
        field_path: str | None = None,
        action: str | None = None,
    ) -> None:
        """One Event about ``obj``: ``kind`` is ``Normal`` or ``Warning``. With ``action`` it is
        written as the new events API does (the scheduler), else as the old recorder does."""
        ref = reference(obj, field_path)
        namespace = ref.get("namespace") or "default"
        key = (component, host, *(ref.get(k) for k in _KEYED), kind, reason, message)
        seen = self._seen.get(key)
        if seen is not None and self._repeat(seen, action is not None):
            return
        stamp = now()
        event: Obj = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": self._name(namespace, ref["name"]), "namespace": namespace},
            "involvedObject": ref,
            "reason": reason,
            "message": message,
            "type": kind,
            "reportingComponent": component,
            "reportingInstance": host if action is None else f"{component}-{host or 'emulator'}",
        }
        if action is None:
            event.update(
                source={"component": component, **({"host": host} if host else {})},
                firstTimestamp=stamp,
                lastTimestamp=stamp,
                count=1,
                eventTime=None,
            )
        else:
            event.update(source={}, firstTimestamp=None, lastTimestamp=None, eventTime=micro_now(), action=action)
        created = self.store.create(EVENTS, namespace, event)
        self._seen[key] = (namespace, created["metadata"]["name"])

    def _repeat(self, seen: tuple[str, str], series: bool) -> bool:
        current = self.store.find(EVENTS, *seen)
        if current is None:
            return False  # deleted since: a new one is written
        changed = copy.deepcopy(current)
        if series:
            count = (changed.get("series") or {}).get("count", 1) + 1
            changed["series"] = {"count": count, "lastObservedTime": micro_now()}
        else:
            changed["count"] = int(changed.get("count") or 1) + 1
            changed["lastTimestamp"] = now()
        try:
            self.store.update(EVENTS, seen[0], seen[1], changed)
        except ApiError:
            return False
        return True

    def _name(self, namespace: str, name: str) -> str:
        stamp = time.time_ns()
        while self.store.find(EVENTS, namespace, f"{name}.{stamp:x}") is not None:
            stamp += 1
        return f"{name}.{stamp:x}"

    def forget(self, uids: set[str]) -> None:
        """Drop the correlation of objects that are gone."""
        self._seen = {k: v for k, v in self._seen.items() if k[5] in uids}


_RENAMED = {  # events.k8s.io/v1 field -> v1 field
    "regarding": "involvedObject",
    "note": "message",
    "reportingController": "reportingComponent",
    "deprecatedSource": "source",
    "deprecatedFirstTimestamp": "firstTimestamp",
    "deprecatedLastTimestamp": "lastTimestamp",
    "deprecatedCount": "count",
}
_SHARED = ("metadata", "eventTime", "series", "related", "action", "reason", "reportingInstance", "type")


def to_events_v1(event: Obj) -> Obj:
    """The ``events.k8s.io/v1`` view of a stored ``v1`` Event."""
    view: Obj = {"apiVersion": "events.k8s.io/v1", "kind": "Event"}
    for field in _SHARED:
        if event.get(field) is not None:
            view[field] = copy.deepcopy(event[field])
    for new, old in _RENAMED.items():
        value = event.get(old)
        if value not in (None, {}, 0):
            view[new] = copy.deepcopy(value)
    view.setdefault("eventTime", None)
    return view


def from_events_v1(view: Any) -> Any:
    """A ``v1`` Event from an ``events.k8s.io/v1`` body (anything else is passed on, to be refused)."""
    if not isinstance(view, dict):
        return view
    if view.get("apiVersion") not in (None, "events.k8s.io/v1") or view.get("kind") not in (None, "Event"):
        raise ApiError(
            400,
            "BadRequest",
            f"the API version in the data ({view.get('apiVersion')}) does not match the expected API version "
            "(events.k8s.io/v1)",
        )
    event: Obj = {"apiVersion": "v1", "kind": "Event"}
    for field in _SHARED:
        if field in view:
            event[field] = copy.deepcopy(view[field])
    for new, old in _RENAMED.items():
        if new in view:
            event[old] = copy.deepcopy(view[new])
    return event
