"""Schemathesis against the live server's /openapi.json: no 5xx, and every response matches its schema."""

from __future__ import annotations

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from tests.api.conftest import World

# ``schemathesis.pytest.from_fixture`` fails under pytest 9.2 (it sets ``node._nodeid``, which pytest
# no longer has), and a module-level ``from_url`` needs the server before collection. So the
# operations are read from the live server and each is driven by Hypothesis here.
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
def test_the_api_matches_its_description(world: World, mode: GenerationMode) -> None:
    world.request_production()
    schema = schemathesis.openapi.from_url(f"{world.url}/openapi.json", timeout=10)
    approver = world.auth("bo@example.com")
    _, admin = world.app.tokens.bootstrap(email="root@example.com", created_by="ops@host")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 15  # 13, and promote and abort
    with requests.Session() as session:
        for operation in operations:
            if mode is GenerationMode.NEGATIVE and not (operation.path_parameters or operation.query or operation.body):
                continue  # nothing to get wrong: Hypothesis would find no negative case

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=12, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
            )
            def conforms(case: schemathesis.Case) -> None:
                # Token management as an admin (an approver only gets 403s there), the rest as an approver.
                tokens = case.operation.path.startswith("/api/v1/tokens")
                headers = {"Authorization": f"Bearer {admin}"} if tokens else approver
                case.call_and_validate(session=session, headers=headers, checks=CHECKS, timeout=10)

            conforms()


def test_the_description_declares_errors_and_security(world: World) -> None:
    described = world.client.get("/openapi.json").json()
    assert described["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An arxdeploy API token, made by an admin: `arxdeploy token create --for EMAIL` prints one.",
    }
    error_ref = "#/components/schemas/ErrorBody"
    for path, operations in described["paths"].items():
        for method, operation in operations.items():
            for status in ("401", "422") if path.startswith("/api/v1/approvals/{") else ():
                assert operation["responses"][status]["content"]["application/json"]["schema"] == {"$ref": error_ref}
            if method == "post" and path.startswith("/api/v1/approvals/"):
                assert {"401", "403", "404", "409", "422"} <= set(operation["responses"])
            if path.startswith("/api/v1/tokens"):
                assert {"401", "403"} <= set(operation["responses"]), (method, path)
    assert "HTTPValidationError" not in described["components"]["schemas"]
