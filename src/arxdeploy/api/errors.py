"""Errors at the HTTP boundary: one JSON shape, one status per error type, no stack traces.

{"error": {"code": "<stable_snake_case>", "message": "...", "hint": "..." | null}}

NotFoundError          404 not_found
UnauthenticatedError   401 unauthenticated   (+ WWW-Authenticate: Bearer)
RefusedError           403 forbidden         (a refused decision is recorded; or the token's role is too low)
ConflictError          409 conflict
UsageError             400 bad_request
request validation     422 invalid_request
anything else          500 internal          (logged; its text never reaches the client)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from arxdeploy import errors
from arxdeploy.api.models import ErrorBody
from arxdeploy.redact import Redactor

log = logging.getLogger(__name__)

GENERIC = "internal error: the server could not answer; the details are in its log"

_BY_TYPE: tuple[tuple[type[errors.ArxdeployError], int, str], ...] = (
    (errors.NotFoundError, 404, "not_found"),
    (errors.UnauthenticatedError, 401, "unauthenticated"),
    (errors.RefusedError, 403, "forbidden"),
    (errors.ConflictError, 409, "conflict"),
    (errors.UsageError, 400, "bad_request"),
)

_BY_STATUS = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
}

# For ``responses=`` on routes: every error an operation may answer, declared in OpenAPI.
ERROR_DESCRIPTIONS = {
    400: "Bad request: the request cannot be carried out as asked.",
    401: "Missing, invalid, revoked or expired token.",
    403: "This person may not make this decision (recorded), or their token's role does not allow the call.",
    404: "No such deployment, environment or token (or an id prefix that matches several).",
    409: "The deployment is not waiting for this decision.",
    422: "The request does not match the schema.",
    500: "Internal error.",
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"model": ErrorBody, "description": ERROR_DESCRIPTIONS[s]} for s in statuses}


def body(code: str, message: str, hint: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "hint": hint}}


def json_error(redactor: Redactor, status: int, code: str, message: str, hint: str | None = None) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(redactor.data(body(code, message, hint)), status_code=status, headers=headers)


def status_of(exc: errors.ArxdeployError) -> tuple[int, str] | None:
    for kind, status, code in _BY_TYPE:
        if isinstance(exc, kind):
            return status, code
    return None


def install(api: FastAPI, redactor: Redactor) -> None:
    """Register the handlers that give every error the one shape."""

    def arxdeploy_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, errors.ArxdeployError)
        mapped = status_of(exc)
        if mapped is None:
            log.error("request failed: %s", exc.message, exc_info=exc)
            return json_error(redactor, 500, "internal", GENERIC)
        status, code = mapped
        return json_error(redactor, status, code, exc.message, exc.hint)

    def invalid_request(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return json_error(redactor, 422, "invalid_request", _validation_message(exc.errors()))

    def http_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        code = _BY_STATUS.get(exc.status_code, "internal" if exc.status_code >= 500 else "bad_request")
        message = exc.detail if isinstance(exc.detail, str) else "the request failed"
        if exc.status_code >= 500:
            message = GENERIC
        return json_error(redactor, exc.status_code, code, message)

    handlers: dict[type[Exception], Callable[[Request, Exception], JSONResponse]] = {
        errors.ArxdeployError: arxdeploy_error,
        RequestValidationError: invalid_request,
        HTTPException: http_error,
    }
    for kind, handler in handlers.items():
        api.add_exception_handler(kind, handler)


def _validation_message(problems: Any) -> str:
    """e.g. "body.reason: String should have at least 1 character"; the input is not echoed."""
    lines = []
    for problem in list(problems)[:5]:
        where = ".".join(str(part) for part in problem.get("loc", ()))
        lines.append(f"{where}: {problem.get('msg', 'invalid')}" if where else str(problem.get("msg", "invalid")))
    return "; ".join(lines) or "the request is not valid"
