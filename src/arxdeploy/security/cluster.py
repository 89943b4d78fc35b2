"""What the cluster gates read from the Kubernetes target: its object reader, and the objects a
deployment of a version would apply (the candidate color's and the environment's shared ones).

The candidate is the color the live Service does not select (blue when nothing is live), as the
engine picks it; the objects are rendered from the target's spec, so from the snapshot's templates.
"""

from __future__ import annotations

from typing import Any

from arxdeploy.domain.states import Color
from arxdeploy.targets.kubernetes import manifests
from arxdeploy.targets.kubernetes.rest import Kind, Objects
from arxdeploy.targets.kubernetes.spec import KubeSpec

SERVICES = Kind("", "v1", "services", "Service")
Obj = dict[str, Any]


def reader(target: Any) -> Objects:
    """An object reader on the target's own connection (its kubeconfig, context, credentials)."""
    return Objects(lambda: target.connection.access)


def candidate(objects: Objects, spec: KubeSpec, environment: str) -> tuple[Color | None, Color]:
    """(live, candidate): the live Service's color, and the other one."""
    found = objects.find(SERVICES, spec.namespace_for(environment), spec.service)
    selected = ((found or {}).get("spec") or {}).get("selector") or {}
    live = Color(selected["color"]) if selected.get("color") in {c.value for c in Color} else None
    return live, live.other if live is not None else Color.BLUE


def rendered(spec: KubeSpec, environment: str, version: str, *, live: Color | None, color: Color) -> list[Obj]:
    """The objects a deployment of ``version`` as ``color`` applies: the color's, then the shared ones."""
    return [
        *manifests.color_objects(spec, environment, color, version),
        *manifests.shared_objects(spec, environment, live=live, candidate=color, version=version),
    ]


def candidate_objects(
    target: Any, environment: str, version: str, *, spec: KubeSpec | None = None
) -> tuple[Objects, list[Obj]]:
    """The target's reader (close it when done) and what deploying ``version`` would apply now
    (rendered from ``spec``, by default the target's)."""
    objects = reader(target)
    spec = spec or target.spec
    live, color = candidate(objects, spec, environment)
    return objects, rendered(spec, environment, version, live=live, color=color)
