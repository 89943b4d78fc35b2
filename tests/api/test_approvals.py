"""Approvals over HTTP: who may decide, what is recorded, and what each refusal looks like."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import httpx
import pytest

from arxdeploy.domain.approvals import GateStatus
from tests.api.conftest import APPROVERS, REQUESTER, World
from tests.drive import deploy


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "hint"}
    assert body["error"]["code"] == code
    assert "Traceback" not in response.text
    return dict(body["error"])


def test_two_distinct_approvers_reach_min_approvals(world: World) -> None:
    d = world.request_production(version="v2", reason="new checkout")

    first = world.post(f"/api/v1/approvals/{d.id}/approve", "bo@example.com", json={"reason": "looks good"})
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "pending"
    assert first.json()["approved_by"] == ["bo@example.com"]

    second = world.post(f"/api/v1/approvals/{d.id}/approve", "cy@example.com")  # no body at all
    assert second.status_code == 200, second.text
    gate = second.json()
    assert gate["status"] == "approved"
    assert gate["approved_by"] == ["bo@example.com", "cy@example.com"]
    assert [(a["who"], a["via"], a["reason"]) for a in gate["approvals"]] == [
        ("bo@example.com", "server", "looks good"),
        ("cy@example.com", "server", ""),
    ]
    assert gate["seconds_left"] == 0
    _, stored = world.app.approvals.gate(deployment_id=d.id)
    assert stored.status is GateStatus.APPROVED

    shown = world.get(f"/api/v1/approvals/{d.id}").json()
    assert shown["status"] == "approved"
    assert shown["request"]["min_approvals"] == 2
    assert shown["request"]["approvers"] == list(APPROVERS)
    assert world.get("/api/v1/approvals").json() == []


def test_a_rejection_ends_the_gate_with_its_reason(world: World) -> None:
    d = world.request_production()
    response = world.post(
        f"/api/v1/approvals/{d.id}/reject", "cy@example.com", json={"reason": "  not during the sale  "}
    )
    assert response.status_code == 200, response.text
    gate = response.json()
    assert gate["status"] == "rejected"
    assert gate["rejection"]["who"] == "cy@example.com"
    assert gate["rejection"]["reason"] == "not during the sale"
    assert gate["rejection"]["verdict"] == "reject"
    _, stored = world.app.approvals.gate(deployment_id=d.id)
    assert stored.status is GateStatus.REJECTED
    assert stored.rejection is not None and stored.rejection.reason == "not during the sale"

    late = world.post(f"/api/v1/approvals/{d.id}/approve", "bo@example.com")
    assert_error(late, 409, "conflict")


def test_self_approval_is_refused_and_recorded(world: World) -> None:
    d = world.request_production()
    assert d.requested_by == REQUESTER
    response = world.post(f"/api/v1/approvals/{d.id}/approve", REQUESTER)
    error = assert_error(response, 403, "forbidden")
    assert "may not approve it (allow_self_approval is off)" in error["message"]
    refusals = world.get(f"/api/v1/approvals/{d.id}").json()["refusals"]
    assert [r["who"] for r in refusals] == [REQUESTER]


def test_an_unknown_approver_is_refused_and_recorded(world: World) -> None:
    d = world.request_production()
    response = world.post(f"/api/v1/approvals/{d.id}/approve", "dan@example.com")
    error = assert_error(response, 403, "forbidden")
    assert "dan@example.com is not an approver" in error["message"]

    events = world.get(f"/api/v1/deployments/{d.id}/events").json()
    refused = [e for e in events if e["type"] == "approval_refused"]
    assert len(refused) == 1
    assert refused[0]["who"] == "dan@example.com"
    assert "not an approver" in refused[0]["why"]
    assert world.get(f"/api/v1/approvals/{d.id}").json()["status"] == "pending"


@pytest.mark.parametrize(
    "path", ["/api/v1/status", "/api/v1/deployments", "/api/v1/approvals", "/api/v1/approvals/{id}"]
)
def test_missing_bad_or_revoked_tokens_get_401(world: World, path: str) -> None:
    d = world.request_production()
    url = path.replace("{id}", d.id)
    revoked = world.token("cy@example.com")
    world.app.tokens.revoke(token_id=revoked.split("_")[1])
    attempts = {
        "none": {},
        "not bearer": {"Authorization": f"Basic {world.token('bo@example.com')}"},
        "garbage": {"Authorization": "Bearer nonsense"},
        "unknown": {"Authorization": "Bearer arx_000000000000_" + "x" * 43},
        "wrong secret": {"Authorization": world.auth("bo@example.com")["Authorization"][:-4] + "abcd"},
        "revoked": {"Authorization": f"Bearer {revoked}"},
    }
    for name, headers in attempts.items():
        response = world.client.get(url, headers=headers)
        error = assert_error(response, 401, "unauthenticated")
        assert response.headers["www-authenticate"] == "Bearer", name
        if name == "revoked":
            assert "revoked" in error["message"]
    decided = world.client.post(f"/api/v1/approvals/{d.id}/approve", headers=attempts["revoked"])
    assert_error(decided, 401, "unauthenticated")
    assert world.app.approvals.gate(deployment_id=d.id)[1].approvals == ()


def test_approving_after_the_gate_expired_is_a_conflict(world: World) -> None:
    d = world.request_production()
    assert world.get(f"/api/v1/approvals/{d.id}").json()["seconds_left"] == 30 * 60
    world.clock.advance(timedelta(minutes=31))
    assert world.get(f"/api/v1/approvals/{d.id}").json()["status"] == "expired"
    error = assert_error(world.post(f"/api/v1/approvals/{d.id}/approve", "bo@example.com"), 409, "conflict")
    assert "not waiting for approval" in error["message"]
    assert error["hint"]


def test_the_same_approver_twice_is_a_conflict(world: World) -> None:
    d = world.request_production()
    assert world.post(f"/api/v1/approvals/{d.id}/approve", "bo@example.com").status_code == 200
    error = assert_error(world.post(f"/api/v1/approvals/{d.id}/approve", "BO@example.com"), 409, "conflict")
    assert "already approved" in error["message"]
    assert world.get(f"/api/v1/approvals/{d.id}").json()["approved_by"] == ["bo@example.com"]


def test_two_approvers_at_the_same_moment_are_both_recorded(world: World) -> None:
    d = world.request_production()
    headers = {email: world.auth(email) for email in ("bo@example.com", "cy@example.com")}
    barrier = threading.Barrier(2)
    answers: dict[str, int] = {}

    def approve(email: str) -> None:
        with httpx.Client(base_url=world.url, timeout=10) as client:
            barrier.wait(timeout=5)
            answers[email] = client.post(f"/api/v1/approvals/{d.id}/approve", headers=headers[email]).status_code

    threads = [threading.Thread(target=approve, args=(email,)) for email in headers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=15)
    assert answers == {"bo@example.com": 200, "cy@example.com": 200}
    gate = world.get(f"/api/v1/approvals/{d.id}").json()
    assert gate["status"] == "approved"
    assert sorted(gate["approved_by"]) == ["bo@example.com", "cy@example.com"]
    decisions = [e for e in world.get(f"/api/v1/deployments/{d.id}/events").json() if e["type"] == "approval"]
    assert len(decisions) == 2


def test_unknown_ids_are_404(world: World) -> None:
    world.request_production()
    for path in [
        "/api/v1/deployments/nosuchid-123",
        "/api/v1/deployments/nosuchid-123/events",
        "/api/v1/approvals/nosuchid-123",
        "/api/v1/approvals/x%00y",
    ]:
        error = assert_error(world.get(path), 404, "not_found")
        assert "nosuchid" in error["message"] or path.endswith("y")
    assert_error(world.post("/api/v1/approvals/nosuchid-123/approve", "bo@example.com"), 404, "not_found")
    assert_error(world.get("/api/v1/nothing-here"), 404, "not_found")
    assert_error(world.get("/api/v1/deployments", params={"environment": "moon"}), 404, "not_found")


def test_bad_bodies_and_parameters_get_the_422_shape(world: World) -> None:
    d = world.request_production()
    reject = f"/api/v1/approvals/{d.id}/reject"
    for body in [None, {}, {"reason": ""}, {"reason": "   "}, {"reason": "x" * 2001}, {"reason": 3}, ["no"]]:
        error = assert_error(world.post(reject, "bo@example.com", json=body), 422, "invalid_request")
        assert "reason" in error["message"] or "body" in error["message"]
    approve = f"/api/v1/approvals/{d.id}/approve"
    assert_error(world.post(approve, "bo@example.com", json={"reason": "x" * 2001}), 422, "invalid_request")
    assert_error(world.post(approve, "bo@example.com", json={"why": "extra"}), 422, "invalid_request")
    not_json = world.client.post(
        approve, headers={**world.auth("bo@example.com"), "Content-Type": "application/json"}, content=b"{nope"
    )
    assert_error(not_json, 422, "invalid_request")
    for limit in ("0", "501", "many"):
        assert_error(world.get("/api/v1/deployments", params={"limit": limit}), 422, "invalid_request")
    assert world.app.approvals.gate(deployment_id=d.id)[1].status is GateStatus.PENDING


def test_a_ci_run_started_by_the_approver_is_their_own(world: World) -> None:
    # A manual run recorded as the GitHub login "bo-gh", not as an email no approver would match.
    d, view = deploy(
        world.engine, plan=world.app.plan("production"), version="v2", reason="dispatch", actor="bo-gh", wait=False
    )
    assert view.state.value == "awaiting_approval"
    _, text = world.app.tokens.create(email="bo@example.com", created_by="admin@example.com", github="Bo-GH")
    own = world.client.post(f"/api/v1/approvals/{d.id}/approve", headers={"Authorization": f"Bearer {text}"})
    error = assert_error(own, 403, "forbidden")
    assert "may not approve it" in error["message"]
    assert world.get(f"/api/v1/approvals/{d.id}").json()["request"]["actor"] == "bo-gh"
    other = world.post(f"/api/v1/approvals/{d.id}/approve", "cy@example.com")
    assert other.status_code == 200, other.text
