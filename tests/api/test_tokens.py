"""Tokens over HTTP: only an admin's token manages them; roles and expiry hold on every request."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import httpx
import pytest

from arxdeploy.domain.roles import Role
from tests.api.conftest import World
from tests.api.test_approvals import assert_error


def bootstrap(world: World) -> dict[str, str]:
    _, text = world.app.tokens.bootstrap(email="root@example.com", created_by="ops@host")
    return {"Authorization": f"Bearer {text}"}


def create(world: World, headers: dict[str, str], **body: Any) -> httpx.Response:
    return world.client.post("/api/v1/tokens", headers=headers, json={"email": "dan@example.com", **body})


def test_managing_tokens_needs_an_admin_token(world: World) -> None:
    bootstrap(world)
    viewer, _ = world.app.tokens.create(email="vi@example.com", created_by="root@example.com", role=Role.VIEWER)
    _, viewer_text = world.app.tokens.create(email="vo@example.com", created_by="root@example.com", role=Role.VIEWER)
    approver = world.auth("bo@example.com")
    before = world.app.tokens.list()
    calls = [
        ("POST", "/api/v1/tokens", {"email": "eve@example.com", "role": "admin"}),
        ("GET", "/api/v1/tokens", None),
        ("POST", f"/api/v1/tokens/{viewer.id}/revoke", None),
    ]
    for method, path, body in calls:
        assert_error(world.client.request(method, path, json=body), 401, "unauthenticated")
        for who in ({"Authorization": f"Bearer {viewer_text}"}, approver):
            error = assert_error(world.client.request(method, path, json=body, headers=who), 403, "forbidden")
            assert "token, and this needs the admin role" in error["message"], error
            assert error["hint"]
    assert world.app.tokens.list() == before


def test_an_admin_creates_lists_and_revokes_tokens(world: World, caplog: pytest.LogCaptureFixture) -> None:
    admin = bootstrap(world)

    with caplog.at_level(logging.INFO, logger="arxdeploy"):
        made = create(world, admin, email=" Dan@Example.com ", role="approver", github="Dan-GH", expires_in="90d")

    assert made.status_code == 201, made.text
    body = made.json()
    secret = body["token"]
    assert secret.startswith(f"arx_{body['id']}_")
    assert body["email"] == "dan@example.com" and body["role"] == "approver" and body["github"] == "dan-gh"
    assert body["created_by"] == "root@example.com" and body["active"] is True and body["revoked_at"] is None
    assert world.app.tokens.identify(secret).expires_at == world.clock.now() + timedelta(days=90)
    assert world.client.get("/api/v1/status", headers={"Authorization": f"Bearer {secret}"}).status_code == 200

    listed = world.client.get("/api/v1/tokens", headers=admin)
    assert listed.status_code == 200
    assert sorted((t["email"], t["role"]) for t in listed.json()) == [
        ("dan@example.com", "approver"),
        ("root@example.com", "admin"),
    ]
    assert secret.removeprefix(f"arx_{body['id']}_") not in listed.text and "sha256" not in listed.text
    assert "approver token" in caplog.text and secret.removeprefix(f"arx_{body['id']}_") not in caplog.text

    revoked = world.client.post(f"/api/v1/tokens/{body['id']}/revoke", headers=admin)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_at"] is not None and revoked.json()["active"] is False
    again = world.client.post(f"/api/v1/tokens/{body['id']}/revoke", headers=admin)
    assert again.json() == revoked.json()  # revoking again changes nothing
    refused = world.client.get("/api/v1/status", headers={"Authorization": f"Bearer {secret}"})
    assert "revoked" in assert_error(refused, 401, "unauthenticated")["message"]
    assert_error(world.client.post("/api/v1/tokens/0123456789ab/revoke", headers=admin), 404, "not_found")


def test_an_expired_token_is_refused_saying_when(world: World) -> None:
    admin = bootstrap(world)
    body = create(world, admin, expires_in="1h").json()
    headers = {"Authorization": f"Bearer {body['token']}"}
    assert world.client.get("/api/v1/approvals", headers=headers).status_code == 200

    world.clock.advance(timedelta(hours=1))

    error = assert_error(world.client.get("/api/v1/approvals", headers=headers), 401, "unauthenticated")
    assert error["message"] == f"the token expired at {body['expires_at']}"
    assert error["hint"] and "admin" in error["hint"]
    listed = {t["id"]: t for t in world.client.get("/api/v1/tokens", headers=admin).json()}
    assert listed[body["id"]]["active"] is False and listed[body["id"]]["revoked_at"] is None


def test_a_viewer_token_reads_but_its_approval_is_refused_and_recorded(world: World) -> None:
    d = world.request_production()
    body = create(world, bootstrap(world), email="bo@example.com", role="viewer").json()
    headers = {"Authorization": f"Bearer {body['token']}"}
    assert world.client.get(f"/api/v1/approvals/{d.id}", headers=headers).status_code == 200

    error = assert_error(world.client.post(f"/api/v1/approvals/{d.id}/approve", headers=headers), 403, "forbidden")

    assert "viewer token" in error["message"]
    gate = world.get(f"/api/v1/approvals/{d.id}").json()
    assert gate["approved_by"] == [] and [r["who"] for r in gate["refusals"]] == ["bo@example.com"]


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"email": "ci-bot"}, 400, "not an email address"),
        ({"github": "-x-"}, 400, "not a GitHub login"),
        ({"expires_in": "0s"}, 400, "must not expire at once"),
        ({"expires_in": "367d"}, 422, "too long"),
        ({"expires_in": "soon"}, 422, "not a duration"),
        ({"role": "root"}, 422, "role"),
        ({"token": "arx_mine_chosen"}, 422, "token"),
    ],
)
def test_bad_token_requests_say_what_is_wrong(world: World, body: dict[str, str], status: int, says: str) -> None:
    admin = bootstrap(world)
    before = world.app.tokens.list()
    error = assert_error(create(world, admin, **body), status, "bad_request" if status == 400 else "invalid_request")
    assert says in error["message"]
    assert world.app.tokens.list() == before
