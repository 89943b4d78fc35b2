"""Validation as kube-apiserver does it, answered as 422 ``Invalid`` with one cause per field.

Names, label keys and values, and annotations follow k8s.io/apimachinery:

- ``pkg/util/validation/validation.go``: ``IsDNS1123Label`` (namespaces, container names),
  ``IsDNS1123Subdomain`` (most names), ``IsDNS1035Label`` (Services), ``IsValidPortName``,
  ``IsConfigMapKey``, with their messages;
- ``pkg/api/validate/content/kube.go``: ``IsLabelKey`` (an optional DNS-subdomain prefix, ``/``,
  a name of at most 63 characters) and ``IsLabelValue`` (at most 63 characters,
  ``(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?``); ``errors.go`` for ``MaxLenError``, ``RegexError``;
- ``pkg/api/validation/objectmeta.go``: ``ValidateObjectMetaAccessor`` (``generateName`` checked
  with a trailing dash masked, ``name or generateName is required``), ``ValidateAnnotations``
  (keys are label keys, lower-cased; all keys and values together at most 256 KiB);
- ``pkg/util/validation/field/errors.go``: how each error prints.

Kind-specific rules are the few that deployments trip over, after
k8s.io/kubernetes/pkg/apis/{core,apps,autoscaling,coordination}/validation: selectors matching
templates, containers, ports, resource requests within limits, HPA replica bounds, Lease durations.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from arxdeploy.testing.kube import gateway_schema, quantity
from arxdeploy.testing.kube.errors import FieldError, GoLiteral, invalid
from arxdeploy.testing.kube.resources import Resource
from arxdeploy.testing.kube.selectors import from_label_selector_object

_LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN = _LABEL + r"(\." + _LABEL + ")*"
_DNS1035 = "[a-z]([-a-z0-9]*[a-z0-9])?"
_KEY_NAME = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE = "(" + _KEY_NAME + ")?"
_CONFIG_KEY = r"[-._a-zA-Z0-9]+"
ANNOTATIONS_LIMIT = 256 * (1 << 10)
# core.MaxSecretSize (pkg/apis/core/types.go), the limit of a Secret's and a ConfigMap's data
MAX_DATA_SIZE = 1 << 20


def _regex_error(message: str, pattern: str, *examples: str) -> str:
    """``content.RegexError``."""
    if not examples:
        return f"{message} (regex used for validation is '{pattern}')"
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{message} (e.g. {shown}regex used for validation is '{pattern}')"


def _max_len(length: int) -> str:
    return f"must be no more than {length} bytes"


def _full(pattern: str, value: str) -> bool:
    return re.fullmatch(pattern, value) is not None


def dns1123_label(value: str) -> list[str]:
    errors = [_max_len(63)] if len(value) > 63 else []
    if not _full(_LABEL, value):
        if _full(_SUBDOMAIN, value):
            errors.append("must not contain dots")
        else:
            message = (
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
                "and must start and end with an alphanumeric character"
            )
            errors.append(_regex_error(message, _LABEL, "my-name", "123-abc"))
    return errors


def dns1123_subdomain(value: str) -> list[str]:
    errors = [_max_len(253)] if len(value) > 253 else []
    if not _full(_SUBDOMAIN, value):
        message = (
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
            "and must start and end with an alphanumeric character"
        )
        errors.append(_regex_error(message, _SUBDOMAIN, "example.com"))
    return errors


def dns1035_label(value: str) -> list[str]:
    errors = [_max_len(63)] if len(value) > 63 else []
    if not _full(_DNS1035, value):
        message = (
            "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
            "alphabetic character, and end with an alphanumeric character"
        )
        errors.append(_regex_error(message, _DNS1035, "my-name", "abc-123"))
    return errors


_KEY_MESSAGE = (
    "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
)


def label_key(value: str) -> list[str]:
    """``content.IsLabelKey``: ``[prefix/]name``."""
    errors: list[str] = []
    parts = value.split("/")
    key_message = _KEY_MESSAGE
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errors.append("prefix part must be non-empty")
        else:
            errors += [f"prefix part {m}" for m in dns1123_subdomain(prefix)]
    else:
        shown = _regex_error(key_message, _KEY_NAME, "MyName", "my.name", "123-abc")
        return [f"a valid label key {shown} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    if not name:
        errors.append("name part must be non-empty")
    elif len(name) > 63:
        errors.append(f"name part {_max_len(63)}")
    if not _full(_KEY_NAME, name):
        errors.append("name part " + _regex_error(key_message, _KEY_NAME, "MyName", "my.name", "123-abc"))
    return errors


def label_value(value: str) -> list[str]:
    """``content.IsLabelValue``."""
    errors = [_max_len(63)] if len(value) > 63 else []
    if not _full(_LABEL_VALUE, value):
        message = (
            "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
            "and must start and end with an alphanumeric character"
        )
        errors.append(_regex_error(message, _LABEL_VALUE, "MyValue", "my_value", "12345"))
    return errors


def port_name(value: str) -> list[str]:
    """``IsValidPortName``."""
    errors = [_max_len(15)] if len(value) > 15 else []
    if not _full("[-a-z0-9]+", value):
        errors.append("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
    if not re.search("[a-z]", value):
        errors.append("must contain at least one letter (a-z)")
    if "--" in value:
        errors.append("must not contain consecutive hyphens")
    if value.startswith("-") or value.endswith("-"):
        errors.append("must not begin or end with a hyphen")
    return errors


# ValidateNameFunc per resource (pkg/apis/core/validation: ValidateNamespaceName = NameIsDNSLabel,
# ValidateServiceName = NameIsDNS1035Label; every other kind served here: NameIsDNSSubdomain)
_NAME_RULES: dict[str, Callable[[str], list[str]]] = {"namespaces": dns1123_label, "services": dns1035_label}


def name_errors(resource: Resource, name: str, *, prefix: bool = False) -> list[str]:
    if prefix and name.endswith("-"):
        name = name[:-1] + "a"  # maskTrailingDash: a generateName may end in '-'
    return _NAME_RULES.get(resource.plural, dns1123_subdomain)(name)


class _Errors:
    """Collects field errors; ``raise_for`` answers 422 with all of them, as one Status."""

    def __init__(self) -> None:
        self.items: list[FieldError] = []

    def invalid(self, field: str, value: Any, detail: str) -> None:
        self.items.append(FieldError("FieldValueInvalid", field, value, detail))

    def required(self, field: str, detail: str = "") -> None:
        self.items.append(FieldError("FieldValueRequired", field, None, detail))

    def duplicate(self, field: str, value: Any) -> None:
        self.items.append(FieldError("FieldValueDuplicate", field, value))

    def unsupported(self, field: str, value: Any, allowed: Iterable[str]) -> None:
        detail = "supported values: " + ", ".join(json.dumps(v) for v in allowed)
        self.items.append(FieldError("FieldValueNotSupported", field, value, detail))

    def too_long(self, field: str, limit: int) -> None:
        self.items.append(FieldError("FieldValueTooLong", field, None, f"must have at most {limit} bytes"))

    def raise_for(self, resource: Resource, name: str) -> None:
        if self.items:
            raise invalid(resource, name, self.items)


def validate(resource: Resource, obj: dict[str, Any]) -> None:
    """Everything checked on create and on every update (after defaults)."""
    errors = _Errors()
    meta = obj["metadata"]
    name = meta.get("name") or ""
    generate = meta.get("generateName") or ""
    if generate:
        for message in name_errors(resource, generate, prefix=True):
            errors.invalid("metadata.generateName", generate, message)
    if not name:
        errors.required("metadata.name", "name or generateName is required")
    else:
        for message in name_errors(resource, name):
            errors.invalid("metadata.name", name, message)
    _labels(errors, "metadata.labels", meta.get("labels"))
    _annotations(errors, meta.get("annotations"))
    for finalizer in meta.get("finalizers") or []:
        for message in label_key(str(finalizer)):
            errors.invalid("metadata.finalizers", finalizer, message)
    check = _KIND_RULES.get(resource.plural)
    if check is not None:
        check(errors, obj)
    errors.raise_for(resource, name)


def _labels(errors: _Errors, field: str, labels: Any) -> None:
    for key, value in sorted((labels or {}).items()):
        for message in label_key(key):
            errors.invalid(field, key, message)
        for message in label_value(value):
            errors.invalid(field, value, message)


def _annotations(errors: _Errors, annotations: Any) -> None:
    annotations = annotations or {}
    for key in sorted(annotations):
        for message in label_key(key.lower()):
            errors.invalid("metadata.annotations", key, message)
    size = sum(len(k.encode()) + len(str(v).encode()) for k, v in annotations.items())
    if size > ANNOTATIONS_LIMIT:
        errors.too_long("metadata.annotations", ANNOTATIONS_LIMIT)


def _go_map(labels: dict[str, str]) -> str:
    """How ``%#v`` prints a ``map[string]string`` (the bad value of a selector mismatch)."""
    return "map[string]string{" + ", ".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in sorted(labels.items())) + "}"


