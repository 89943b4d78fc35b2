"""Traffic through a Gateway API ``HTTPRoute``: its live color and weights, read and written
(``manifests.http_route`` and ``manifests.color_services`` render the objects).

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
    LIVE_ANNOTATION,
    NO_COLOR,
    Manifest,
    backend_refs,
    color_service_name,
)
from arxdeploy.targets.kubernetes.spec import KubeSpec


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


def refused_by_gateway(spec: KubeSpec, route: Manifest | None) -> str | None:
    """Why the route's Gateway refused it (a ``status.parents[]`` entry for our parentRef whose
    ``Accepted`` condition is ``False``: its reason and message), or None. A route without status
    (no controller has seen it yet) is not refused: that cannot be told from a slow controller."""
    gateway = spec.gateway
    if route is None or gateway is None:
        return None
    own_namespace = (route.get("metadata") or {}).get("namespace")
    for parent in (route.get("status") or {}).get("parents") or []:
        ref = parent.get("parentRef") or {}
        if ref.get("name") != gateway.name or (ref.get("namespace") or own_namespace) != (
            gateway.namespace or own_namespace
        ):
            continue
        for condition in parent.get("conditions") or []:
            if condition.get("type") == "Accepted" and condition.get("status") == "False":
                return f"{condition.get('reason')}: {condition.get('message')}"
    return None
