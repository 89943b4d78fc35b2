"""The object store: every write bumps one global resourceVersion and is recorded for watchers.

Methods are synchronous and must be called with :attr:`Store.lock` held (the HTTP routes and the
controller both do), so concurrent requests are applied one at a time and never lose an update.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from arxdeploy.testing.kube import semantics
from arxdeploy.testing.kube.errors import ApiError, already_exists, bad_request, conflict, not_found
from arxdeploy.testing.kube.patch import PatchError, apply_patch, json_patch, merge_patch, strategic_merge
from arxdeploy.testing.kube.resources import RESOURCES, Resource, by_name
from arxdeploy.testing.kube.selectors import FieldSelector, LabelSelector
from arxdeploy.testing.kube.watch import Change, Watcher

Obj = dict[str, Any]
_NAMESPACES = by_name("namespaces")
PATCH_TYPES = (
    "application/merge-patch+json",
    "application/json-patch+json",
    "application/strategic-merge-patch+json",
    "application/apply-patch+yaml",
)


class Store:
    def __init__(self, history_limit: int = 10_000) -> None:
        self.lock = asyncio.Lock()
        self.resource_version = 1
        self._objects: dict[Resource, dict[tuple[str, str], Obj]] = {r: {} for r in RESOURCES}
        self._history: deque[Change] = deque(maxlen=history_limit)
        self._compacted = 0  # the newest resourceVersion no longer in the history
        self._watchers: set[Watcher] = set()
        self.listeners: list[Callable[[Change], None]] = []
        self._dry_run = False

    @contextlib.contextmanager
    def dry_run(self, enabled: bool = True) -> Iterator[None]:
        """``?dryRun=All``: validate and compute the result, store and announce nothing."""
        self._dry_run = enabled
        try:
            yield
        finally:
            self._dry_run = False

    # reads

    def get(self, resource: Resource, namespace: str | None, name: str) -> Obj:
        found = self._objects[resource].get((namespace or "", name))
        if found is None:
            raise not_found(resource, name)
        return copy.deepcopy(found)

    def find(self, resource: Resource, namespace: str | None, name: str) -> Obj | None:
        found = self._objects[resource].get((namespace or "", name))
        return None if found is None else copy.deepcopy(found)

    def select(
        self,
        resource: Resource,
        namespace: str | None = None,
        labels: LabelSelector | None = None,
        fields: FieldSelector | None = None,
        *,
        metadata_only: bool = False,
    ) -> list[Obj]:
        """Matching objects in key order (namespace, name), as etcd lists them; with
        ``metadata_only``, copies of their ``metadata`` alone, in ``{"metadata": ...}``."""
        items = []
        for (ns, _), obj in sorted(self._objects[resource].items()):
            if namespace is not None and ns != namespace:
                continue
            if labels is not None and not labels.matches(obj["metadata"].get("labels")):
                continue
            if fields is not None and not fields.matches(obj):
                continue
            items.append({"metadata": copy.deepcopy(obj["metadata"])} if metadata_only else copy.deepcopy(obj))
        return items

    def iter_objects(self, resource: Resource) -> Iterator[Obj]:
        """Live references for the controller's reads; never mutate them."""
        return iter(list(self._objects[resource].values()))

    # writes

    def create(self, resource: Resource, namespace: str | None, body: Any) -> Obj:
        obj = semantics.prepare_create(resource, semantics.check_type(resource, copy.deepcopy(body)), namespace)
        if namespace is not None and ("", namespace) not in self._objects[_NAMESPACES]:
            raise not_found(_NAMESPACES, namespace)
        key = (namespace or "", obj["metadata"]["name"])
        if key in self._objects[resource]:
            raise already_exists(resource, key[1])
        return self._commit("ADDED", resource, obj, None)

    def update(self, resource: Resource, namespace: str | None, name: str, body: Any, subresource: str = "") -> Obj:
        old = self.get(resource, namespace, name)
        new = semantics.check_type(resource, copy.deepcopy(body))
        meta = new["metadata"]
        if meta.get("name", name) != name:
            raise bad_request("the name of the object does not match the name on the URL")
        if meta.get("namespace") not in (None, "", namespace or ""):
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        wanted = meta.get("resourceVersion")
        if wanted not in (None, "") and str(wanted) != old["metadata"]["resourceVersion"]:
            raise conflict(resource, name)
        new = semantics.prepare_update(resource, old, new, subresource)
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        if new == old:  # a no-op write changes nothing, not even the resourceVersion
            return old
        return self._commit("MODIFIED", resource, new, old)

    def patch(
        self, resource: Resource, namespace: str | None, name: str, content_type: str, patch: Any, subresource: str = ""
    ) -> Obj:
        current = self.find(resource, namespace, name)
        if current is None:
            if content_type == "application/apply-patch+yaml" and not subresource:
                created = apply_patch(None, semantics.check_type(resource, patch))
                created.setdefault("metadata", {}).setdefault("name", name)
                return self.create(resource, namespace, created)
            raise not_found(resource, name)
        try:
            if content_type == "application/merge-patch+json":
                patched = merge_patch(current, patch)
            elif content_type == "application/json-patch+json":
                patched = json_patch(current, patch)
            elif content_type == "application/strategic-merge-patch+json":
                patched = strategic_merge(current, patch)
            else:
                patched = apply_patch(current, semantics.check_type(resource, patch))
        except PatchError as error:
            raise ApiError(422, "Invalid", str(error)) from error
        if not isinstance(patched, dict):
            raise ApiError(422, "Invalid", "the patch did not produce an object")
        return self.update(resource, namespace, name, patched, subresource)

    def delete(self, resource: Resource, namespace: str | None, name: str, options: Obj | None = None) -> Obj:
        options = options or {}
        current = self.get(resource, namespace, name)
        preconditions = options.get("preconditions") or {}
        for field in ("uid", "resourceVersion"):
            if preconditions.get(field) not in (None, current["metadata"].get(field)):
                raise conflict(resource, name)
        if options.get("propagationPolicy") != "Orphan" and not options.get("orphanDependents"):
            self._delete_dependents(current)
        if resource is _NAMESPACES:
            for other in RESOURCES:
                if other.namespaced:
                    for obj in self.select(other, name):
                        self._remove(other, obj)
        return self._remove(resource, current)

    def delete_collection(
        self, resource: Resource, namespace: str | None, labels: LabelSelector, fields: FieldSelector
    ) -> list[Obj]:
        return [
            self.delete(resource, namespace, obj["metadata"]["name"])
            for obj in self.select(resource, namespace, labels, fields)
        ]

    def _delete_dependents(self, owner: Obj) -> None:
        """Cascade along ownerReferences, as the garbage collector does (here at once)."""
        uid = owner["metadata"]["uid"]
        for resource in RESOURCES:
            for obj in self.select(resource, owner["metadata"].get("namespace")):
                if any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or []):
                    self._delete_dependents(obj)
                    self._remove(resource, obj)

    def _remove(self, resource: Resource, obj: Obj) -> Obj:
        meta = obj["metadata"]
        if not self._dry_run:
            self._objects[resource].pop((meta.get("namespace", ""), meta["name"]), None)
        return self._commit("DELETED", resource, obj, None, store=False)

    def _commit(self, kind: str, resource: Resource, obj: Obj, old: Obj | None, *, store: bool = True) -> Obj:
        if self._dry_run:
            return copy.deepcopy(obj)
        self.resource_version += 1
        obj["metadata"]["resourceVersion"] = str(self.resource_version)
        if store:
            meta = obj["metadata"]
            self._objects[resource][(meta.get("namespace", ""), meta["name"])] = obj
        change = Change(self.resource_version, kind, resource, copy.deepcopy(obj), old)
        if len(self._history) == self._history.maxlen:
            self._compacted = self._history[0].resource_version
        self._history.append(change)
        for watcher in list(self._watchers):
            watcher.offer(change)
        for listener in self.listeners:
            listener(change)
        return copy.deepcopy(obj)

    # watch

    def watch(
        self,
        resource: Resource,
        namespace: str | None,
        labels: LabelSelector,
        fields: FieldSelector,
        resource_version: str | None,
    ) -> Watcher:
        """Replay from the history after ``resource_version`` (or the current state if unset or
        ``"0"``), then follow live; done without awaiting, so nothing slips in between."""
        watcher = Watcher(resource, namespace, labels, fields)
        if resource_version in (None, "", "0"):
            for obj in self.select(resource, namespace, labels, fields):
                watcher.queue.put_nowait({"type": "ADDED", "object": obj})
        else:
            try:
                since = int(str(resource_version))
            except ValueError:
                raise bad_request(f"invalid resourceVersion {resource_version!r}") from None
            if since < self._compacted:
                watcher.expired(since, self._compacted + 1)
                return watcher
            for change in self._history:
                if change.resource_version > since:
                    watcher.offer(change)
        self._watchers.add(watcher)
        return watcher

    def unwatch(self, watcher: Watcher) -> None:
        self._watchers.discard(watcher)

    def close_watchers(self) -> None:
        for watcher in list(self._watchers):
            watcher.close()
        self._watchers.clear()
