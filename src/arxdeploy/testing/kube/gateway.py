"""A Gateway API implementation for the emulator: the status a gateway controller writes to
Gateways and HTTPRoutes (the data plane that honours them is ``frontdoor.py``).

Behaviour follows kubernetes-sigs/gateway-api ``apis/v1``: a route is attached to a parentRef
that names an existing Gateway (a ``sectionName`` must name one of its listeners, whose
``allowedRoutes`` admit the route's namespace); the controller then writes ``status.parents[]``
with ``Accepted`` and ``ResolvedRefs`` (reasons ``Accepted``, ``NoMatchingParent``,
``NotAllowedByListeners``; ``ResolvedRefs``, ``BackendNotFound``, ``InvalidKind``,
``RefNotPermitted``) and nothing for a parent no controller owns. Gateways of any class are
accepted and programmed at once, with the front door's address.
"""

from __future__ import annotations

from typing import Any

from arxdeploy.testing.kube.gateway_schema import GROUP
from arxdeploy.testing.kube.resources import by_name
from arxdeploy.testing.kube.semantics import now
from arxdeploy.testing.kube.store import Obj, Store

GATEWAYS, ROUTES, SERVICES = by_name("gateways"), by_name("httproutes"), by_name("services")
CONTROLLER_NAME = "arxdeploy.io/emulator-gateway"
ADDRESS = "127.0.0.1"


# --- status (the controller) -------------------------------------------------------------------


def _condition(kind: str, ok: bool, reason: str, message: str, generation: int, old: list[Any]) -> dict[str, Any]:
    status = "True" if ok else "False"
    before = next((c for c in old if isinstance(c, dict) and c.get("type") == kind), None)
    keep = before is not None and before.get("status") == status
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
        "lastTransitionTime": before["lastTransitionTime"] if keep and before else now(),
    }


def _parent_key(ref: dict[str, Any], namespace: str) -> tuple[str, str, str]:
    return (str(ref.get("namespace") or namespace), str(ref.get("name")), str(ref.get("sectionName") or ""))


def _attachment(store: Store, route: Obj, ref: dict[str, Any]) -> tuple[Obj, bool, str, str] | None:
    """The Gateway ``ref`` names, whether it admits ``route``, why; None when it does not exist."""
    if ref.get("group", GROUP) != GROUP or ref.get("kind", "Gateway") != "Gateway":
        return None
    namespace = route["metadata"]["namespace"]
    gateway = store.find(GATEWAYS, str(ref.get("namespace") or namespace), str(ref.get("name")))
    if gateway is None:
        return None
    listeners = [x for x in (gateway.get("spec") or {}).get("listeners") or [] if isinstance(x, dict)]
    section = ref.get("sectionName")
    if section is not None:
        listeners = [x for x in listeners if x.get("name") == section]
        if not listeners:
            return gateway, False, "NoMatchingParent", f"no listener named {section!r} on the Gateway"
    same = gateway["metadata"]["namespace"] == namespace
    admitted = [
        x for x in listeners if ((x.get("allowedRoutes") or {}).get("namespaces") or {}).get("from", "Same") == "All"
    ] + [
        x
        for x in listeners
        if same and ((x.get("allowedRoutes") or {}).get("namespaces") or {}).get("from", "Same") == "Same"
    ]
    if not admitted:
        return gateway, False, "NotAllowedByListeners", "no listener admits routes from this namespace"
    return gateway, True, "Accepted", "Route is accepted"


def _refs_problem(store: Store, route: Obj) -> tuple[str, str] | None:
    namespace = route["metadata"]["namespace"]
    for rule in (route.get("spec") or {}).get("rules") or []:
        for ref in rule.get("backendRefs") or []:
            if ref.get("group", "") != "" or ref.get("kind", "Service") != "Service":
                return "InvalidKind", f"{ref.get('group')}/{ref.get('kind')} is not a supported backend kind"
            if ref.get("namespace", namespace) != namespace:
                return "RefNotPermitted", f"a reference to namespace {ref['namespace']} needs a ReferenceGrant"
            if store.find(SERVICES, namespace, str(ref.get("name"))) is None:
                return "BackendNotFound", f"Service {namespace}/{ref.get('name')} not found"
    return None


