"""Approval gates through the real CLI: wait, approve from another process, kill and resume."""

from __future__ import annotations

import json
import os
import signal

import httpx
import pytest

from tests.support import free_port, wait_until

from .conftest import Service

pytestmark = pytest.mark.slow

GATES = """
approval_gates:
  enabled: true
  required_for: [staging]
  approvers: [ana@example.com, bo@example.com]
  auto_approve_staging: false
"""


@pytest.fixture
def gated(service: Service) -> Service:
    with service.config.open("a", encoding="utf-8") as config:
        config.write(GATES)
    service.env["ARXDEPLOY_EMAIL"] = "ana@example.com"  # who asks for the deployments: an approver too
    for name in ("CI", "GITHUB_ACTIONS"):  # people at their terminals, even when the suite runs in CI
        service.env.pop(name, None)
    return service


def as_person(service: Service, email: str) -> Service:
    return Service(folder=service.folder, port=service.port, env={**service.env, "ARXDEPLOY_EMAIL": email})


def pending(service: Service) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = service.json("approvals")
    return rows


def test_a_waiting_deploy_moves_on_once_approved(gated: Service) -> None:
    deploy = gated.start("deploy", "--env", "staging", "--version", "v1")
    asked = gated.wait_for(deploy, "v1", "awaiting_approval")
    (row,) = pending(gated)
    assert row["id"] == asked.deployment.id
    assert row["requested_by"] == "ana@example.com" and row["approvers"] == ["ana@example.com", "bo@example.com"]

    refused = as_person(gated, "ana@example.com").run("approve", str(row["id"]))
    assert refused.returncode == 3
    assert "may not approve it" in refused.stderr
    stranger = as_person(gated, "eve@example.com").run("approve", str(row["id"]))
    assert stranger.returncode == 3 and "not an approver" in stranger.stderr
    assert deploy.poll() is None  # refusals leave it waiting

    approved = as_person(gated, "bo@example.com").run("approve", str(row["id"]), "--reason", "looks good")
    assert approved.returncode == 0, approved.stderr
    assert "trusts whoever runs this command" in approved.stderr
    assert deploy.wait(timeout=60) == 0  # the waiting process itself drove on: no resume
    shown = gated.json("show", str(row["id"]))
    events = shown["events"]
    kinds = [(e["type"], e.get("step") or e.get("state")) for e in events]
    approval = next(e for e in events if e["type"] == "approval")
    assert (approval["who"], approval["via"], approval["reason"]) == ("bo@example.com", "cli", "looks good")
    # The gate ended with the approval, and everything after it followed from there.
    gate_end = kinds.index(("step", "gate"))
    assert kinds.index(("approval", None)) < gate_end < kinds.index(("state", "backing_up"))
    assert events[gate_end]["outcome"] == "ok"
    refusals = [e["who"] for e in events if e["type"] == "approval_refused"]
    assert refusals == ["ana@example.com", "eve@example.com"]
    assert gated.served_version() == "v1"


def test_a_deploy_killed_while_waiting_is_resumed_after_the_approval(gated: Service) -> None:
    deploy = gated.start("deploy", "--env", "staging", "--version", "v1")
    asked = gated.wait_for(deploy, "v1", "awaiting_approval")
    (row,) = pending(gated)
    assert row["id"] == asked.deployment.id
    os.kill(deploy.pid, signal.SIGKILL)
    deploy.wait()

    assert gated.run("status").returncode == 0  # another command does not end a waiting deployment
    assert [r["id"] for r in pending(gated)] == [row["id"]]
    assert as_person(gated, "bo@example.com").run("approve", str(row["id"])).returncode == 0
    resumed = gated.run("resume", str(row["id"]), "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["state"] == "succeeded"
    assert gated.served_version() == "v1"


def test_no_wait_then_a_rejection_ends_it_with_exit_3(gated: Service) -> None:
    asked = gated.run("deploy", "--env", "staging", "--version", "v1", "--no-wait", "--json")
    assert asked.returncode == 0, asked.stderr
    deployment = json.loads(asked.stdout)
    assert deployment["state"] == "awaiting_approval"

    rejected = as_person(gated, "ana@example.com").run("reject", deployment["id"], "--reason", "freeze")
    assert rejected.returncode == 0 and "rejected by ana@example.com: freeze" in rejected.stdout
    resumed = gated.run("resume", deployment["id"])
    assert resumed.returncode == 3
    assert gated.served_version() is None


def test_approvals_through_the_server_are_made_as_the_token_owner(gated: Service) -> None:
    port = free_port()
    server = gated.start("server", "--port", str(port))
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: answers(f"{url}/healthz"), timeout=120, interval=0.2, what="the server")
    metrics = httpx.get(f"{url}/metrics", timeout=5).text
    assert "arxdeploy_pending_approvals" in metrics and "_created" not in metrics
    root = json.loads(gated.run("token", "bootstrap", "--for", "root@example.com", "--json").stdout)["token"]
    admin = Service(gated.folder, gated.port, {**gated.env, "ARXDEPLOY_TOKEN": root})
    bo, eve = (
        json.loads(admin.run("token", "create", "--for", who, "--server", url, "--json").stdout)["token"]
        for who in ("bo@example.com", "eve@example.com")
    )
    asked = json.loads(gated.run("deploy", "--env", "staging", "--version", "v1", "--no-wait", "--json").stdout)

    # The local email says ana (the requester); the server only believes the token.
    stranger = Service(gated.folder, gated.port, {**gated.env, "ARXDEPLOY_TOKEN": eve})
    refused = stranger.run("approve", asked["id"], "--server", url)
    assert refused.returncode == 3 and "eve@example.com is not an approver" in refused.stderr
    no_token = gated.run("approve", asked["id"], "--server", url)
    assert no_token.returncode == 2 and "ARXDEPLOY_TOKEN" in no_token.stderr

    approver = Service(gated.folder, gated.port, {**gated.env, "ARXDEPLOY_TOKEN": bo})
    approved = approver.run("approve", asked["id"], "--server", url, "--json")
    assert approved.returncode == 0, approved.stderr
    gate = json.loads(approved.stdout)
    assert gate["status"] == "approved" and gate["approvals"][0]["who"] == "bo@example.com"
    assert gate["approvals"][0]["via"] == "server"
    assert bo not in approved.stdout + approved.stderr
    server.terminate()
    server.wait(timeout=30)
    assert gated.run("resume", asked["id"]).returncode == 0
    assert gated.served_version() == "v1"


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
