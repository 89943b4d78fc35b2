"""Image scan reports, read into one shape whatever the scanner: Trivy JSON, Grype JSON, SARIF 2.1.0.

The formats as their projects publish them:

- Trivy: ``Report`` in aquasecurity/trivy ``pkg/types/report.go`` (``ArtifactName``,
  ``Metadata.RepoDigests``/``ImageID``/``RepoTags``, ``Results[].Vulnerabilities[]`` with
  ``VulnerabilityID``, ``PkgName``, ``InstalledVersion``, ``FixedVersion``, ``Severity``).
- Grype: ``Document`` in anchore/grype ``grype/presenter/models/document.go`` (``matches[]`` of
  ``vulnerability`` {``id``, ``severity``, ``fix`` {``versions``, ``state``}} and ``artifact``
  {``name``, ``version``}; ``source.target`` {``userInput``, ``imageID``, ``manifestDigest``,
  ``repoDigests``, ``tags``}).
- SARIF 2.1.0 (OASIS, schema ``sarif-schema-2.1.0.json``), as Trivy and Grype write it:
  ``runs[].results[]`` with ``ruleId`` and ``level``, the severity in the rule's
  ``properties.security-severity`` (a CVSS score, as GitHub code scanning reads it).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arxdeploy.domain.security import Severity
from arxdeploy.errors import ArxdeployError


@dataclass(frozen=True)
class Vulnerability:
    id: str
    package: str
    installed: str
    severity: Severity
    fixed: str | None  # the version that fixes it, if there is one
    title: str = ""


@dataclass(frozen=True)
class Scan:
    """What one report says: which image it is of, and what was found in it."""

    path: str
    scanner: str  # trivy, grype, or the SARIF tool's name
    image: str | None  # the name the scanner was given (ArtifactName, userInput)
    digests: tuple[str, ...]  # sha256:... the image is known by (repo digests, image ID)
    vulnerabilities: tuple[Vulnerability, ...] = field(default=())


class ReportError(ArxdeployError):
    """A report that cannot be read: names the file and what is wrong with it."""


def read(path: Path) -> Scan:
    """Read one report, telling the format from its content."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ReportError(f"cannot read the scan report {path}: {exc.strerror}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ReportError(
            f"the scan report {path} is not JSON ({exc})",
            hint="write it with `trivy image --format json`, `grype -o json` or a SARIF output",
        ) from exc
    return parse(raw, str(path))


def parse(raw: Any, where: str) -> Scan:
    if isinstance(raw, Mapping):
        if "Results" in raw or "ArtifactName" in raw or "SchemaVersion" in raw:
            return _trivy(raw, where)
        if "matches" in raw:
            return _grype(raw, where)
        if "runs" in raw and str(raw.get("version", "")).startswith("2.1"):
            return _sarif(raw, where)
    raise ReportError(
        f"the scan report {where} is neither Trivy JSON, Grype JSON nor SARIF 2.1.0",
        hint="write it with `trivy image --format json`, `grype -o json` or `--format sarif`",
    )


def severity_of(text: object) -> Severity:
    try:
        return Severity(str(text).lower())
    except ValueError:
        return Severity.UNKNOWN


def _trivy(raw: Mapping[str, Any], where: str) -> Scan:
    meta = raw.get("Metadata") or {}
    found = []
    for result in _list(raw.get("Results"), where, "Results"):
        for v in _list(result.get("Vulnerabilities"), where, "Results[].Vulnerabilities"):
            found.append(
                Vulnerability(
                    id=_text(v, "VulnerabilityID", where),
                    package=str(v.get("PkgName") or v.get("PkgID") or ""),
                    installed=str(v.get("InstalledVersion") or ""),
                    severity=severity_of(v.get("Severity")),
                    fixed=str(v["FixedVersion"]) if v.get("FixedVersion") else None,
                    title=str(v.get("Title") or ""),
                )
            )
    digests = [*_digests(meta.get("RepoDigests")), *_digests([meta.get("ImageID")])]
    return Scan(where, "trivy", raw.get("ArtifactName"), tuple(digests), tuple(found))


