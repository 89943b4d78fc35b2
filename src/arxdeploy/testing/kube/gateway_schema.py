"""Gateway API ``Gateway`` and ``HTTPRoute`` (gateway.networking.k8s.io/v1): the defaults and the
checks their CRDs' schemas make, as the API server applies them to custom resources.

From kubernetes-sigs/gateway-api ``apis/v1/httproute_types.go``, ``shared_types.go``,
``object_reference_types.go`` and ``gateway_types.go`` (standard channel): the kubebuilder markers
are the OpenAPI schema (``+kubebuilder:default``, ``Minimum``, ``MaxItems``, ``Pattern``, ``Enum``)
and the CEL rules (``XValidation``). Messages are those of the apiextensions validator
(k8s.io/kube-openapi ``validate``: ``<path> in body should be less than or equal to 1000000``;
``Too many: 17: must have at most 16 items``; a CEL rule's ``message`` on ``Invalid value:
"object"``). Only what arxdeploy's routes use is checked in depth: parentRefs, hostnames, rules'
matches (path, headers, method) and backendRefs (weight 0..1000000, at most 16, a Service needs
a port); filters and the rest are stored as given.
"""

from __future__ import annotations

import re
from typing import Any

from arxdeploy.testing.kube.errors import FieldError, GoLiteral

GROUP = "gateway.networking.k8s.io"
MAX_WEIGHT = 1_000_000  # BackendRef.Weight: Minimum=0, Maximum=1000000
MAX_BACKEND_REFS = 16  # HTTPRouteRule.BackendRefs: MaxItems=16
MAX_RULES = 16
MAX_HOSTNAMES = 16
MAX_PARENT_REFS = 32  # CommonRouteSpec.ParentRefs
MAX_MATCHES = 64
MAX_LISTENERS = 64

HOSTNAME = r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
GROUP_PATTERN = r"^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
KIND_PATTERN = r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$"
NAMESPACE_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
SECTION_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
PATH_CHARACTERS = r"^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$"
PATH_TYPES = ("Exact", "PathPrefix", "RegularExpression")
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")
LISTENER_PROTOCOLS = ("HTTP", "HTTPS", "TLS", "TCP", "UDP")


# --- defaults (structural schema defaulting: on create, update and read) ----------------------


def route_defaults(obj: dict[str, Any]) -> None:
    """``+kubebuilder:default`` of an HTTPRoute: one rule matching every path, ``PathPrefix /``;
    backendRefs a ``Service`` of the core group with weight 1; parentRefs a ``Gateway``."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    for ref in spec.get("parentRefs") or []:
        if isinstance(ref, dict):
            ref.setdefault("group", GROUP)
            ref.setdefault("kind", "Gateway")
    spec.setdefault("rules", [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}]}])
    for rule in spec.get("rules") or []:
        if not isinstance(rule, dict):
            continue
        rule.setdefault("matches", [{"path": {"type": "PathPrefix", "value": "/"}}])
        for match in rule.get("matches") or []:
            if not isinstance(match, dict):
                continue
            path = match.setdefault("path", {"type": "PathPrefix", "value": "/"})
            if isinstance(path, dict):
                path.setdefault("type", "PathPrefix")
                path.setdefault("value", "/")
            for key in ("headers", "queryParams"):
                for item in match.get(key) or []:
                    if isinstance(item, dict):
                        item.setdefault("type", "Exact")
        for ref in rule.get("backendRefs") or []:
            if isinstance(ref, dict):
                ref.setdefault("group", "")
                ref.setdefault("kind", "Service")
                ref.setdefault("weight", 1)


def gateway_defaults(obj: dict[str, Any]) -> None:
    """A Gateway's listeners admit routes from their own namespace (``allowedRoutes`` default)."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    for listener in spec.get("listeners") or []:
        if isinstance(listener, dict):
            listener.setdefault("allowedRoutes", {"namespaces": {"from": "Same"}})


# --- validation ---------------------------------------------------------------------------------


