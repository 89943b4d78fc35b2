"""Untyped (dict-based) lightkube resources for what we write and export.

The typed models reject an answer that misses a required field (e.g. an HPA's
``status.desiredReplicas``, left out by some servers right after creation) even though the
write itself succeeded. Applying and exporting only need the dict, so they use these.
"""

from __future__ import annotations

from typing import Any

from lightkube.generic_resource import GenericNamespacedResource, create_global_resource, create_namespaced_resource

KINDS: dict[str, Any] = {
    "Namespace": create_global_resource("", "v1", "Namespace", "namespaces"),
    "Deployment": create_namespaced_resource("apps", "v1", "Deployment", "deployments"),
    "Service": create_namespaced_resource("", "v1", "Service", "services"),
    "ConfigMap": create_namespaced_resource("", "v1", "ConfigMap", "configmaps"),
    "Secret": create_namespaced_resource("", "v1", "Secret", "secrets"),
    "HorizontalPodAutoscaler": create_namespaced_resource(
        "autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers"
    ),
    "NetworkPolicy": create_namespaced_resource("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies"),
    "PodDisruptionBudget": create_namespaced_resource("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets"),
    "HTTPRoute": create_namespaced_resource("gateway.networking.k8s.io", "v1", "HTTPRoute", "httproutes"),
}
# What a backup exports, in restore order.
BACKUP = ("ConfigMap", "Service", "NetworkPolicy", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget")
# With traffic_router: gateway, the route too (a cluster without the Gateway API's CRDs has no such list).
GATEWAY_BACKUP = (*BACKUP, "HTTPRoute")


def kind_of(name: str) -> Any:
    return KINDS[name]


def api_version(name: str) -> str:
    info = KINDS[name]._api_info.resource
    return f"{info.group}/{info.version}" if info.group else str(info.version)


def resource(obj: dict[str, Any]) -> GenericNamespacedResource:
    """``obj`` as an appliable resource of its kind; a kind from a template folder that we do not
    know yet is derived from its apiVersion (namespaced, regular English plural)."""
    kind = obj["kind"]
    if kind not in KINDS:
        group, _, version = obj["apiVersion"].rpartition("/")
        lower = kind.lower()
        # policy -> policies, but gateway -> gateways: a vowel before the y keeps it
        consonant_y = lower.endswith("y") and lower[-2:-1] not in ("a", "e", "i", "o", "u")
        plural = lower[:-1] + "ies" if consonant_y else lower + ("es" if lower.endswith("s") else "s")
        KINDS[kind] = create_namespaced_resource(group, version, kind, plural)
    made: GenericNamespacedResource = KINDS[kind](obj)
    return made