def _workload(errors: _Errors, obj: dict[str, Any]) -> None:
    """Deployments and ReplicaSets (pkg/apis/apps/validation)."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        errors.required("spec")
        return
    if not spec.get("selector"):
        errors.required("spec.selector")
    else:
        selector = spec["selector"]
        _labels(errors, "spec.selector.matchLabels", selector.get("matchLabels"))
        template = spec.get("template") or {}
        labels = (template.get("metadata") or {}).get("labels") or {}
        if not from_label_selector_object(selector).matches(labels):
            mismatch = "`selector` does not match template `labels`"
            errors.invalid("spec.template.metadata.labels", GoLiteral(_go_map(labels)), mismatch)
    replicas = spec.get("replicas")
    if not isinstance(replicas, int) or replicas < 0:
        errors.invalid("spec.replicas", replicas, "must be greater than or equal to 0")
    template = spec.get("template") or {}
    _labels(errors, "spec.template.metadata.labels", (template.get("metadata") or {}).get("labels"))
    pod_spec = template.get("spec")
    if not isinstance(pod_spec, dict):
        errors.required("spec.template.spec.containers")
    else:
        _pod_spec(errors, "spec.template.spec", pod_spec)
        policy = pod_spec.get("restartPolicy", "Always")
        if policy != "Always":
            errors.unsupported("spec.template.spec.restartPolicy", policy, ["Always"])
    strategy = spec.get("strategy") or {}
    kind = strategy.get("type")
    if obj.get("kind") == "Deployment" and kind not in (None, "RollingUpdate", "Recreate"):
        errors.unsupported("spec.strategy.type", kind, ["Recreate", "RollingUpdate"])
    rolling = strategy.get("rollingUpdate") or {}
    zero = {"0", "0%"}
    if (
        kind == "RollingUpdate"
        and {str(rolling.get("maxSurge", "25%")), str(rolling.get("maxUnavailable", "25%"))} <= zero
    ):
        detail = "may not be 0 when `maxSurge` is 0"
        errors.invalid("spec.strategy.rollingUpdate.maxUnavailable", rolling.get("maxUnavailable"), detail)


def _pod(errors: _Errors, obj: dict[str, Any]) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        errors.required("spec.containers")
        return
    _pod_spec(errors, "spec", spec)


def _pod_spec(errors: _Errors, path: str, spec: dict[str, Any]) -> None:
    containers = spec.get("containers")
    if not containers:
        errors.required(f"{path}.containers")
        return
    seen: set[str] = set()
    for group in ("initContainers", "containers"):
        for index, container in enumerate(spec.get(group) or []):
            here = f"{path}.{group}[{index}]"
            if not isinstance(container, dict):
                errors.invalid(here, None, "must be an object")
                continue
            name = container.get("name") or ""
            if not name:
                errors.required(f"{here}.name")
            else:
                for message in dns1123_label(name):
                    errors.invalid(f"{here}.name", name, message)
                if name in seen:
                    errors.duplicate(f"{here}.name", name)
                seen.add(name)
            if not container.get("image"):
                errors.required(f"{here}.image")
            _container_ports(errors, here, container.get("ports") or [])
            _resources(errors, f"{here}.resources", container.get("resources") or {})


def _container_ports(errors: _Errors, path: str, ports: list[Any]) -> None:
    names: set[str] = set()
    for index, port in enumerate(ports):
        here = f"{path}.ports[{index}]"
        number = port.get("containerPort") if isinstance(port, dict) else None
        if not isinstance(number, int) or not 1 <= number <= 65535:
            errors.invalid(f"{here}.containerPort", number, "must be between 1 and 65535, inclusive")
        name = port.get("name") if isinstance(port, dict) else None
        if name:
            for message in port_name(name):
                errors.invalid(f"{here}.name", name, message)
            if name in names:
                errors.duplicate(f"{here}.name", name)
            names.add(name)


def _resources(errors: _Errors, path: str, resources: dict[str, Any]) -> None:
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    for name, value in sorted(requests.items()):
        if name in limits and quantity.parse(value) > quantity.parse(limits[name]):
            detail = f"must be less than or equal to {name} limit of {limits[name]}"
            errors.invalid(f"{path}.requests", value, detail)


def _service(errors: _Errors, obj: dict[str, Any]) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        errors.required("spec")
        return
    kind = spec.get("type", "ClusterIP")
    allowed = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
    if kind not in allowed:
        errors.unsupported("spec.type", kind, allowed)
    ports = spec.get("ports") or []
    if not ports and kind != "ExternalName" and spec.get("clusterIP") != "None":
        errors.required("spec.ports")
    names: set[str] = set()
    for index, port in enumerate(ports):
        here = f"spec.ports[{index}]"
        name = port.get("name") or ""
        if len(ports) > 1 and not name:
            errors.required(f"{here}.name")
        elif name:
            for message in dns1123_label(name):
                errors.invalid(f"{here}.name", name, message)
            if name in names:
                errors.duplicate(f"{here}.name", name)
            names.add(name)
        number = port.get("port")
        if not isinstance(number, int) or not 1 <= number <= 65535:
            errors.invalid(f"{here}.port", number, "must be between 1 and 65535, inclusive")
        target = port.get("targetPort")
        if isinstance(target, int) and not 1 <= target <= 65535:
            errors.invalid(f"{here}.targetPort", target, "must be between 1 and 65535, inclusive")
        elif isinstance(target, str):
            for message in port_name(target):
                errors.invalid(f"{here}.targetPort", target, message)
    _labels(errors, "spec.selector", spec.get("selector"))


def _data_keys(errors: _Errors, obj: dict[str, Any]) -> None:
    """ConfigMap and Secret keys (``IsConfigMapKey``)."""
    for part in ("data", "binaryData", "stringData"):
        for key in sorted(obj.get(part) or {}):
            problems = [_max_len(253)] if len(key) > 253 else []
            if not _full(_CONFIG_KEY, key):
                message = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
                problems.append(_regex_error(message, _CONFIG_KEY, "key.name", "KEY_NAME", "key-name"))
            if key in {".", ".."}:
                problems.append(f"must not be '{key}'")
            for message in problems:
                errors.invalid(f"{part}[{key}]", key, message)


def _configmap(errors: _Errors, obj: dict[str, Any]) -> None:
    """``ValidateConfigMap`` (pkg/apis/core/validation/validation.go): keys, no key in both bags,
    and at most 1 MiB (``core.MaxSecretSize``) of data and binaryData together, reported on the
    root path, which prints as ``[]``."""
    _data_keys(errors, obj)
    data, binary = obj.get("data") or {}, obj.get("binaryData") or {}
    for key in sorted(set(data) & set(binary)):
        errors.invalid(f"data[{key}]", key, "duplicate of key present in binaryData")
    size = sum(len(str(v).encode()) for v in data.values()) + sum(_decoded_size(v) for v in binary.values())
    if size > MAX_DATA_SIZE:
        errors.too_long("[]", MAX_DATA_SIZE)


def _secret(errors: _Errors, obj: dict[str, Any]) -> None:
    """``ValidateSecret``: keys, and at most 1 MiB of decoded data, reported on ``data``."""
    _data_keys(errors, obj)
    if sum(_decoded_size(v) for v in (obj.get("data") or {}).values()) > MAX_DATA_SIZE:
        errors.too_long("data", MAX_DATA_SIZE)


def _decoded_size(value: Any) -> int:
    """Bytes of a base64 value (already checked to decode when the body was read)."""
    text = str(value).replace("\n", "").replace("\r", "")
    return len(text) * 3 // 4 - text[-2:].count("=")


def _hpa(errors: _Errors, obj: dict[str, Any]) -> None:
    """pkg/apis/autoscaling/validation: ValidateHorizontalPodAutoscalerSpec."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        errors.required("spec")
        return
    target = spec.get("scaleTargetRef") or {}
    for part in ("kind", "name"):
        if not target.get(part):
            errors.required(f"spec.scaleTargetRef.{part}")
    low, high = spec.get("minReplicas"), spec.get("maxReplicas")
    if isinstance(low, int) and low < 1:
        errors.invalid("spec.minReplicas", low, "must be greater than or equal to 1")
    if not isinstance(high, int) or high < 1:
        errors.invalid("spec.maxReplicas", high, "must be greater than 0")
    elif isinstance(low, int) and high < low:
        errors.invalid("spec.maxReplicas", high, "must be greater than or equal to `minReplicas`")
    for index, metric in enumerate(spec.get("metrics") or []):
        goal = ((metric.get("resource") or {}).get("target") or {}) if isinstance(metric, dict) else {}
        utilization = goal.get("averageUtilization")
        if utilization is not None and (not isinstance(utilization, int) or utilization <= 0):
            here = f"spec.metrics[{index}].resource.target.averageUtilization"
            errors.invalid(here, utilization, "must be greater than 0")


