"""`arxdeploy route` end to end: GitHub's variables and event file in; outputs, summary, annotations out."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from arxdeploy.cli.options import Options
from arxdeploy.cli.route import route

from .outputs import parse_outputs

SHA = "0123456789abcdef0123456789abcdef01234567"
KEYS = {"environment", "action", "needs_approval", "version", "reason"}


@pytest.fixture
def actions(tmp_path: Path) -> dict[str, str]:
    """GitHub Actions' variables for a push of main, with empty output, summary and event files."""
    files = tmp_path / "runner"
    files.mkdir()
    for name in ("output", "summary.md"):
        (files / name).touch()
    (files / "event.json").write_text("{}", encoding="utf-8")
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": "push",
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_SHA": SHA,
        "GITHUB_BASE_REF": "",
        "GITHUB_OUTPUT": str(files / "output"),
        "GITHUB_STEP_SUMMARY": str(files / "summary.md"),
        "GITHUB_EVENT_PATH": str(files / "event.json"),
    }


def invoke(config: Path, *args: str, env: Mapping[str, str] | None = None) -> Result:
    return CliRunner().invoke(route, list(args), obj=Options(config, verbose=False), env=dict(env or {}))


def event_file(actions: Mapping[str, str], payload: dict[str, Any]) -> None:
    Path(actions["GITHUB_EVENT_PATH"]).write_text(json.dumps(payload), encoding="utf-8")


def outputs(actions: Mapping[str, str]) -> dict[str, str]:
    return parse_outputs(Path(actions["GITHUB_OUTPUT"]))


def test_a_push_of_main_writes_every_output_and_a_summary(seed_config: Path, actions: dict[str, str]) -> None:
    result = invoke(seed_config, env=actions)
    assert result.exit_code == 0, result.output
    assert outputs(actions) == {
        "environment": "production",
        "action": "deploy",
        "needs_approval": "true",
        "version": "0123456789ab",
        "reason": "push of branch main matches production's branches (main): "
        "deploy 0123456789ab to production, after approval",
    }
    summary = Path(actions["GITHUB_STEP_SUMMARY"]).read_text(encoding="utf-8")
    assert "| environment | production |" in summary and "| approval | needed |" in summary
    assert "| version | 0123456789ab |" in summary
    assert result.stdout.splitlines() == [
        outputs(actions)["reason"],
        "action=deploy environment=production version=0123456789ab needs_approval=true",
    ]


