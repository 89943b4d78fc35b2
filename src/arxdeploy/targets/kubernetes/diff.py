"""``arxdeploy k8s diff``: what ``start_color`` would change for the next color, per object.

The next color is the one the live Service does not select (blue when nothing is live). For each
object ``start_color`` would apply (the color's Deployment and HPA, the shared objects, the
preview Service; the namespace and the live Service only when missing, as ``start_color`` does),
the live object is read from the cluster. A missing one is shown whole as ``+ new object``. An
existing one is compared with the server's answer to a dry-run server-side apply of the rendered
object (like ``kubectl diff``), so defaults the server fills in and fields arxdeploy no longer
sets show up as they would after a real apply. Both sides lose their server-set fields the way a
backup does (``backup.strip``) and are dumped as YAML with sorted keys.

With ``traffic_router: gateway`` the HTTPRoute takes the live Service's place: the live color is
its annotation, the colors' own Services are applied each time, and the route only when missing
(its weights are ``switch``'s and ``set_weight``'s alone).

The dry run needs the same RBAC permission as a deploy (patch); nothing is written. The color's
ConfigMaps show under their content-hashed names: a changed setting is a new object, as it will be.
"""

from __future__ import annotations

import difflib
from typing import Any

import yaml

from arxdeploy.domain.states import Color
from arxdeploy.targets.kubernetes import kinds, manifests, routing
from arxdeploy.targets.kubernetes.backup import strip
from arxdeploy.targets.kubernetes.client import FIELD_MANAGER
from arxdeploy.targets.kubernetes.errors import NOT_FOUND, calling, status_code
from arxdeploy.targets.kubernetes.target import KubernetesTarget, _with_replicas

NEW = "+ new object"
CHANGED = "~ changed"
UNCHANGED = "= unchanged"


def diff(target: KubernetesTarget, *, environment: str, version: str, replicas: int) -> str:
    """A unified diff, object by object, of what deploying ``version`` to the next color changes.

    Empty when nothing would change; otherwise every object gets a line (``+ new object``,
    ``~ changed`` followed by its diff, ``= unchanged``).
    """
    spec = target.spec
    spec.env(environment)  # NotFoundError for an unknown name, before any request
    manifests.check_version(version)  # UsageError for a version Kubernetes cannot carry, as well
    ns = spec.namespace_for(environment)
    live_name, preview = spec.service, manifests.preview_name(spec.service)
    by_route = spec.routes_by_gateway
    if by_route:
        route = _live(target, manifests.http_route(spec, environment, live=None))
        live_service = None
        live = routing.live_color(route)
    else:
        route = None
        live_service = _live(target, manifests.service(spec, environment, name=live_name, color=None))
        live = _selected(live_service)
    candidate = next_color(live)

    parts: list[str] = []
    if live_service is not None:
        parts.append(f"{UNCHANGED}: Service {live_name} (its selector is the switch's alone)")
    if route is not None:
        parts.append(f"{UNCHANGED}: HTTPRoute {manifests.route_name(spec)} (its weights are the switch's alone)")
    wanted: list[dict[str, Any]] = []
    if _live(target, manifests.namespace_object(spec, environment)) is None:
        wanted.append(manifests.namespace_object(spec, environment))
    own = manifests.color_objects(spec, environment, candidate, version)
    count = target.starting_size(ns, own, color=candidate, version=version, floor=replicas, live=live)
    wanted += [_with_replicas(o, count, floor=replicas) for o in own]
    for obj in manifests.shared_objects(spec, environment, live=live, candidate=candidate, version=version):
        if obj["kind"] == "Service" and obj["metadata"]["name"] in (live_name, preview):
            continue  # ours, below, as start_color does
        wanted.append(obj)
    if by_route:
        wanted += manifests.color_services(spec, environment)
        if route is None:
            wanted.append(manifests.http_route(spec, environment, live=None))
    elif live_service is None:
        wanted.append(manifests.service(spec, environment, name=live_name, color=None))
    wanted.append(manifests.service(spec, environment, name=preview, color=candidate))

    changes = 0
    for obj in wanted:
        title, path = f"{obj['kind']} {obj['metadata']['name']}", f"{obj['kind']}/{obj['metadata']['name']}"
        current = _live(target, obj)
        if current is None:
            changes += 1
            parts.append(f"{NEW}: {title}")
            parts += _unified([], _lines(obj), f"/dev/null ({ns})", f"new/{path}")
            continue
        before, after = _lines(strip(current)), _lines(strip(_dry_run(target, obj)))
        if before == after:
            parts.append(f"{UNCHANGED}: {title}")
            continue
        changes += 1
        parts.append(f"{CHANGED}: {title}")
        parts += _unified(before, after, f"live/{path}", f"new/{path}")
    return "\n".join(parts) + "\n" if changes else ""


def next_color(live: Color | None) -> Color:
    """The color a deployment goes to: the one not live; blue when nothing is."""
    if live is None:
        return Color.BLUE
    return Color.GREEN if live is Color.BLUE else Color.BLUE


def _selected(service: dict[str, Any] | None) -> Color | None:
    value = ((service or {}).get("spec") or {}).get("selector", {}).get("color")
    return Color(value) if value in {c.value for c in Color} else None


def _kind(obj: dict[str, Any]) -> Any:
    kinds.resource(obj)  # registers a kind from a template folder that we do not know yet
    return kinds.kind_of(obj["kind"])


def _live(target: KubernetesTarget, obj: dict[str, Any]) -> dict[str, Any] | None:
    """The cluster's object of ``obj``'s kind and name, as a dict; None when it does not exist."""
    name = obj["metadata"]["name"]
    namespace = obj["metadata"].get("namespace")
    kind = _kind(obj)
    client = target.connection.client
    try:
        found = client.get(kind, name, namespace=namespace) if namespace else client.get(kind, name)
    except Exception as exc:
        if status_code(exc) == NOT_FOUND:
            return None
        with calling("get", f"{obj['kind']} {name}" + (f" in namespace {namespace}" if namespace else "")):
            raise
    out: dict[str, Any] = found.to_dict()
    out.setdefault("apiVersion", obj["apiVersion"])
    out.setdefault("kind", obj["kind"])
    return out


def _dry_run(target: KubernetesTarget, obj: dict[str, Any]) -> dict[str, Any]:
    """What the server would store after ``start_color``'s apply of ``obj``; nothing is written."""
    what = f"{obj['kind']} {obj['metadata']['name']} (dry run)"
    with calling("apply", what):
        result: Any = target.connection.client.apply(
            kinds.resource(obj), field_manager=FIELD_MANAGER, force=True, dry_run=True
        )
    out: dict[str, Any] = result.to_dict()
    out.setdefault("apiVersion", obj["apiVersion"])
    out.setdefault("kind", obj["kind"])
    return out


class _Dumper(yaml.SafeDumper):
    """Spells every value out: no ``&id001`` anchors for dicts shared inside a rendered object."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _lines(obj: dict[str, Any]) -> list[str]:
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=True, default_flow_style=False).splitlines()


def _unified(before: list[str], after: list[str], old: str, new: str) -> list[str]:
    return list(difflib.unified_diff(before, after, fromfile=old, tofile=new, lineterm=""))
