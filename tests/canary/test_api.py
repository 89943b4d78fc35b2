"""Promote and abort through the server: a token names who, its role and the environment's
approvers say whether they may, and every answer or refusal is recorded."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from arxdeploy.domain.events import Deployment, Event
from arxdeploy.domain.plan import CanaryPlan, CanaryStep
from arxdeploy.domain.roles import Role
from arxdeploy.engine.pause import pauses
from tests.api.conftest import World
from tests.api.conftest import world as world  # noqa: PLC0414 - the fixture, shared
from tests.api.test_approvals import assert_error
from tests.api.test_cli import run
from tests.drive import deploy


class Stopped(BaseException):
    """The deploying process stops where the test wants the record (it escapes the engine)."""


def paused_canary(world: World) -> Deployment:
    """staging runs v1; a canary of v2 is recorded waiting for a person at 30% (its process stopped there)."""
    world.deploy_staging("v1")
    plan = dataclasses.replace(
        world.app.plan("staging"), canary=CanaryPlan(steps=(CanaryStep(weight=30), CanaryStep(until_approved=True)))
    )

    def stop(d: Deployment, event: Event) -> None:
        if event.type == "paused":
            raise Stopped

    engine = dataclasses.replace(world.engine, hooks=[*world.engine.hooks, stop])
    with pytest.raises(Stopped):
        deploy(engine, plan=plan, version="v2")
    return world.app.store.unfinished(service="demo-api", environment="staging")[0].deployment


def answers(world: World, d: Deployment) -> list[dict[str, Any]]:
    return [e.to_json() for e in world.app.store.events(deployment_id=d.id) if e.type in ("promoted", "aborted")]


def test_an_approver_promotes_with_their_token_and_the_record_names_them(world: World) -> None:
    d = paused_canary(world)
    done = world.post(f"/api/v1/deployments/{d.id}/promote", "bo@example.com", json={"reason": "error rate flat"})
    assert done.status_code == 200, done.text
    body = done.json()
    assert (body["action"], body["who"], body["via"], body["state"]) == (
        "promote",
        "bo@example.com",
        "server",
        "progressing",
    )
    assert body["line"] == "promoted by bo@example.com (via server): error rate flat"
    assert [(a["type"], a["who"], a["via"]) for a in answers(world, d)] == [("promoted", "bo@example.com", "server")]
    assert pauses(world.app.store.events(deployment_id=d.id)).open is None
    shown = world.get(f"/api/v1/deployments/{d.id}").json()
    assert shown["canary"] == {"weight": 30, "step": "2/2 pause (weight 30%)", "paused": None}


def test_an_abort_needs_a_reason_and_is_recorded_with_it(world: World) -> None:
    d = paused_canary(world)
    assert world.get(f"/api/v1/deployments/{d.id}").json()["canary"]["paused"] == "canary step 2/2 at 30%"
    assert_error(world.post(f"/api/v1/deployments/{d.id}/abort", "cy@example.com", json={}), 422, "invalid_request")
    done = world.post(f"/api/v1/deployments/{d.id}/abort", "cy@example.com", json={"reason": "5xx on checkout"})
    assert done.status_code == 200, done.text
    assert done.json()["line"] == "aborted by cy@example.com (via server): 5xx on checkout"
    again = world.post(f"/api/v1/deployments/{d.id}/promote", "bo@example.com")
    assert "already aborted" in assert_error(again, 409, "conflict")["message"]


def test_refusals_are_recorded_and_change_nothing(world: World) -> None:
    d = paused_canary(world)
    outsider = world.post(f"/api/v1/deployments/{d.id}/promote", "dan@example.com")
    assert "not an approver" in assert_error(outsider, 403, "forbidden")["message"]
    _, viewer = world.app.tokens.create(email="bo@example.com", created_by="admin@example.com", role=Role.VIEWER)
    looked = world.client.post(
        f"/api/v1/deployments/{d.id}/abort", headers={"Authorization": f"Bearer {viewer}"}, json={"reason": "x"}
    )
    assert "viewer token" in assert_error(looked, 403, "forbidden")["message"]
    log = world.app.store.events(deployment_id=d.id)
    assert [(e.data["who"], e.data["action"]) for e in log if e.type == "pause_refused"] == [
        ("dan@example.com", "promote"),
        ("bo@example.com", "abort"),
    ]
    assert answers(world, d) == [] and pauses(log).open is not None


def test_a_deployment_that_is_not_a_canary_or_paused_has_nothing_to_answer(world: World) -> None:
    d = world.deploy_staging("v1")
    refused = world.post(f"/api/v1/deployments/{d.id}/promote", "bo@example.com")
    assert "nothing to promote" in assert_error(refused, 409, "conflict")["message"]
    assert_error(
        world.post("/api/v1/deployments/20991231-000000-zzzz/abort", "bo@example.com", json={"reason": "x"}),
        404,
        "not_found",
    )


def test_the_cli_promotes_through_the_server_with_the_persons_token(world: World) -> None:
    d = paused_canary(world)
    done = run(world, "promote", d.id, "--server", world.url, "--json", ARXDEPLOY_TOKEN=world.token("cy@example.com"))
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["line"] == "promoted by cy@example.com (via server)"
    assert [(a["who"], a["via"]) for a in answers(world, d)] == [("cy@example.com", "server")]


def test_the_cli_in_ci_without_a_server_is_refused_and_recorded(world: World) -> None:
    d = paused_canary(world)
    done = run(world, "abort", d.id, "--reason", "flaky", CI="true")
    assert done.exit_code != 0
    assert "only declared" in done.stderr
    log = world.app.store.events(deployment_id=d.id)
    assert [e.data["who"] for e in log if e.type == "pause_refused"] == ["bo@example.com"]
    assert answers(world, d) == []
