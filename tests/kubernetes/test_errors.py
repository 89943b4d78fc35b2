"""Client errors translate into our tree: permanent or transient, and what to do about them."""

from __future__ import annotations

import httpx2
import pytest
from lightkube import ApiError

from arxdeploy.errors import TargetError, ThrottledError, TransientTargetError
from arxdeploy.targets.kubernetes.errors import calling, translate

REQUEST = httpx2.Request("PATCH", "https://cluster.example/api/v1/namespaces/arxos-staging/services/arxos")


def api_error(code: int, reason: str, message: str) -> ApiError:
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "reason": reason}
    return ApiError(request=REQUEST, response=httpx2.Response(code, json={**body, "message": message}, request=REQUEST))


def test_forbidden_names_the_verb_and_the_resource_with_an_rbac_hint() -> None:
    message = 'services "arxos" is forbidden: User "ci" cannot patch resource "services"'
    error = translate(api_error(403, "Forbidden", message), verb="patch", what="service arxos in arxos-staging")
    assert type(error) is TargetError
    assert error.message == f"Kubernetes refused to patch service arxos in arxos-staging: {message}"
    assert error.hint is not None and "RBAC" in error.hint


@pytest.mark.parametrize(("code", "reason"), [(409, "Conflict"), (429, "TooManyRequests"), (500, "InternalError")])
def test_conflicts_throttling_and_server_errors_are_transient(code: int, reason: str) -> None:
    assert isinstance(translate(api_error(code, reason, "try again"), verb="get", what="x"), TransientTargetError)


def test_other_client_errors_are_permanent() -> None:
    error = translate(api_error(422, "Invalid", "spec.replicas: Invalid value"), verb="apply", what="Deployment a")
    assert type(error) is TargetError
    assert "422 spec.replicas: Invalid value" in error.message


def test_an_error_answer_that_is_not_json_still_has_its_status() -> None:
    # lightkube builds ApiError only for Content-Type exactly application/json
    response = httpx2.Response(503, text="upstream connect error", request=REQUEST)
    raw = httpx2.HTTPStatusError("503", request=REQUEST, response=response)
    error = translate(raw, verb="get", what="pods")
    assert isinstance(error, TransientTargetError)
    assert "503 upstream connect error" in error.message


def test_timeouts_are_transient_and_keep_their_cause() -> None:
    with pytest.raises(TransientTargetError, match="cannot reach the API server") as caught, calling("list", "pods"):
        raise httpx2.ReadTimeout("timed out", request=REQUEST)
    assert isinstance(caught.value.__cause__, httpx2.ReadTimeout)


def test_a_long_error_page_is_not_pasted_into_the_message_cut_in_the_middle() -> None:
    page = "<html><head><title>502 Bad Gateway</title></head>\n<body>" + "x" * 500 + "</body></html>"
    response = httpx2.Response(502, text=page, request=REQUEST)
    error = translate(httpx2.HTTPStatusError("502", request=REQUEST, response=response), verb="get", what="pods")
    assert error.message == "could not get pods: 502 Bad Gateway"


def test_a_throttled_answer_carries_the_wait_the_server_asked_for() -> None:
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 429, "message": "too many requests"}
    response = httpx2.Response(429, json=body, headers={"Retry-After": "3"}, request=REQUEST)
    error = translate(ApiError(request=REQUEST, response=response), verb="list", what="pods")
    assert isinstance(error, ThrottledError) and error.retry_after == 3.0
