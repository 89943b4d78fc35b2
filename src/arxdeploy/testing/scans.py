"""Image scan reports as the scanners write them, for tests and benchmarks of the vulnerabilities gate.

Each follows its scanner's published format (the sources are cited in
``arxdeploy.security.reports``): Trivy's ``Report`` (``pkg/types/report.go``), Grype's
``Document`` (``grype/presenter/models``), and SARIF 2.1.0 as Trivy writes it.
"""

from __future__ import annotations

from typing import Any

IMAGE = "registry.example.com/shop/web:1.4.0"
DIGEST = "sha256:" + "a" * 64

# (id, package, installed, severity, fixed or None)
Vuln = tuple[str, str, str, str, str | None]


def trivy_report(vulns: list[Vuln], *, digest: str = DIGEST, image: str = IMAGE) -> dict[str, Any]:
    repo = image.rsplit(":", 1)[0]
    return {
        "SchemaVersion": 2,
        "CreatedAt": "2026-12-01T10:00:00Z",
        "ArtifactName": image,
        "ArtifactType": "container_image",
        "Metadata": {
            "OS": {"Family": "debian", "Name": "12.8"},
            "ImageID": "sha256:" + "c" * 64,
            "DiffIDs": ["sha256:" + "d" * 64],
            "RepoTags": [image],
            "RepoDigests": [f"{repo}@{digest}"],
        },
        "Results": [
            {
                "Target": f"{image} (debian 12.8)",
                "Class": "os-pkgs",
                "Type": "debian",
                "Vulnerabilities": [
                    {
                        "VulnerabilityID": vid,
                        "PkgID": f"{pkg}@{installed}",
                        "PkgName": pkg,
                        "InstalledVersion": installed,
                        **({"FixedVersion": fixed} if fixed else {}),
                        "Status": "fixed" if fixed else "affected",
                        "Severity": severity.upper(),
                        "Title": f"{pkg}: a flaw",
                    }
                    for vid, pkg, installed, severity, fixed in vulns
                ],
            }
        ],
    }


def grype_report(vulns: list[Vuln], *, digest: str = DIGEST, image: str = IMAGE) -> dict[str, Any]:
    repo = image.rsplit(":", 1)[0]
    return {
        "matches": [
            {
                "vulnerability": {
                    "id": vid,
                    "dataSource": f"https://security-tracker.debian.org/tracker/{vid}",
                    "namespace": "debian:distro:debian:12",
                    "severity": severity.capitalize(),
                    "urls": [],
                    "cvss": [],
                    "fix": {"versions": [fixed] if fixed else [], "state": "fixed" if fixed else "not-fixed"},
                    "advisories": [],
                },
                "relatedVulnerabilities": [],
                "matchDetails": [],
                "artifact": {
                    "id": f"{pkg}-id",
                    "name": pkg,
                    "version": installed,
                    "type": "deb",
                    "locations": [{"path": "/var/lib/dpkg/status"}],
                    "language": "",
                    "licenses": [],
                    "cpes": [],
                    "purl": f"pkg:deb/debian/{pkg}@{installed}",
                    "upstreams": [],
                },
            }
            for vid, pkg, installed, severity, fixed in vulns
        ],
        "source": {
            "type": "image",
            "target": {
                "userInput": image,
                "imageID": "sha256:" + "c" * 64,
                "manifestDigest": "sha256:" + "e" * 64,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "tags": [image],
                "imageSize": 1000,
                "layers": [],
                "manifest": "",
                "config": "",
                "repoDigests": [f"{repo}@{digest}"],
                "architecture": "amd64",
                "os": "linux",
            },
        },
        "distro": {"name": "debian", "version": "12", "idLike": []},
        "descriptor": {"name": "grype", "version": "0.80.0"},
    }


_SCORES = {"critical": "9.8", "high": "7.5", "medium": "5.3", "low": "2.0", "unknown": "0.0"}


def sarif_report(vulns: list[Vuln], *, digest: str = DIGEST, image: str = IMAGE) -> dict[str, Any]:
    repo = image.rsplit(":", 1)[0]
    rules = {
        vid: {
            "id": vid,
            "name": "OsPackageVulnerability",
            "shortDescription": {"text": f"{pkg}: a flaw"},
            "properties": {"security-severity": _SCORES[severity], "tags": ["vulnerability", severity.upper()]},
        }
        for vid, pkg, _installed, severity, _fixed in vulns
    }
    return {
        "version": "2.1.0",
        "$schema": "https://raw.githubusercontent.com/oasis-tcs/sarif-spec/main/sarif-2.1/schema/sarif-schema-2.1.0.json",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "Trivy",
                        "informationUri": "https://github.com/aquasecurity/trivy",
                        "rules": list(rules.values()),
                    }
                },
                "results": [
                    {
                        "ruleId": vid,
                        "level": "error" if severity in ("high", "critical") else "warning",
                        "message": {
                            "text": f"Package: {pkg}\nInstalled Version: {installed}\nVulnerability {vid}\n"
                            f"Severity: {severity.upper()}\nFixed Version: {fixed or ''}\n"
                        },
                        "locations": [
                            {"physicalLocation": {"artifactLocation": {"uri": image, "uriBaseId": "ROOTPATH"}}}
                        ],
                    }
                    for vid, pkg, installed, severity, fixed in vulns
                ],
                "properties": {"imageName": image, "repoDigests": [f"{repo}@{digest}"]},
            }
        ],
    }
