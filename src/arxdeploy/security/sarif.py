"""Gate results as a SARIF 2.1.0 log, for GitHub code scanning (``github/codeql-action/upload-sarif``).

Shaped by the OASIS schema (``sarif-schema-2.1.0.json``, which the tests validate against) and by
what GitHub reads: a ``security-severity`` score on each rule (critical from 9.0, high from 7.0,
medium from 4.0), at least one physical location per result, ``partialFingerprints`` to follow a
finding across runs, and ``automationDetails.id`` as the category (one per environment).
A finding the config allows is kept, with an external suppression giving its reason.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from arxdeploy import __version__
from arxdeploy.domain.security import Finding, GateResult, Severity, Status

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
_SCORE = {
    Severity.CRITICAL: "9.5",
    Severity.HIGH: "8.0",
    Severity.MEDIUM: "5.5",
    Severity.LOW: "2.0",
    Severity.UNKNOWN: "0.0",
}
_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.UNKNOWN: "note",
}


def document(
    results: Sequence[GateResult], *, config_file: str, service: str, environment: str, version: str
) -> dict[str, Any]:
    """The SARIF log; ``config_file`` (relative to the repository) is where findings without a
    file of their own (an image's vulnerability, a certificate) are shown."""
    rules: dict[str, dict[str, Any]] = {}
    out: list[dict[str, Any]] = []
    for result in results:
        findings = list(result.findings)
        if not findings and result.status in (Status.FAILED, Status.WARNING):
            severity = Severity.HIGH if result.status is Status.FAILED else Severity.MEDIUM
            findings = [Finding(rule=result.gate, message=result.summary, severity=severity)]
        for finding in findings:
            rule = rules.setdefault(finding.rule, _rule(finding, result.gate, len(rules)))
            if float(_SCORE[finding.severity]) > float(rule["properties"]["security-severity"]):
                rule["properties"]["security-severity"] = _SCORE[finding.severity]
            out.append(_result(finding, result.gate, rule["_index"], config_file))
    for rule in rules.values():
        del rule["_index"]
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "arxdeploy",
                        "version": __version__,
                        "semanticVersion": __version__,
                        "rules": list(rules.values()),
                    }
                },
                "automationDetails": {"id": f"arxdeploy/{service}/{environment}/"},
                "invocations": [{"executionSuccessful": True}],
                "results": out,
                "properties": {
                    "service": service,
                    "environment": environment,
                    "version": version,
                    "gates": {r.gate: r.status.value for r in results},
                },
            }
        ],
    }


def _rule(finding: Finding, gate: str, index: int) -> dict[str, Any]:
    return {
        "_index": index,
        "id": finding.rule,
        "name": _pascal(gate),
        "shortDescription": {"text": f"{gate}: {finding.rule}"},
        "defaultConfiguration": {"level": _LEVEL[finding.severity]},
        "properties": {"security-severity": _SCORE[finding.severity], "tags": ["security", gate]},
    }


def _result(finding: Finding, gate: str, index: int, config_file: str) -> dict[str, Any]:
    region = {"startLine": finding.line if finding.line and finding.line > 0 else 1}
    result: dict[str, Any] = {
        "ruleId": finding.rule,
        "ruleIndex": index,
        "level": _LEVEL[finding.severity],
        "message": {"text": f"{gate}: {finding.message}"},
        "locations": [
            {"physicalLocation": {"artifactLocation": {"uri": finding.file or config_file}, "region": region}}
        ],
        "partialFingerprints": {
            "arxdeploy/v1": hashlib.sha256(f"{gate}\0{finding.rule}\0{finding.message}".encode()).hexdigest()
        },
    }
    if finding.allowed:
        result["suppressions"] = [{"kind": "external", "justification": finding.allowed}]
    return result


def _pascal(gate: str) -> str:
    return "".join(part.capitalize() for part in gate.split("_"))