def _lease(errors: _Errors, obj: dict[str, Any]) -> None:
    """pkg/apis/coordination/validation: ValidateLeaseSpec."""
    spec = obj.get("spec") or {}
    duration = spec.get("leaseDurationSeconds")
    if duration is not None and (not isinstance(duration, int) or duration <= 0):
        errors.invalid("spec.leaseDurationSeconds", duration, "must be greater than 0")
    transitions = spec.get("leaseTransitions")
    if transitions is not None and (not isinstance(transitions, int) or transitions < 0):
        errors.invalid("spec.leaseTransitions", transitions, "must be greater than or equal to 0")
    for stamp in ("acquireTime", "renewTime"):
        value = spec.get(stamp)
        if value is not None and not _MICRO_TIME.match(str(value)):
            errors.invalid(f"spec.{stamp}", value, "must be an RFC 3339 time with microseconds")


_MICRO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")

_KIND_RULES: dict[str, Callable[[_Errors, dict[str, Any]], None]] = {
    "deployments": _workload,
    "replicasets": _workload,
    "pods": _pod,
    "services": _service,
    "configmaps": _configmap,
    "secrets": _secret,
    "horizontalpodautoscalers": _hpa,
    "leases": _lease,
    "httproutes": lambda errors, obj: errors.items.extend(gateway_schema.validate_route(obj)),
    "gateways": lambda errors, obj: errors.items.extend(gateway_schema.validate_gateway(obj)),
}