def route_status(store: Store, route: Obj) -> dict[str, Any]:
    """``status.parents`` as this controller writes it (entries of other controllers kept)."""
    namespace = route["metadata"]["namespace"]
    generation = int(route["metadata"].get("generation", 1))
    old = (route.get("status") or {}).get("parents") or []
    mine = {
        _parent_key(p.get("parentRef") or {}, namespace): p
        for p in old
        if isinstance(p, dict) and p.get("controllerName") == CONTROLLER_NAME
    }
    parents = [p for p in old if isinstance(p, dict) and p.get("controllerName") != CONTROLLER_NAME]
    problem = _refs_problem(store, route)
    for ref in (route.get("spec") or {}).get("parentRefs") or []:
        found = _attachment(store, route, ref)
        if found is None:
            continue
        _, ok, reason, message = found
        before = (mine.get(_parent_key(ref, namespace)) or {}).get("conditions") or []
        resolved = _condition(
            "ResolvedRefs",
            problem is None,
            problem[0] if problem else "ResolvedRefs",
            problem[1] if problem else "All references are resolved",
            generation,
            before,
        )
        accepted = _condition("Accepted", ok, reason, message, generation, before)
        parents.append({"parentRef": ref, "controllerName": CONTROLLER_NAME, "conditions": [accepted, resolved]})
    status = dict(route.get("status") or {})
    if parents:
        status["parents"] = parents
    else:  # nothing to say: no write (a route no controller owns keeps an empty status)
        status.pop("parents", None)
    return status


def gateway_status(store: Store, gateway: Obj) -> dict[str, Any]:
    """Accepted and Programmed, the front door's address, and each listener's attached routes."""
    generation = int(gateway["metadata"].get("generation", 1))
    old = gateway.get("status") or {}
    attached: dict[str, int] = {}
    for route in store.iter_objects(ROUTES):
        for ref in (route.get("spec") or {}).get("parentRefs") or []:
            found = _attachment(store, route, ref)
            if found is None or found[0]["metadata"]["uid"] != gateway["metadata"]["uid"] or not found[1]:
                continue
            for listener in (gateway.get("spec") or {}).get("listeners") or []:
                if ref.get("sectionName") in (None, listener.get("name")):
                    attached[listener.get("name")] = attached.get(listener.get("name"), 0) + 1
    old_listeners = {x.get("name"): x for x in old.get("listeners") or [] if isinstance(x, dict)}
    listeners = []
    for listener in (gateway.get("spec") or {}).get("listeners") or []:
        name = listener.get("name")
        before = (old_listeners.get(name) or {}).get("conditions") or []
        listeners.append(
            {
                "name": name,
                "attachedRoutes": attached.get(name, 0),
                "supportedKinds": [{"group": GROUP, "kind": "HTTPRoute"}],
                "conditions": [
                    _condition(kind, True, kind, f"Listener is {kind.lower()}", generation, before)
                    for kind in ("Accepted", "Programmed", "ResolvedRefs")
                ],
            }
        )
    before = old.get("conditions") or []
    return {
        "addresses": [{"type": "IPAddress", "value": ADDRESS}],
        "conditions": [
            _condition("Accepted", True, "Accepted", "Gateway is accepted", generation, before),
            _condition("Programmed", True, "Programmed", "Gateway is programmed", generation, before),
        ],
        "listeners": listeners,
    }


def accepted_by(route: Obj, namespace: str, name: str) -> bool:
    """Whether this controller has accepted ``route`` for the Gateway ``namespace/name``."""
    own = route["metadata"]["namespace"]
    for parent in (route.get("status") or {}).get("parents") or []:
        ref = parent.get("parentRef") or {}
        if parent.get("controllerName") != CONTROLLER_NAME or ref.get("kind", "Gateway") != "Gateway":
            continue
        if (ref.get("namespace") or own, ref.get("name")) != (namespace, name):
            continue
        if any(c.get("type") == "Accepted" and c.get("status") == "True" for c in parent.get("conditions") or []):
            return True
    return False
