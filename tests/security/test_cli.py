"""`arxdeploy security check`: the gates without deploying, in every output people and CI read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from arxdeploy.cli.main import cli
from tests.security.evidence import grype_report, trivy_report, write

IMAGE = "registry.example.com/shop/web:1.4.0"
CONFIG = """\
service: web
store_url: sqlite:///{folder}/state.db
target:
  type: kubernetes
  kubernetes:
    image: registry.example.com/shop/web:{{version}}
environments:
  production:
    replicas: 2
security:
  vulnerabilities:
    reports: [{report}]
    allow:
      - id: CVE-2026-0009
        reason: the parser is not used
        expires: 2999-01-01
"""
CRITICAL = [("CVE-2026-0001", "openssl", "3.0.2-1", "critical", "3.0.2-2")]
ALLOWED = [("CVE-2026-0009", "libxml2", "2.9.14", "high", None)]


def project(tmp_path: Path, vulns: list, report: str = "scan.json") -> Path:
    write(tmp_path, report, trivy_report(vulns, image=IMAGE))
    config = tmp_path / "deployment_config.yaml"
    config.write_text(CONFIG.format(report=report, folder=tmp_path), encoding="utf-8")
    return config


def run(config: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    base = {"ARXDEPLOY_CONFIG": None, "GITHUB_ACTIONS": None, "GITHUB_STEP_SUMMARY": None, "KUBECONFIG": "/nonexistent"}
    result = CliRunner().invoke(cli, ["-c", str(config), "security", "check", *args], env={**base, **(env or {})})
    return result.exit_code, result.stdout


def test_a_failed_gate_exits_1_and_the_table_names_it(tmp_path: Path) -> None:
    code, out = run(project(tmp_path, CRITICAL + ALLOWED), "--env", "production", "--version", "1.4.0")
    assert code == 1
    assert "vulnerabilities │ FAILED" in out
    assert "CVE-2026-0001 critical: openssl 3.0.2-1: critical, fixed in 3.0.2-2" in out
    assert "(allowed: the parser is not used (until 2999-01-01))" in out


def test_json_lists_every_gate_and_finding(tmp_path: Path) -> None:
    code, out = run(project(tmp_path, CRITICAL + ALLOWED), "--env", "production", "--version", "1.4.0", "--json")
    assert code == 1
    data = json.loads(out)
    assert (data["service"], data["environment"], data["version"], data["passed"]) == (
        "web",
        "production",
        "1.4.0",
        False,
    )
    gates = {g["gate"]: g for g in data["gates"]}
    assert gates["vulnerabilities"]["status"] == "failed"
    assert [f["rule"] for f in gates["vulnerabilities"]["findings"]] == ["CVE-2026-0001", "CVE-2026-0009"]
    assert gates["vulnerabilities"]["findings"][1]["allowed"].startswith("the parser is not used")
    assert gates["tls"]["status"] == "not_applicable"


def test_passing_gates_exit_0_and_nothing_is_recorded(tmp_path: Path) -> None:
    config = project(tmp_path, ALLOWED)
    code, out = run(config, "--env", "production", "--version", "1.4.0", "--json")
    assert code == 0 and json.loads(out)["passed"] is True
    # Read-only: no deployment came of it.
    code, out = run_plain(config, "history", "--json")
    assert code == 0 and json.loads(out) == []


def run_plain(config: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["-c", str(config), *args], env={"ARXDEPLOY_CONFIG": None})
    return result.exit_code, result.stdout


def test_a_report_of_another_image_fails(tmp_path: Path) -> None:
    config = project(tmp_path, [])
    write(tmp_path, "scan.json", grype_report([], image="registry.example.com/shop/web:1.3.0"))
    code, out = run(config, "--env", "production", "--version", "1.4.0", "--json")
    gate = next(g for g in json.loads(out)["gates"] if g["gate"] == "vulnerabilities")
    assert code == 1 and "is of registry.example.com/shop/web:1.3.0, not of " + IMAGE in gate["summary"]


def test_inside_github_actions_a_summary_and_annotations_are_written(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    code, out = run(project(tmp_path, CRITICAL), "--env", "production", "--version", "1.4.0", env=env)
    assert code == 1
    text = summary.read_text(encoding="utf-8")
    assert "### Security gates: web 1.4.0 to production — blocked" in text
    assert "| vulnerabilities | ❌ FAILED |" in text
    assert "| CVE-2026-0001 | critical |" in text
    errors = [line for line in out.splitlines() if line.startswith("::error")]
    assert errors == [
        "::error title=arxdeploy::security gate vulnerabilities: 1 vulnerability at high or above in "
        f"{IMAGE}; CVE-2026-0001"
    ]


@pytest.mark.parametrize("version", ["1.4.0 bad", ""])
def test_a_version_the_target_cannot_carry_is_refused(tmp_path: Path, version: str) -> None:
    code, _ = run(project(tmp_path, []), "--env", "production", "--version", version)
    assert code == 2


def test_an_unknown_environment_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["-c", str(project(tmp_path, [])), "security", "check", "--env", "prod", "--version", "1"],
        env={"ARXDEPLOY_CONFIG": None},
    )
    assert result.exit_code == 2 and "production" in result.stderr