def _grype(raw: Mapping[str, Any], where: str) -> Scan:
    target = (raw.get("source") or {}).get("target") or {}
    if not isinstance(target, Mapping):  # a directory or file scan: target is a path
        target = {"userInput": str(target)}
    found = []
    for match in _list(raw.get("matches"), where, "matches"):
        vuln, artifact = match.get("vulnerability") or {}, match.get("artifact") or {}
        fix = vuln.get("fix") or {}
        versions = [str(x) for x in fix.get("versions") or []]
        found.append(
            Vulnerability(
                id=_text(vuln, "id", where),
                package=str(artifact.get("name") or ""),
                installed=str(artifact.get("version") or ""),
                severity=severity_of(vuln.get("severity")),
                fixed=versions[0] if versions and fix.get("state") == "fixed" else None,
                title=str(vuln.get("description") or "")[:200],
            )
        )
    digests = [
        *_digests(target.get("repoDigests")),
        *_digests([target.get("manifestDigest"), target.get("imageID")]),
    ]
    return Scan(where, "grype", target.get("userInput"), tuple(digests), tuple(found))


# GitHub's reading of security-severity scores (CVSS v3 bands).
def _from_score(score: float) -> Severity:
    if score >= 9.0:
        return Severity.CRITICAL
    if score >= 7.0:
        return Severity.HIGH
    if score >= 4.0:
        return Severity.MEDIUM
    return Severity.LOW if score > 0 else Severity.UNKNOWN


_LEVELS = {"error": Severity.HIGH, "warning": Severity.MEDIUM, "note": Severity.LOW}


def _sarif(raw: Mapping[str, Any], where: str) -> Scan:
    found = []
    scanner, image = "sarif", None
    digests: list[str] = []
    for run in _list(raw.get("runs"), where, "runs"):
        driver = (run.get("tool") or {}).get("driver") or {}
        scanner = str(driver.get("name") or scanner).lower()
        rules = {str(r.get("id")): r for r in driver.get("rules") or [] if isinstance(r, Mapping)}
        props = run.get("properties") or {}  # Trivy writes imageName and repoDigests here
        image = props.get("imageName") or image
        digests += _digests(props.get("repoDigests")) + _digests([props.get("imageID")])
        for result in _list(run.get("results"), where, "runs[].results"):
            rule_id = _text(result, "ruleId", where)
            rule = rules.get(rule_id) or {}
            score = (rule.get("properties") or {}).get("security-severity")
            try:
                severity = _from_score(float(score)) if score is not None else None
            except ValueError:
                severity = None
            message = str((result.get("message") or {}).get("text") or "")
            found.append(
                Vulnerability(
                    id=rule_id,
                    package=_sarif_field(message, "Package"),
                    installed=_sarif_field(message, "Installed Version"),
                    severity=severity or _LEVELS.get(str(result.get("level", "warning")), Severity.UNKNOWN),
                    fixed=_sarif_field(message, "Fixed Version") or None,
                    title=message.splitlines()[0][:200] if message else "",
                )
            )
    return Scan(where, scanner, image, tuple(digests), tuple(found))


def _sarif_field(message: str, name: str) -> str:
    # Trivy's SARIF message text: "Package: openssl\nInstalled Version: 3.0.2\n...".
    for line in message.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == name:
            return value.strip()
    return ""


def _digests(values: object) -> list[str]:
    """The sha256 digests in a list of ``repo@sha256:...`` or bare ``sha256:...`` strings."""
    if not isinstance(values, Sequence) or isinstance(values, str):
        return []
    out = []
    for value in values:
        if isinstance(value, str) and "sha256:" in value:
            out.append("sha256:" + value.rsplit("sha256:", 1)[1])
    return out


def _list(value: object, where: str, key: str) -> list[Mapping[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(x, Mapping) for x in value):
        raise ReportError(f"the scan report {where} has a {key} that is not a list of objects")
    return value


def _text(item: Mapping[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if not value:
        raise ReportError(f"the scan report {where} has an entry without {key}")
    return str(value)
