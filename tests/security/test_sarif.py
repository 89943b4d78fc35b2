"""The SARIF file is valid SARIF 2.1.0 (the OASIS schema, kept in fixtures/) and carries what
GitHub code scanning reads."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
from click.testing import CliRunner

from arxdeploy.cli.main import cli
from arxdeploy.domain.security import Finding, GateResult, Severity, Status
from arxdeploy.security import sarif
from tests.security.test_cli import ALLOWED, CRITICAL, project

# sarif-2.1/schema/sarif-schema-2.1.0.json of github.com/oasis-tcs/sarif-spec at e0583813964e.
SCHEMA = json.loads((Path(__file__).parent / "fixtures" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))


def validate(doc: dict) -> None:
    jsonschema.Draft4Validator(SCHEMA).validate(doc)


def test_the_cli_writes_a_valid_sarif_file(tmp_path: Path) -> None:
    out = tmp_path / "security.sarif"
    result = CliRunner().invoke(
        cli,
        [
            "-c",
            str(project(tmp_path, CRITICAL + ALLOWED)),
            "security",
            "check",
            "--env",
            "production",
            "--version",
            "1.4.0",
            "--sarif",
            str(out),
        ],
        env={"ARXDEPLOY_CONFIG": None, "GITHUB_WORKSPACE": str(tmp_path), "GITHUB_ACTIONS": None},
    )
    assert result.exit_code == 1
    doc = json.loads(out.read_text(encoding="utf-8"))
    validate(doc)
    run = doc["runs"][0]
    assert run["automationDetails"]["id"] == "arxdeploy/web/production/"
    by_rule = {r["ruleId"]: r for r in run["results"]}
    assert by_rule["CVE-2026-0001"]["level"] == "error"
    location = by_rule["CVE-2026-0001"]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert location == "deployment_config.yaml"  # relative to the repository (the workspace)
    assert by_rule["CVE-2026-0009"]["suppressions"] == [
        {"kind": "external", "justification": "the parser is not used (until 2999-01-01)"}
    ]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert rules["CVE-2026-0001"]["properties"]["security-severity"] == "9.5"
    assert run["tool"]["driver"]["rules"][by_rule["CVE-2026-0009"]["ruleIndex"]]["id"] == "CVE-2026-0009"


def test_a_gate_that_failed_without_findings_is_a_result_at_the_files_line() -> None:
    results = (
        GateResult("tls", Status.FAILED, "https://shop.example.com: the certificate has expired"),
        GateResult(
            "secrets",
            Status.FAILED,
            "1 secret",
            (Finding("secret.AWSKeyDetector", "an AWS key", Severity.HIGH, "k8s/a.yaml", 12),),
        ),
        GateResult("network_policy", Status.NOT_APPLICABLE, "local target"),
    )
    doc = sarif.document(
        results, config_file="deploy/deployment_config.yaml", service="web", environment="prod", version="2"
    )
    validate(doc)
    got = [
        (
            r["ruleId"],
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            r["locations"][0]["physicalLocation"]["region"]["startLine"],
        )
        for r in doc["runs"][0]["results"]
    ]
    assert got == [("tls", "deploy/deployment_config.yaml", 1), ("secret.AWSKeyDetector", "k8s/a.yaml", 12)]
    assert doc["runs"][0]["properties"]["gates"]["network_policy"] == "not_applicable"


def test_an_empty_run_is_valid_too() -> None:
    validate(sarif.document((), config_file="deployment_config.yaml", service="web", environment="p", version="1"))
