"""API errors as Kubernetes reports them: a ``Status`` object with a reason and an HTTP code."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from arxdeploy.testing.kube.resources import Resource


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            body["details"] = self.details
        return body


def _details(resource: Resource, name: str) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name, "kind": resource.plural}
    if resource.group:
        details["group"] = resource.group
    return details


def not_found(resource: Resource, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{resource.qualified} "{name}" not found', _details(resource, name))


def already_exists(resource: Resource, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{resource.qualified} "{name}" already exists', _details(resource, name))


def conflict(resource: Resource, name: str) -> ApiError:
    message = (
        f'Operation cannot be fulfilled on {resource.qualified} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    return ApiError(409, "Conflict", message, _details(resource, name))


@dataclass(frozen=True)
class FieldError:
    """One ``field.Error`` of k8s.io/apimachinery/pkg/util/validation/field: its type (the cause's
    ``reason``), the field path, the bad value (not shown for Required, Forbidden, TooLong) and a detail."""

    type: str  # FieldValueInvalid, FieldValueRequired, FieldValueForbidden, FieldValueTooLong, ...
    field: str
    value: Any = None
    detail: str = ""

    def body(self) -> str:
        """``ErrorBody()``: ``Invalid value: "Web": a lowercase RFC 1123 ...``."""
        text = _FIELD_TYPES[self.type]
        if self.type not in _VALUE_HIDDEN:
            text += f": {_go_value(self.value)}"
        return f"{text}: {self.detail}" if self.detail else text

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}"


_FIELD_TYPES = {
    "FieldValueNotFound": "Not found",
    "FieldValueRequired": "Required value",
    "FieldValueDuplicate": "Duplicate value",
    "FieldValueInvalid": "Invalid value",
    "FieldValueNotSupported": "Unsupported value",
    "FieldValueForbidden": "Forbidden",
    "FieldValueTooLong": "Too long",
    "FieldValueTooMany": "Too many",
}
_VALUE_HIDDEN = {"FieldValueRequired", "FieldValueForbidden", "FieldValueTooLong"}


class GoLiteral(str):
    """A bad value already printed the way Go prints it (a map, a struct): shown as is, not quoted."""


def _go_value(value: Any) -> str:
    """How ``ErrorBody`` prints a bad value: strings quoted (``%q``), numbers and booleans plain."""
    if isinstance(value, GoLiteral):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


def invalid(resource: Resource, name: str, errors: list[FieldError] | FieldError) -> ApiError:
    """422 ``Invalid`` as ``apierrors.NewInvalid`` builds it: one cause per field error, the message
    ``Kind.group "name" is invalid: <the errors>`` (several in ``[a, b]``, duplicates once)."""
    errors = [errors] if isinstance(errors, FieldError) else errors
    causes = [{"reason": e.type, "message": e.body(), "field": e.field} for e in errors]
    details: dict[str, Any] = {"name": name, "kind": resource.kind, "causes": causes}
    if resource.group:
        details["group"] = resource.group
    texts = list(dict.fromkeys(str(e) for e in errors))
    aggregate = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    kind = f"{resource.kind}.{resource.group}" if resource.group else resource.kind
    return ApiError(422, "Invalid", f'{kind} "{name}" is invalid: {aggregate}', details)


def invalid_value(resource: Resource, name: str, field: str, value: Any, detail: str) -> ApiError:
    return invalid(resource, name, FieldError("FieldValueInvalid", field, value, detail))


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def method_not_allowed(message: str = "the server does not allow this method on the requested resource") -> ApiError:
    return ApiError(405, "MethodNotAllowed", message)