@pytest.mark.parametrize(
    ("variables", "payload", "args", "expected"),
    [
        ({"GITHUB_REF": "refs/heads/develop"}, {}, [], ("staging", "deploy", "false", "0123456789ab")),
        ({"GITHUB_REF": "refs/tags/v1.2.0"}, {}, [], ("production", "deploy", "true", "v1.2.0")),
        ({"GITHUB_REF": "refs/heads/feature/x"}, {}, [], ("", "none", "false", "")),
        ({}, {}, ["--ref", "refs/heads/develop"], ("staging", "deploy", "false", "0123456789ab")),
        ({"GITHUB_SHA": ""}, {}, [], ("production", "deploy", "true", "main")),
        ({}, {}, ["--sha", "ABCDEF1234567890"], ("production", "deploy", "true", "abcdef123456")),
        (
            {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_REF": "refs/pull/3/merge"},
            {"pull_request": {"base": {"ref": "main"}}},
            [],
            ("production", "validate", "false", "0123456789ab"),
        ),
        (
            {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_REF": "refs/pull/3/merge", "GITHUB_BASE_REF": "develop"},
            {},
            [],
            ("staging", "validate", "false", "0123456789ab"),
        ),
        (
            {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_REF": "refs/pull/3/merge"},
            {"pull_request": {"base": {"ref": "main"}}},
            ["--base-ref", "develop"],
            ("staging", "validate", "false", "0123456789ab"),
        ),
        (
            {"GITHUB_EVENT_NAME": "workflow_dispatch", "GITHUB_REF": "refs/heads/feature/x"},
            {"inputs": {"environment": "staging"}},
            [],
            ("staging", "deploy", "false", "0123456789ab"),
        ),
        (
            {"GITHUB_EVENT_NAME": "workflow_dispatch"},
            {"inputs": {"environment": "staging"}},
            ["--input-environment", "production"],
            ("production", "deploy", "true", "0123456789ab"),
        ),
        (
            {"GITHUB_EVENT_NAME": "workflow_dispatch", "GITHUB_REF": "refs/heads/develop"},
            {"inputs": {"environment": ""}},
            [],
            ("staging", "deploy", "false", "0123456789ab"),
        ),
        ({"GITHUB_EVENT_NAME": "schedule"}, {}, [], ("", "none", "false", "")),
    ],
)
def test_github_variables_event_file_and_flags(
    seed_config: Path,
    actions: dict[str, str],
    variables: dict[str, str],
    payload: dict[str, Any],
    args: list[str],
    expected: tuple[str, str, str, str],
) -> None:
    event_file(actions, payload)
    result = invoke(seed_config, *args, env={**actions, **variables})
    assert result.exit_code == 0, result.output
    written = outputs(actions)
    assert set(written) == KEYS
    assert (written["environment"], written["action"], written["needs_approval"], written["version"]) == expected


def test_nothing_to_deploy_exits_0_and_says_why(seed_config: Path, actions: dict[str, str]) -> None:
    result = invoke(seed_config, env={**actions, "GITHUB_REF": "refs/heads/feature/x"})
    assert result.exit_code == 0
    assert outputs(actions)["reason"] == (
        "nothing to deploy: push of refs/heads/feature/x matches no environment's branches or tags "
        "(staging: develop; production: main, v*)"
    )
    assert "::error" not in result.stdout


def test_a_value_with_a_line_break_is_written_in_heredoc_form(seed_config: Path, actions: dict[str, str]) -> None:
    result = invoke(seed_config, "--ref", "refs/heads/odd\nversion=v9", env=actions)
    assert result.exit_code == 0, result.output
    written = outputs(actions)
    assert written["version"] == ""
    assert written["reason"].startswith("nothing to deploy: push of refs/heads/odd\nversion=v9 matches no")
    assert "reason<<ghadelimiter_" in Path(actions["GITHUB_OUTPUT"]).read_text(encoding="utf-8")
    assert "odd<br>version=v9" in Path(actions["GITHUB_STEP_SUMMARY"]).read_text(encoding="utf-8")


def test_json_prints_one_object_with_the_decision(seed_config: Path) -> None:
    result = invoke(seed_config, "--ref", "refs/tags/v1.2.0", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "event": "push",
        "ref": "refs/tags/v1.2.0",
        "environment": "production",
        "action": "deploy",
        "needs_approval": True,
        "version": "v1.2.0",
        "reason": "push of tag v1.2.0 matches production's tags (v*): deploy v1.2.0 to production, after approval",
    }


def test_an_unknown_input_environment_exits_2_with_an_annotation(seed_config: Path, actions: dict[str, str]) -> None:
    env = {**actions, "GITHUB_EVENT_NAME": "workflow_dispatch"}
    result = invoke(seed_config, "--input-environment", "prod", env=env)
    assert result.exit_code == 2
    assert "known: staging, production" in result.stderr
    annotation = "::error title=arxdeploy::workflow_dispatch asks for environment 'prod', which is not in the config;"
    assert result.stdout.startswith(annotation)
    assert "%0A" in result.stdout and "did you mean 'production'?" in result.stdout
    assert Path(actions["GITHUB_OUTPUT"]).read_text(encoding="utf-8") == ""


def test_ambiguous_patterns_exit_2_with_an_escaped_multiline_annotation(
    seed_config: Path, actions: dict[str, str]
) -> None:
    text = seed_config.read_text(encoding="utf-8").replace("branches: [develop]", "branches: [develop, 'ma*']")
    seed_config.write_text(text, encoding="utf-8")
    result = invoke(seed_config, env=actions)
    assert result.exit_code == 2
    assert "error: branch main matches more than one environment: staging (ma*), production (main)" in result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("::error")]
    assert line.startswith(
        "::error title=arxdeploy::branch main matches more than one environment: staging (ma*), production (main)%0A"
    )
    assert "disjoint" in line


def test_a_config_error_is_annotated_too(tmp_path: Path, actions: dict[str, str]) -> None:
    result = invoke(tmp_path / "missing.yaml", env=actions)
    assert result.exit_code == 2
    assert result.stdout.startswith("::error title=arxdeploy::")
    assert "\n" not in result.stdout.rstrip("\n")


def test_with_json_an_error_is_one_json_line_beside_the_annotation(seed_config: Path, actions: dict[str, str]) -> None:
    env = {**actions, "GITHUB_EVENT_NAME": "workflow_dispatch"}
    result = invoke(seed_config, "--json", "--input-environment", "nope", env=env)
    assert result.exit_code == 2
    lines = result.stdout.splitlines()
    (annotation,) = [line for line in lines if line.startswith("::")]
    (error,) = [json.loads(line) for line in lines if not line.startswith("::")]
    assert annotation.startswith("::error title=arxdeploy::")
    assert error["exit_code"] == 2 and "known: staging, production" in error["error"]


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        ([], {}, "--event push --ref refs/heads/main"),
        (["--ref", "main"], {}, "refs/heads/BRANCH"),
        (["--event", "push"], {}, "--ref"),
        (["--ref", "refs/heads/main", "--sha", "not-a-sha"], {}, "--sha 'not-a-sha' is not a commit id"),
        ([], {"GITHUB_EVENT_NAME": "push", "GITHUB_REF": "refs/heads/main", "GITHUB_SHA": "xyz"}, "$GITHUB_SHA"),
        (["--event", "push", "--ref", "refs/heads/main", "--input-environment", "staging"], {}, "workflow_dispatch"),
    ],
)
def test_usage_errors_outside_actions_say_what_to_pass(
    seed_config: Path, args: list[str], env: dict[str, str], says: str
) -> None:
    result = invoke(seed_config, *args, env=env)
    assert result.exit_code == 2
    assert says in result.stderr
    assert result.stdout == ""  # no annotation outside GitHub Actions


