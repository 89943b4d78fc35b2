"""Resource quantities (``100m``, ``0.5``, ``64Mi``, ``1e3``) as k8s.io/apimachinery/pkg/api/resource
parses them, exact (``Fraction``), for the scheduler's sums and the HPA's utilization.

An object whose quantity does not parse is refused at decoding (400), as the API server does,
with the message of ``resource.ErrFormatWrong``.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

from arxdeploy.testing.kube.errors import ApiError

# k8s.io/apimachinery/pkg/api/resource/quantity.go: splitREString and the suffixes of suffix.go
FORMAT = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
_FORMAT = re.compile(FORMAT)
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 1000),
    "": Fraction(1),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
}
_EXPONENT = re.compile(r"^[eE]([-+]?[0-9]+)$")


class QuantityError(ValueError):
    pass


def parse(text: Any) -> Fraction:
    """The value of a quantity: ``"100m"`` -> 1/10, ``"64Mi"`` -> 67108864; numbers are taken as is."""
    if isinstance(text, bool):
        raise QuantityError("quantities must be strings or numbers")
    if isinstance(text, int | float):
        return Fraction(str(text))
    if not isinstance(text, str):
        raise QuantityError("quantities must be strings or numbers")
    match = _FORMAT.match(text.strip())
    if not match or match.group(1) in {".", "+.", "-."} or match.group(1).count(".") > 1:
        raise QuantityError(f"quantities must match the regular expression '{FORMAT}'")
    number, suffix = Fraction(match.group(1)), match.group(2)
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    exponent = _EXPONENT.match(suffix)
    if exponent:
        return number * Fraction(10) ** int(exponent.group(1))
    raise QuantityError("unable to parse quantity's suffix")


def milli(value: Fraction) -> int:
    """``MilliValue()``: the value in thousandths, rounded up as the API does."""
    scaled = value * 1000
    return int(scaled) if scaled == int(scaled) else int(scaled) + (1 if scaled > 0 else 0)


def format_milli(milli_value: int) -> str:
    """A milli-value as the API server prints it: ``250m``, or ``2`` when whole."""
    return str(milli_value // 1000) if milli_value % 1000 == 0 else f"{milli_value}m"


def pod_specs(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """The pod specs an object carries: a Pod's own, or a workload's template."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return []
    if obj.get("kind") == "Pod":
        return [spec]
    template = spec.get("template")
    inner = template.get("spec") if isinstance(template, dict) else None
    return [inner] if isinstance(inner, dict) else []


def check_decodable(obj: dict[str, Any]) -> None:
    """Refuse a container resource quantity that does not parse (400), as decoding does."""
    for spec in pod_specs(obj):
        for container in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
            resources = container.get("resources") if isinstance(container, dict) else None
            for part in ("requests", "limits"):
                values = (resources or {}).get(part) if isinstance(resources, dict) else None
                for value in (values or {}).values() if isinstance(values, dict) else ():
                    try:
                        parse(value)
                    except QuantityError as error:
                        kind = obj.get("kind", "object")
                        message = f'{kind} in version "{_version(obj)}" cannot be handled as a {kind}: {error}'
                        raise ApiError(400, "BadRequest", message) from error


def _version(obj: dict[str, Any]) -> str:
    return str(obj.get("apiVersion", "v1")).rsplit("/", 1)[-1]


def requests(spec: dict[str, Any]) -> dict[str, Fraction]:
    """What a pod asks the scheduler for: the sum of its containers' requests, or the largest init
    container's when that is more (``resourcehelper.PodRequests``); a missing request counts 0."""
    total: dict[str, Fraction] = {}
    for container in spec.get("containers") or []:
        for name, value in _requested(container).items():
            total[name] = total.get(name, Fraction(0)) + value
    for container in spec.get("initContainers") or []:
        for name, value in _requested(container).items():
            total[name] = max(total.get(name, Fraction(0)), value)
    return total


def _requested(container: dict[str, Any]) -> dict[str, Fraction]:
    resources = container.get("resources") or {}
    return {name: parse(value) for name, value in (resources.get("requests") or {}).items()}
