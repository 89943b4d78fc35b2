"""Traffic through a Gateway API ``HTTPRoute``: the route's objects, and its weights read and written.

With ``traffic_router: gateway`` each color has a Service of its own (``<service>-blue``,
``<service>-green``, stable) and one HTTPRoute ``<service>`` (gateway.networking.k8s.io/v1)
sends requests to both through its rule's ``backendRefs``, by weight. The live color is the
route's annotation ``arxdeploy.io/live-color`` (a 50/50 split does not tell it), so a switch
(weights 100/0 and the annotation) and a weight change ((100 - w)/w) are each one write of one
object, guarded by its resourceVersion.

Weights, as kubernetes-sigs/gateway-api ``apis/v1/shared_types.go`` (``BackendRef.Weight``)
defines them: a backend's share is ``weight / sum of the rule's weights``; 0 sends it nothing;
unset means 1; at most 1000000, and at most 16 backendRefs per rule
(``httproute_types.go``). arxdeploy writes percentages (their sum is 100, or 0 when nothing is
live: the gateway then answers 500) and reads any weights back as percentages.
"""

from __future__ import annotations

import copy
from typing import Any

from arxdeploy.domain.states import Color
from arxdeploy.targets.kubernetes.manifests import (
    NO_COLOR,
    SERVICE_PORT,
    Manifest,
    service,
    shared_labels,
)
from arxdeploy.targets.kubernetes.spec import KubeSpec

GROUP = "gateway.networking.k8s.io"
API_VERSION = f"{GROUP}/v1"
LIVE_ANNOTATION = "arxdeploy.io/live-color"


def color_service_name(service_name: str, color: Color) -> str:
    return f"{service_name}-{color.value}"


def route_name(spec: KubeSpec) -> str:
    return spec.service


def color_services(spec: KubeSpec, environment: str) -> list[Manifest]:
    """One Service per color, selecting that color's pods: the route's backends."""
    return [
        service(spec, environment, name=color_service_name(spec.service, color), color=color)
        for color in (Color.BLUE, Color.GREEN)
    ]


def _parent_ref(spec: KubeSpec) -> dict[str, Any]:
    gateway = spec.gateway
    assert gateway is not None, "a route needs target.kubernetes.gateway"
    ref: dict[str, Any] = {"group": GROUP, "kind": "Gateway", "name": gateway.name}
    if gateway.namespace:
        ref["namespace"] = gateway.namespace
    if gateway.section_name:
        ref["sectionName"] = gateway.section_name
    return ref


def backend_refs(spec: KubeSpec, weights: dict[Color, int]) -> list[dict[str, Any]]:
    """Both colors' Services, in a fixed order, each with its weight (0 when absent)."""
    return [
        {
            "group": "",
            "kind": "Service",
            "name": color_service_name(spec.service, color),
            "port": SERVICE_PORT,
            "weight": int(weights.get(color, 0)),
        }
        for color in (Color.BLUE, Color.GREEN)
    ]


def http_route(spec: KubeSpec, environment: str, *, live: Color | None) -> Manifest:
    """The environment's HTTPRoute with all traffic on ``live`` (none when None)."""
    gateway = spec.gateway
    assert gateway is not None, "a route needs target.kubernetes.gateway"
    route_spec: dict[str, Any] = {
        "parentRefs": [_parent_ref(spec)],
        "rules": [
            {
                "matches": [{"path": {"type": "PathPrefix", "value": gateway.path}}],
                "backendRefs": backend_refs(spec, {live: 100} if live else {}),
            }
        ],
    }
    if gateway.hostnames:
        route_spec["hostnames"] = list(gateway.hostnames)
    return {
        "apiVersion": API_VERSION,
        "kind": "HTTPRoute",
        "metadata": {
            "name": route_name(spec),
            "namespace": spec.namespace_for(environment),
            "labels": shared_labels(spec, environment),
            "annotations": {LIVE_ANNOTATION: live.value if live else NO_COLOR},
        },
        "spec": route_spec,
    }


def _ours(spec: KubeSpec, ref: dict[str, Any]) -> Color | None:
    """The color whose Service ``ref`` names, if it is one of ours."""
    if ref.get("group", "") != "" or ref.get("kind", "Service") != "Service":
        return None
    for color in (Color.BLUE, Color.GREEN):
        if ref.get("name") == color_service_name(spec.service, color):
            return color
    return None


def live_color(route: Manifest | None) -> Color | None:
    if route is None:
        return None
    value = ((route.get("metadata") or {}).get("annotations") or {}).get(LIVE_ANNOTATION)
    return Color(value) if value in {c.value for c in Color} else None


def weights(spec: KubeSpec, route: Manifest | None) -> dict[Color, int]:
    """Each color's percent of the requests the route sends to our Services (colors taking none
    left out), over the first rule that names them. Percentages are rounded; they add up to 100."""
    if route is None:
        return {}
    for rule in (route.get("spec") or {}).get("rules") or []:
        found: dict[Color, int] = {}
        for ref in rule.get("backendRefs") or []:
            color = _ours(spec, ref)
            if color is not None:
                found[color] = found.get(color, 0) + int(ref.get("weight", 1))  # unset: 1 (the CRD's default)
        if not found:
            continue
        total = sum(found.values())
        if total <= 0:
            return {}
        shares = {color: round(100 * weight / total) for color, weight in found.items() if weight > 0}
        if len(shares) == 2:  # rounding both halves (e.g. 1/3 and 2/3) must still add up to 100
            first, second = sorted(shares, key=lambda c: c.value)
            shares[second] = 100 - shares[first]
        return shares
    return {}


def with_weights(spec: KubeSpec, route: Manifest, *, live: Color | None, split: dict[Color, int]) -> dict[str, Any]:
    """The merge patch that gives ``route`` these weights (percent per color) and live color: the
    rules with our backendRefs' weights replaced (everything else kept), the annotation set.
    A rule that names none of our Services gets them, so the route always reaches the colors."""
    rules = copy.deepcopy((route.get("spec") or {}).get("rules") or [])
    touched = False
    for rule in rules:
        for ref in rule.get("backendRefs") or []:
            color = _ours(spec, ref)
            if color is not None:
                ref["weight"] = int(split.get(color, 0))
                touched = True
    if not touched:
        gateway = spec.gateway
        path = gateway.path if gateway else "/"
        match = {"path": {"type": "PathPrefix", "value": path}}
        rules = [{"matches": [match], "backendRefs": backend_refs(spec, split)}]
    return {
        "metadata": {
            "resourceVersion": (route.get("metadata") or {}).get("resourceVersion"),
            "annotations": {LIVE_ANNOTATION: live.value if live else NO_COLOR},
        },
        "spec": {"rules": rules},
    }
