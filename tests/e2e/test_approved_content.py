"""What runs after approval is what was approved: content edited during the wait voids approvals.

A real `deploy` process waits at its gate; a check script it will run is edited; two approvers
approve over HTTP through a real `arxdeploy server`. The waiting process must not run the
edited script, nor the old one on the strength of approvals given to content that changed: it
ends `rejected`, and so does a `resume` of another request in the same situation.
"""

from __future__ import annotations

import json

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
def served(service: Service) -> tuple[Service, dict[str, str]]:
    port = free_port()
    service.write(checks_extra="  custom_checks:\n    - name: smoke\n      script: check.sh")
    with service.config.open("a", encoding="utf-8") as config:
        config.write(GATES.format(port=port))
    (service.folder / "check.sh").write_text(CHECK)
    (service.folder / "check.sh").chmod(0o755)
    service.env["ARXDEPLOY_EMAIL"] = "dee@example.com"  # the requester, not an approver
    service.env.pop("CI", None)
    service.env.pop("GITHUB_ACTIONS", None)
    service.start("server", "--port", str(port))  # stopped by the service fixture
    wait_until(lambda: answers(f"http://127.0.0.1:{port}/healthz"), timeout=120, interval=0.2, what="the server")
    root = json.loads(service.run("token", "bootstrap", "--for", "root@example.com", "--json").stdout)["token"]
    admin = Service(service.folder, service.port, {**service.env, "ARXDEPLOY_TOKEN": root})
    tokens = {
        who: json.loads(admin.run("token", "create", "--for", who, "--json").stdout)["token"]
        for who in ("ana@example.com", "bo@example.com")
    }
    return service, tokens


def approve_over_http(service: Service, token: str, deployment_id: str) -> None:
    person = Service(service.folder, service.port, {**service.env, "ARXDEPLOY_TOKEN": token})
    done = person.run("approve", deployment_id)
    assert done.returncode == 0, done.stderr


def test_a_script_edited_while_deploy_waits_voids_the_approvals_and_never_runs(
    served: tuple[Service, dict[str, str]],
) -> None:
    service, tokens = served
    marker = service.folder / "edited-script-ran"
    deploy = service.start("deploy", "--env", "staging", "--version", "v1", "--json")
    asked = service.wait_for(deploy, "v1", "awaiting_approval")
    (service.folder / "check.sh").write_text(EDITED.format(marker=marker))
    for person in ("ana@example.com", "bo@example.com"):
        approve_over_http(service, tokens[person], asked.deployment.id)
    assert deploy.wait(timeout=60) == 3, service.output(deploy)
    ended = json.loads(service.output(deploy))
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
