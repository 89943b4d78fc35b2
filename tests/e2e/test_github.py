"""`deploy` inside GitHub Actions: the run is recorded, outputs and a summary are written, errors annotated."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.routing.outputs import parse_outputs

from .conftest import Service

pytestmark = pytest.mark.slow


def actions_env(service: Service, tmp: Path) -> dict[str, str]:
    (tmp / "output").write_text("")
    (tmp / "summary.md").write_text("")
    return {
        **service.env,
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(tmp / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp / "summary.md"),
        "GITHUB_REF": "refs/heads/develop",
        "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
        "GITHUB_ACTOR": "ana-gh",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "arxos/arxos",
        "GITHUB_RUN_ID": "4242",
    }


def test_a_deploy_in_actions_records_the_run_and_writes_outputs(service: Service, tmp_path: Path) -> None:
    in_actions = Service(service.folder, service.port, actions_env(service, tmp_path))
    done = in_actions.run("deploy", "--env", "staging", "--version", "v1")
    assert done.returncode == 0, done.stderr

    outputs = parse_outputs(tmp_path / "output")
    assert outputs["state"] == "succeeded" and outputs["environment"] == "staging" and outputs["version"] == "v1"
    assert "runs v1" in outputs["outcome"]
    assert f"`{outputs['deployment_id']}`" in (tmp_path / "summary.md").read_text()

    shown = service.json("show", outputs["deployment_id"])
    assert (shown["git_ref"], shown["git_sha"]) == ("refs/heads/develop", "0123456789abcdef0123456789abcdef01234567")
    assert (shown["actor"], shown["run_url"]) == ("ana-gh", "https://github.com/arxos/arxos/actions/runs/4242")


def test_errors_in_actions_become_annotations(service: Service, tmp_path: Path) -> None:
    in_actions = Service(service.folder, service.port, actions_env(service, tmp_path))
    done = in_actions.run("deploy", "--env", "prod", "--version", "v1")
    assert done.returncode == 2
    annotation = next(line for line in done.stdout.splitlines() if line.startswith("::error"))
    assert "no environment 'prod'" in annotation and "\n" not in annotation
    assert (tmp_path / "output").read_text() == ""


def test_a_rolled_back_deploy_in_actions_says_why_on_the_run(service: Service, tmp_path: Path) -> None:
    in_actions = Service(service.folder, service.port, actions_env(service, tmp_path))
    assert in_actions.run("deploy", "--env", "staging", "--version", "v1").returncode == 0
    done = in_actions.run("deploy", "--env", "staging", "--version", "v2-fails-after-1s")
    assert done.returncode == 1
    annotation = next(line for line in done.stdout.splitlines() if line.startswith("::error"))
    assert "rolled back" in annotation and "traffic is back on blue (v1)" in annotation
