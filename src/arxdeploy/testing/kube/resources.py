"""The API resources the emulator serves: what discovery lists and how each kind behaves."""

from __future__ import annotations

from dataclasses import dataclass

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    status: bool = False  # has a status subresource: main writes keep .status, /status writes keep the rest
    scale: bool = False
    generation: bool = False  # metadata.generation counts spec changes
    verbs: tuple[str, ...] = ALL_VERBS
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def qualified(self) -> str:
        """How Kubernetes names the resource in messages: ``deployments.apps``, ``pods``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def discovery(self) -> list[dict[str, object]]:
        entry: dict[str, object] = {
            "name": self.plural,
            "singularName": self.kind.lower(),
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": list(self.verbs),
        }
        if self.short_names:
            entry["shortNames"] = list(self.short_names)
        if self.categories:
            entry["categories"] = list(self.categories)
        entries = [entry]
        if self.status:
            entries.append(self._sub("status", self.kind, ["get", "patch", "update"]))
        if self.scale:
            scale = self._sub("scale", "Scale", ["get", "patch", "update"])
            entries.append({**scale, "group": "autoscaling", "version": "v1"})
        if self.plural == "services":
            entries.append(self._sub("proxy", "ServiceProxyOptions", ["create", "delete", "get", "patch", "update"]))
        return entries

    def _sub(self, name: str, kind: str, verbs: list[str]) -> dict[str, object]:
        return {
            "name": f"{self.plural}/{name}",
            "singularName": "",
            "namespaced": self.namespaced,
            "kind": kind,
            "verbs": verbs,
        }


_NO_COLLECTION_DELETE = ("create", "delete", "get", "list", "patch", "update", "watch")

RESOURCES: tuple[Resource, ...] = (
    Resource(
        "",
        "v1",
        "namespaces",
        "Namespace",
        namespaced=False,
        status=True,
        verbs=_NO_COLLECTION_DELETE,
        short_names=("ns",),
    ),
    Resource("", "v1", "pods", "Pod", status=True, short_names=("po",), categories=("all",)),
    Resource(
        "",
        "v1",
        "services",
        "Service",
        status=True,
        verbs=_NO_COLLECTION_DELETE,
        short_names=("svc",),
        categories=("all",),
    ),
    Resource("", "v1", "configmaps", "ConfigMap", short_names=("cm",)),
    Resource("", "v1", "secrets", "Secret"),
    Resource("", "v1", "events", "Event", short_names=("ev",)),
    # computed on read from Services and Pods (see endpoints.py), hence read-only
    Resource("", "v1", "endpoints", "Endpoints", verbs=("get", "list"), short_names=("ep",)),
    Resource(
        "apps",
        "v1",
        "deployments",
        "Deployment",
        status=True,
        scale=True,
        generation=True,
        short_names=("deploy",),
        categories=("all",),
    ),
    Resource(
        "apps",
        "v1",
        "replicasets",
        "ReplicaSet",
        status=True,
        scale=True,
        generation=True,
        short_names=("rs",),
        categories=("all",),
    ),
    Resource(
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        status=True,
        generation=True,
        short_names=("hpa",),
        categories=("all",),
    ),
    Resource("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", generation=True, short_names=("netpol",)),
    Resource(
        "policy",
        "v1",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        status=True,
        generation=True,
        short_names=("pdb",),
    ),
)

_BY_PATH = {(r.group, r.version, r.plural): r for r in RESOURCES}


def lookup(group: str, version: str, plural: str) -> Resource | None:
    return _BY_PATH.get((group, version, plural))


def by_name(name: str) -> Resource:
    """Find a resource by ``plural``, ``plural.group``, kind or short name (for the Python API)."""
    for resource in RESOURCES:
        if name in {resource.plural, resource.qualified, resource.kind, *resource.short_names}:
            return resource
    raise KeyError(f"the emulator does not serve {name!r}")


def groups() -> dict[str, list[str]]:
    """Group name -> its versions, in discovery order; the core group is ``""``."""
    found: dict[str, list[str]] = {}
    for resource in RESOURCES:
        versions = found.setdefault(resource.group, [])
        if resource.version not in versions:
            versions.append(resource.version)
    return found
