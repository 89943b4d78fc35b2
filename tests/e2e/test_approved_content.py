"""What runs after approval is what was approved: content edited during the wait voids approvals.

A real `deploy` process waits at its gate; a check script it will run is edited; two approvers
approve over HTTP through a real `arxdeploy server`. The waiting process must not run the
edited script, nor the old one on the strength of approvals given to content that changed: it
ends `rejected`, and so does a `resume` of another request in the same situation.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest

from tests.support import answers, free_port, wait_until

from .conftest import Service

pytestmark = pytest.mark.slow

GATES = """
approval_gates:
  enabled: true
  required_for: [staging]
  approvers: [ana@example.com, bo@example.com]
  min_approvals: 2
  auto_approve_staging: false
server:
  url: http://127.0.0.1:{port}
"""
CHECK = "#!/bin/sh\nexit 0\n"
EDITED = "#!/bin/sh\necho edited >> {marker}\nexit 0\n"


@pytest.fixture
def served(service: Service) -> Iterator[tuple[Service, dict[str, str]]]:
    port = free_port()
    service.write(checks_extra="  custom_checks:\n    - name: smoke\n      script: check.sh")
    with service.config.open("a", encoding="utf-8") as config:
        config.write(GATES.format(port=port))
    (service.folder / "check.sh").write_text(CHECK)
    (service.folder / "check.sh").chmod(0o755)
    service.env["ARXDEPLOY_EMAIL"] = "dee@example.com"  # the requester, not an approver
    service.env.pop("CI", None)
    service.env.pop("GITHUB_ACTIONS", None)
    server = subprocess.Popen(
        service.command("server", "--port", str(port)),
        env=service.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: answers(f"http://127.0.0.1:{port}/healthz"), timeout=30, what="the server")
        root = json.loads(service.run("token", "bootstrap", "--for", "root@example.com", "--json").stdout)["token"]
        admin = Service(service.folder, service.port, {**service.env, "ARXDEPLOY_TOKEN": root})
        tokens = {
            who: json.loads(admin.run("token", "create", "--for", who, "--json").stdout)["token"]
            for who in ("ana@example.com", "bo@example.com")
        }
        yield service, tokens
    finally:
        server.terminate()
        server.wait(timeout=30)


def approve_over_http(service: Service, token: str, deployment_id: str) -> None:
    person = Service(service.folder, service.port, {**service.env, "ARXDEPLOY_TOKEN": token})
    done = person.run("approve", deployment_id)
    assert done.returncode == 0, done.stderr


def pending(service: Service) -> dict[str, object] | None:
    rows = service.json("approvals")
    return rows[0] if rows else None


def test_a_script_edited_while_deploy_waits_voids_the_approvals_and_never_runs(
    served: tuple[Service, dict[str, str]],
) -> None:
    service, tokens = served
    marker = service.folder / "edited-script-ran"
    deploy = subprocess.Popen(
        service.command("deploy", "--env", "staging", "--version", "v1", "--json"),
        env=service.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        row = wait_until(lambda: pending(service), timeout=60, what="the approval request")
        (service.folder / "check.sh").write_text(EDITED.format(marker=marker))
        for person in ("ana@example.com", "bo@example.com"):
            approve_over_http(service, tokens[person], str(row["id"]))
        out, err = deploy.communicate(timeout=60)
    finally:
        if deploy.poll() is None:
            deploy.kill()
            deploy.communicate()
    assert deploy.returncode == 3, err
    ended = json.loads(out)
    assert ended["state"] == "rejected"
    assert "changed since approval was asked" in ended["failure"]["reason"]
    assert not marker.exists()  # the edited script never ran
    assert service.served_version() is None  # nothing was deployed


def test_resume_after_an_edit_ends_rejected_the_same_way(served: tuple[Service, dict[str, str]]) -> None:
    service, tokens = served
    asked = service.json("deploy", "--env", "staging", "--version", "v1", "--no-wait")
    assert asked["state"] == "awaiting_approval"
    (service.folder / "check.sh").write_text(CHECK.replace("exit 0", "exit 0 # edited"))
    for person in ("ana@example.com", "bo@example.com"):
        approve_over_http(service, tokens[person], asked["id"])

    resumed = service.run("resume", asked["id"], "--json")

    assert resumed.returncode == 3, resumed.stderr
    ended = json.loads(resumed.stdout)
    assert ended["state"] == "rejected"
    assert "changed since approval was asked" in ended["failure"]["reason"]
    assert service.served_version() is None


def test_content_left_as_approved_runs(served: tuple[Service, dict[str, str]]) -> None:
    service, tokens = served
    asked = service.json("deploy", "--env", "staging", "--version", "v1", "--no-wait")
    for person in ("ana@example.com", "bo@example.com"):
        approve_over_http(service, tokens[person], asked["id"])
    resumed = service.run("resume", asked["id"], "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert service.served_version() == "v1"