def test_only_a_ref_routes_as_a_push_outside_actions(seed_config: Path) -> None:
    result = invoke(seed_config, "--ref", "refs/heads/develop")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[-1] == "action=deploy environment=staging version=develop needs_approval=false"


def test_route_creates_no_state(seed_config: Path, actions: dict[str, str]) -> None:
    before = sorted(p.name for p in seed_config.parent.iterdir())
    for ref in ("refs/heads/main", "refs/heads/develop", "refs/heads/feature/x"):
        assert invoke(seed_config, env={**actions, "GITHUB_REF": ref}).exit_code == 0
    assert not (seed_config.parent / ".arxdeploy").exists()
    assert sorted(p.name for p in seed_config.parent.iterdir()) == before


def test_in_a_real_process_an_error_is_an_annotation_and_exit_2(seed_config: Path, actions: dict[str, str]) -> None:
    code = (
        "from arxdeploy.cli.main import cli; from arxdeploy.cli.route import route; "
        "cli.add_command(route); cli(prog_name='arxdeploy')"
    )
    env = {**actions, "GITHUB_EVENT_NAME": "workflow_dispatch", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", code, "-c", str(seed_config), "route", "--input-environment", "qa"],
        capture_output=True,
        text=True,
        env=env,
        cwd=seed_config.parent,
        check=False,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout.startswith("::error title=arxdeploy::workflow_dispatch asks for environment 'qa'")
    assert done.stderr.startswith("error: workflow_dispatch asks for environment 'qa'")
    assert not (seed_config.parent / ".arxdeploy").exists()
