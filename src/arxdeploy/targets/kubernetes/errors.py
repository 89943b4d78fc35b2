"""lightkube and httpx2 errors, translated into ``TargetError`` at the adapter's boundary."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx2
from lightkube import ApiError, ConfigError

from arxdeploy.errors import TargetError, ThrottledError, TransientTargetError

CONFLICT = 409
NOT_FOUND = 404
FORBIDDEN = 403
UNAUTHORIZED = 401
TOO_MANY_REQUESTS = 429
MAX_BODY = 200  # characters of a non-Status error body shown whole, or not at all


def status_code(exc: BaseException) -> int | None:
    """The HTTP status of an API error, whichever way lightkube raised it.

    lightkube only builds an ``ApiError`` when the answer's Content-Type is exactly
    ``application/json``; any other error answer stays an ``httpx2.HTTPStatusError``.
    """
    if isinstance(exc, ApiError) and exc.status.code is not None:
        return int(exc.status.code)
    if isinstance(exc, httpx2.HTTPStatusError):
        return exc.response.status_code
    return None


BAD_REQUEST = 400


def message(exc: BaseException) -> str:
    """What the API server said in an error answer, for people."""
    return _message(exc)


def _message(exc: BaseException) -> str:
    if isinstance(exc, ApiError):
        return exc.status.message or exc.status.reason or str(exc)
    if isinstance(exc, httpx2.HTTPStatusError):
        # Not a Status object (a proxy or load balancer answered): its reason, and its body only
        # when it is one short line; never a body cut off in the middle.
        body = exc.response.text.strip()
        short = body if len(body) <= MAX_BODY and "\n" not in body else ""
        return short or exc.response.reason_phrase or f"HTTP {exc.response.status_code}"
    return str(exc) or type(exc).__name__


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    return wait_for(response.headers.get("Retry-After") if response is not None else None)


def wait_for(value: str | None) -> float | None:
    """Seconds from a Retry-After header (the API server sends it with 429 and some 5xx)."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: rare from an API server; the backoff applies


def translate(exc: BaseException, *, verb: str, what: str) -> TargetError:
    """Our error for a failed ``verb`` on ``what`` (e.g. "patch", "service arxos in arxos-staging")."""
    code = status_code(exc)
    message = _message(exc)
    if code is not None:
        return refused(code, message, verb=verb, what=what, retry_after=_retry_after(exc))
    if isinstance(exc, httpx2.TransportError):  # connection refused, timeouts, TLS resets
        return TransientTargetError(f"could not {verb} {what}: cannot reach the API server ({message})")
    if isinstance(exc, ConfigError):
        return TargetError(f"cannot use the kubeconfig: {message}", hint="set target.kubernetes.kubeconfig")
    return TargetError(f"could not {verb} {what}: {message}")


def refused(code: int, message: str, *, verb: str, what: str, retry_after: float | None = None) -> TargetError:
    """Our error for the API server's answer ``code`` (with its Status ``message``) to ``verb`` ``what``."""
    if code == FORBIDDEN:
        return TargetError(
            f"Kubernetes refused to {verb} {what}: {message}",
            hint=f"give the kubeconfig's user RBAC permission to {verb} that resource",
        )
    if code == UNAUTHORIZED:
        return TargetError(f"Kubernetes did not accept our credentials to {verb} {what}", hint="check the kubeconfig")
    if code == TOO_MANY_REQUESTS:
        return ThrottledError(f"could not {verb} {what}: {code} {message}", retry_after=retry_after)
    if code >= 500 or code == CONFLICT:
        return TransientTargetError(f"could not {verb} {what}: {code} {message}", retry_after=retry_after)
    return TargetError(f"could not {verb} {what}: {code} {message}")


@contextmanager
def calling(verb: str, what: str) -> Iterator[None]:
    """Translate whatever the client raises inside the block."""
    try:
        yield
    except (ApiError, httpx2.HTTPError, ConfigError) as exc:
        raise translate(exc, verb=verb, what=what) from exc
