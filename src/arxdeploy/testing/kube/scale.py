"""The ``scale`` subresource (``autoscaling/v1`` ``Scale``) of Deployments and ReplicaSets.

Clients (``kubectl scale``) and the HPA controller both read and write replicas through it.
"""

from __future__ import annotations

import copy
from typing import Any

from arxdeploy.testing.kube.resources import Resource
from arxdeploy.testing.kube.selectors import from_label_selector_object, to_string
from arxdeploy.testing.kube.store import Obj, Store


def of(obj: Obj) -> dict[str, Any]:
    """The ``Scale`` of a Deployment or ReplicaSet."""
    meta = obj["metadata"]
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in meta
        },
        "spec": {"replicas": obj["spec"].get("replicas", 1)},
        "status": {
            "replicas": (obj.get("status") or {}).get("replicas", 0),
            "selector": to_string(from_label_selector_object(obj["spec"].get("selector"))),
        },
    }


def write(
    store: Store, resource: Resource, namespace: str | None, name: str, replicas: int, resource_version: str | None
) -> dict[str, Any]:
    """Set ``spec.replicas``; a stale ``resource_version`` is a 409, as an update of the object is."""
    current = store.get(resource, namespace, name)
    changed = copy.deepcopy(current)
    changed["metadata"]["resourceVersion"] = resource_version or current["metadata"]["resourceVersion"]
    changed["spec"]["replicas"] = replicas
    return of(store.update(resource, namespace, name, changed))
