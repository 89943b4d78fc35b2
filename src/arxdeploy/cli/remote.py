"""Calls to an arxdeploy server: the person's token, every path segment quoted, its errors as ours."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from arxdeploy.errors import (
    ArxdeployError,
    ConflictError,
    NotFoundError,
    RefusedError,
    UnauthenticatedError,
    UsageError,
)

TOKEN_VARIABLE = "ARXDEPLOY_TOKEN"

# The server's error codes, back into the errors (and exit codes) the CLI shows.
ERRORS: dict[str, type[ArxdeployError]] = {
    "unauthenticated": UnauthenticatedError,
    "forbidden": RefusedError,
    "not_found": NotFoundError,
    "conflict": ConflictError,
    "bad_request": UsageError,
    "invalid_request": UsageError,
}


def call(
    url: str,
    method: str,
    path: Sequence[str],
    environ: Mapping[str, str],
    *,
    doing: str,
    body: Mapping[str, Any] | None = None,
    hint: str | None = None,
) -> Any:
    """``method`` on ``<url>/api/v1/<path...>`` with the token in ARXDEPLOY_TOKEN; the JSON answer.

    Each segment of ``path`` is quoted whole (``safe=""``): a ``/``, ``?`` or ``#`` in an id stays
    inside its segment and cannot reach another endpoint. ``doing`` names the action in the
    error when there is no token, e.g. "approving"; ``hint`` says where to get one.
    """
    import httpx

    token = environ.get(TOKEN_VARIABLE)
    if not token:
        raise UsageError(
            f"{doing} through a server needs your token",
            hint=hint or f"export {TOKEN_VARIABLE}=arx_... (an admin makes one: `arxdeploy token create --for YOU`)",
        )
    endpoint = "/".join([url.rstrip("/"), "api", "v1", *(quote(part, safe="") for part in path)])
    try:
        response = httpx.request(method, endpoint, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise ArxdeployError(
            f"could not reach the arxdeploy server at {url}: {type(exc).__name__}",
            hint="check server.url (or --server) and that `arxdeploy server` runs there",
        ) from exc
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.is_success and data is not None:
        return data
    error = data.get("error", {}) if isinstance(data, dict) else {}
    kind = ERRORS.get(str(error.get("code")), ArxdeployError)
    raise kind(str(error.get("message") or f"the server answered HTTP {response.status_code}"), hint=error.get("hint"))