def validate_update(resource: Resource, old: dict[str, Any], new: dict[str, Any]) -> None:
    """What may not change once created (the strategies' ``ValidateUpdate``)."""
    errors = _Errors()
    name = new["metadata"]["name"]
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    if resource.plural in {"deployments", "replicasets"} and old_spec.get("selector") != new_spec.get("selector"):
        errors.invalid("spec.selector", GoLiteral(json.dumps(new_spec.get("selector"))), "field is immutable")
    if resource.plural == "services" and old_spec.get("clusterIP") != new_spec.get("clusterIP"):
        errors.invalid("spec.clusterIP", new_spec.get("clusterIP"), "field is immutable")
    if resource.plural == "secrets" and old.get("type") != new.get("type"):
        errors.invalid("type", new.get("type"), "field is immutable")  # ValidateSecretUpdate
    if resource.plural in {"configmaps", "secrets"} and old.get("immutable") is True:
        # as ValidateConfigMapUpdate and ValidateSecretUpdate: the data stays, and so does the flag
        fields = ("immutable", "data", "binaryData") if resource.plural == "configmaps" else ("immutable", "data")
        for field in fields:
            if old.get(field) != new.get(field):
                errors.items.append(
                    FieldError("FieldValueForbidden", field, None, "field is immutable when `immutable` is set")
                )
    if resource.plural == "pods" and _without_mutable(old_spec) != _without_mutable(new_spec):
        errors.items.append(
            FieldError(
                "FieldValueForbidden",
                "spec",
                None,
                "pod updates may not change fields other than `spec.containers[*].image`",
            )
        )
    errors.raise_for(resource, name)


def _without_mutable(spec: Any) -> Any:
    """A pod spec without what an update may change: images, and fields set once by the system."""
    spec = json.loads(json.dumps(spec or {}))
    for container in [*spec.get("containers", []), *spec.get("initContainers", [])]:
        container.pop("image", None)
    for loose in ("activeDeadlineSeconds", "tolerations", "nodeName"):
        spec.pop(loose, None)
    return spec
