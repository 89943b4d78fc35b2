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
    fields: tuple[str, ...] = ()  # field selector labels beyond metadata.name (and metadata.namespace)
    view_of: str = ""  # stored as another resource (plural) and converted on the way (events.k8s.io)
    stored: bool = True  # False: answered on the fly, never kept (selfsubjectreviews)
    custom: bool = False  # a CRD's on a real cluster: no strategic merge patch

    @property
    def field_labels(self) -> frozenset[str]:
        """What a field selector may name, as the kind's field label conversion allows."""
        own = {"metadata.name", "metadata.namespace"} if self.namespaced else {"metadata.name"}
        return frozenset(own | set(self.fields))

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
        proxy_verbs = ["create", "delete", "get", "patch", "update"]
        if self.plural == "services":
            entries.append(self._sub("proxy", "ServiceProxyOptions", proxy_verbs))
        if self.plural == "pods":
            entries.append(self._sub("proxy", "PodProxyOptions", proxy_verbs))
            entries.append(self._sub("log", "Pod", ["get"]))
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

_EVENT_FIELDS = tuple(
    [f"involvedObject.{f}" for f in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")]
    + ["reason", "reportingComponent", "source", "type"]
)
_POD_FIELDS = (
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.nominatedNodeName",
)

# field labels per kind: pkg/apis/core/v1/conversion.go (AddFieldLabelConversionsFor*) and
# pkg/apis/apps/v1/conversion.go; every other kind knows metadata.name and metadata.namespace only
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
        fields=("status.phase",),
    ),
    Resource(
        "", "v1", "nodes", "Node", namespaced=False, status=True, short_names=("no",), fields=("spec.unschedulable",)
    ),
    Resource("", "v1", "pods", "Pod", status=True, short_names=("po",), categories=("all",), fields=_POD_FIELDS),
    Resource(
        "",
        "v1",
        "services",
        "Service",
        status=True,
        verbs=_NO_COLLECTION_DELETE,
        short_names=("svc",),
        categories=("all",),
        fields=("spec.clusterIP", "spec.type"),
    ),
    Resource("", "v1", "configmaps", "ConfigMap", short_names=("cm",)),
    Resource("", "v1", "secrets", "Secret", fields=("type",)),
    Resource("", "v1", "events", "Event", short_names=("ev",), fields=_EVENT_FIELDS),
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
        fields=("status.replicas",),
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
    Resource("coordination.k8s.io", "v1", "leases", "Lease"),
    # the same objects as v1 events, converted (events.py)
    Resource("events.k8s.io", "v1", "events", "Event", short_names=("ev",), view_of="events", fields=_EVENT_FIELDS),
    # kubectl auth whoami: answered with the caller's user, never stored
    Resource(
        "authentication.k8s.io",
        "v1",
        "selfsubjectreviews",
        "SelfSubjectReview",
        namespaced=False,
        verbs=("create",),
        stored=False,
    ),
    # Gateway API (standard channel, v1): CRDs on a real cluster, served here as built-ins (gateway.py)
    Resource(
        "gateway.networking.k8s.io",
        "v1",
        "gateways",
        "Gateway",
        status=True,
        generation=True,
        short_names=("gtw",),
        categories=("gateway-api",),
        custom=True,
    ),
    Resource(
        "gateway.networking.k8s.io",
        "v1",
        "httproutes",
        "HTTPRoute",
        status=True,
        generation=True,
        categories=("gateway-api",),
        custom=True,
    ),
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
    """Find a resource by ``plural``, ``plural.group``, kind or short name (for the Python API).

    Resources served as views of others (``events.events.k8s.io``) answer to their qualified name only.
    """
    for resource in RESOURCES:
        if resource.view_of and name != resource.qualified:
            continue
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