class _Check:
    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def required(self, field: str) -> None:
        self.errors.append(FieldError("FieldValueRequired", field))

    def invalid(self, field: str, value: Any, detail: str) -> None:
        self.errors.append(FieldError("FieldValueInvalid", field, value, detail))

    def too_many(self, field: str, items: list[Any], most: int) -> bool:
        if len(items) > most:
            self.errors.append(FieldError("FieldValueTooMany", field, len(items), f"must have at most {most} items"))
            return True
        return False

    def enum(self, field: str, value: Any, allowed: tuple[str, ...]) -> None:
        if value not in allowed:
            detail = "supported values: " + ", ".join(f'"{v}"' for v in allowed)
            self.errors.append(FieldError("FieldValueNotSupported", field, value, detail))

    def string(self, field: str, value: Any, *, pattern: str | None = None, least: int = 0, most: int = 0) -> None:
        if not isinstance(value, str):
            self.invalid(field, _type_name(value), f"{field} in body must be of type string: {_type_name(value)!r}")
            return
        if least and len(value) < least:
            self.invalid(field, value, f"{field} in body should be at least {least} chars long")
        if most and len(value) > most:
            self.errors.append(FieldError("FieldValueTooLong", field, None, f"may not be more than {most} bytes"))
        if pattern is not None and not re.search(pattern, value):
            self.invalid(field, value, f"{field} in body should match '{pattern}'")

    def integer(self, field: str, value: Any, *, least: int, most: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.invalid(field, _type_name(value), f"{field} in body must be of type integer: {_type_name(value)!r}")
            return
        if value < least:
            self.invalid(field, value, f"{field} in body should be greater than or equal to {least}")
        if value > most:
            self.invalid(field, value, f"{field} in body should be less than or equal to {most}")

    def array(self, field: str, value: Any) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.invalid(field, _type_name(value), f"{field} in body must be of type array: {_type_name(value)!r}")
            return []
        return value


def _type_name(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "integer", float: "number"}.get(
        type(value), "null"
    )


def validate_route(obj: dict[str, Any]) -> list[FieldError]:
    check = _Check()
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        check.required("spec")
        return check.errors
    parents = check.array("spec.parentRefs", spec.get("parentRefs"))
    check.too_many("spec.parentRefs", parents, MAX_PARENT_REFS)
    for i, ref in enumerate(parents):
        _parent_ref(check, f"spec.parentRefs[{i}]", ref)
    hostnames = check.array("spec.hostnames", spec.get("hostnames"))
    check.too_many("spec.hostnames", hostnames, MAX_HOSTNAMES)
    for i, host in enumerate(hostnames):
        check.string(f"spec.hostnames[{i}]", host, pattern=HOSTNAME, least=1, most=253)
    rules = check.array("spec.rules", spec.get("rules"))
    if not rules:
        check.invalid("spec.rules", len(rules), "spec.rules in body should have at least 1 items")
    check.too_many("spec.rules", rules, MAX_RULES)
    for i, rule in enumerate(rules):
        _rule(check, f"spec.rules[{i}]", rule)
    return check.errors


def _reference(check: _Check, where: str, ref: Any, *, group: str, kind: str) -> dict[str, Any] | None:
    """The fields every Gateway API reference has (name, group, kind, namespace), with the
    defaults of its type; the reference, or None when it is not an object."""
    if not isinstance(ref, dict):
        check.invalid(where, _type_name(ref), f"{where} in body must be of type object: {_type_name(ref)!r}")
        return None
    if "name" not in ref:
        check.required(f"{where}.name")
    else:
        check.string(f"{where}.name", ref["name"], least=1, most=253)
    check.string(f"{where}.group", ref.get("group", group), pattern=GROUP_PATTERN, most=253)
    check.string(f"{where}.kind", ref.get("kind", kind), pattern=KIND_PATTERN, least=1, most=63)
    if "namespace" in ref:
        check.string(f"{where}.namespace", ref["namespace"], pattern=NAMESPACE_PATTERN, least=1, most=63)
    return ref


def _parent_ref(check: _Check, where: str, ref: Any) -> None:
    if _reference(check, where, ref, group=GROUP, kind="Gateway") is None:
        return
    if "sectionName" in ref:
        check.string(f"{where}.sectionName", ref["sectionName"], pattern=SECTION_PATTERN, least=1, most=253)
    if "port" in ref:
        check.integer(f"{where}.port", ref["port"], least=1, most=65535)


def _rule(check: _Check, where: str, rule: Any) -> None:
    if not isinstance(rule, dict):
        check.invalid(where, _type_name(rule), f"{where} in body must be of type object: {_type_name(rule)!r}")
        return
    matches = check.array(f"{where}.matches", rule.get("matches"))
    check.too_many(f"{where}.matches", matches, MAX_MATCHES)
    for i, match in enumerate(matches):
        _match(check, f"{where}.matches[{i}]", match)
    refs = check.array(f"{where}.backendRefs", rule.get("backendRefs"))
    if check.too_many(f"{where}.backendRefs", refs, MAX_BACKEND_REFS):
        return
    for i, ref in enumerate(refs):
        _backend_ref(check, f"{where}.backendRefs[{i}]", ref)


def _match(check: _Check, where: str, match: Any) -> None:
    if not isinstance(match, dict):
        return
    path = match.get("path")
    if isinstance(path, dict):
        kind, value = path.get("type"), path.get("value")
        check.enum(f"{where}.path.type", kind, PATH_TYPES)
        check.string(f"{where}.path.value", value, most=1024)
        if kind in ("Exact", "PathPrefix") and isinstance(value, str):
            # the HTTPPathMatch CEL rules, in their order
            if not value.startswith("/"):
                check.invalid(
                    f"{where}.path",
                    "object",
                    "value must be an absolute path and start with '/' when type one of ['Exact', 'PathPrefix']",
                )
            for bad in ("//", "/./", "/../", "%2f", "%2F", "#"):
                if bad in value:
                    check.invalid(
                        f"{where}.path", "object", f"must not contain '{bad}' when type one of ['Exact', 'PathPrefix']"
                    )
            if value and not re.match(PATH_CHARACTERS, value):
                check.invalid(
                    f"{where}.path",
                    "object",
                    f"must only contain valid characters (matching {PATH_CHARACTERS}) "
                    "for types ['Exact', 'PathPrefix']",
                )
    for i, header in enumerate(check.array(f"{where}.headers", match.get("headers"))):
        if isinstance(header, dict):
            for key in ("name", "value"):
                if key not in header:
                    check.required(f"{where}.headers[{i}].{key}")
    if "method" in match:
        check.enum(f"{where}.method", match["method"], METHODS)


def _backend_ref(check: _Check, where: str, ref: Any) -> None:
    if _reference(check, where, ref, group="", kind="Service") is None:
        return
    group, kind = ref.get("group", ""), ref.get("kind", "Service")
    if "port" in ref:
        check.integer(f"{where}.port", ref["port"], least=1, most=65535)
    if "weight" in ref:
        check.integer(f"{where}.weight", ref["weight"], least=0, most=MAX_WEIGHT)
    if group == "" and kind == "Service" and "port" not in ref:  # BackendObjectReference's CEL rule
        check.invalid(where, "object", "Must have port for Service reference")


def validate_gateway(obj: dict[str, Any]) -> list[FieldError]:
    check = _Check()
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        check.required("spec")
        return check.errors
    if "gatewayClassName" not in spec:
        check.required("spec.gatewayClassName")
    else:
        check.string("spec.gatewayClassName", spec["gatewayClassName"], least=1, most=253)
    if "listeners" not in spec:
        check.required("spec.listeners")
        return check.errors
    listeners = check.array("spec.listeners", spec["listeners"])
    if not listeners:
        check.invalid("spec.listeners", 0, "spec.listeners in body should have at least 1 items")
    check.too_many("spec.listeners", listeners, MAX_LISTENERS)
    names: set[str] = set()
    for i, listener in enumerate(listeners):
        where = f"spec.listeners[{i}]"
        if not isinstance(listener, dict):
            continue
        for key in ("name", "port", "protocol"):
            if key not in listener:
                check.required(f"{where}.{key}")
        if "name" in listener:
            check.string(f"{where}.name", listener["name"], pattern=SECTION_PATTERN, least=1, most=253)
            if listener["name"] in names:  # listMapKey=name
                literal = GoLiteral(f'map[string]interface {{}}{{"name":"{listener["name"]}"}}')
                check.errors.append(FieldError("FieldValueDuplicate", where, literal))
            names.add(str(listener["name"]))
        if "port" in listener:
            check.integer(f"{where}.port", listener["port"], least=1, most=65535)
        if "hostname" in listener:
            check.string(f"{where}.hostname", listener["hostname"], pattern=HOSTNAME, least=1, most=253)
    return check.errors
