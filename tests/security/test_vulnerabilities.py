"""The vulnerabilities gate on reports written in each scanner's published format."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from arxdeploy.domain.security import Severity, Status
from arxdeploy.security import vulnerabilities
from tests.security.evidence import DIGEST, IMAGE, OTHER_DIGEST, config, grype_report, sarif_report, trivy_report, write

TODAY = date(2026, 12, 5)
FOUND = [
    ("CVE-2026-0001", "openssl", "3.0.2-1", "critical", "3.0.2-2"),
    ("CVE-2026-0002", "zlib", "1.2.13", "high", None),
    ("CVE-2026-0003", "curl", "7.88.1", "medium", "7.88.2"),
]
FORMATS = {"trivy": trivy_report, "grype": grype_report, "sarif": sarif_report}


def run(tmp_path: Path, security: dict[str, Any] | None = None, *, digest: str | None = DIGEST, **kw: Any):
    return vulnerabilities.check(
        config=config(security=security or {}),
        base_dir=tmp_path,
        version="1.4.0",
        image=kw.pop("image", IMAGE),
        digest=digest,
        today=kw.pop("today", TODAY),
        environ=kw.pop("environ", {"PATH": ""}),
    )


@pytest.mark.parametrize("kind", list(FORMATS))
def test_each_format_fails_at_high_and_names_id_package_severity_and_fix(tmp_path: Path, kind: str) -> None:
    write(tmp_path, "report.json", FORMATS[kind](FOUND))
    result = run(tmp_path, {"vulnerabilities": {"reports": ["report.json"]}})
    assert result.status is Status.FAILED
    assert "2 vulnerabilities at high or above" in result.summary
    by_id = {f.rule: f for f in result.findings}
    assert set(by_id) == {"CVE-2026-0001", "CVE-2026-0002"}  # medium is below fail_on
    assert by_id["CVE-2026-0001"].severity is Severity.CRITICAL
    assert "openssl 3.0.2-1" in by_id["CVE-2026-0001"].message
    assert "fixed in 3.0.2-2" in by_id["CVE-2026-0001"].message
    assert by_id["CVE-2026-0002"].fixable is False
    assert result.facts["counts"] == {"unknown": 0, "low": 0, "medium": 1, "high": 1, "critical": 1}


@pytest.mark.parametrize("kind", list(FORMATS))
def test_a_report_of_another_digest_is_not_evidence(tmp_path: Path, kind: str) -> None:
    write(tmp_path, "report.json", FORMATS[kind]([], digest=OTHER_DIGEST))
    result = run(tmp_path, {"vulnerabilities": {"reports": ["report.json"]}})
    assert result.status is Status.FAILED
    assert OTHER_DIGEST in result.summary and f"not of {DIGEST}" in result.summary


def test_without_a_digest_the_image_name_must_match(tmp_path: Path) -> None:
    write(tmp_path, "report.json", trivy_report([], image="registry.example.com/shop/web:1.3.9"))
    result = run(tmp_path, {"vulnerabilities": {"reports": ["report.json"]}}, digest=None)
    assert result.status is Status.FAILED and "not of registry.example.com/shop/web:1.4.0" in result.summary
    write(tmp_path, "report.json", trivy_report([]))
    assert run(tmp_path, {"vulnerabilities": {"reports": ["report.json"]}}, digest=None).status is Status.PASSED


def test_only_fixed_lets_through_what_has_no_fix(tmp_path: Path) -> None:
    write(tmp_path, "report.json", trivy_report(FOUND))
    result = run(tmp_path, {"vulnerabilities": {"reports": ["report.json"], "only_fixed": True}})
    assert result.status is Status.FAILED
    assert [f.rule for f in result.findings] == ["CVE-2026-0001"]


def test_fail_on_critical_passes_a_high(tmp_path: Path) -> None:
    write(tmp_path, "report.json", grype_report(FOUND[1:]))
    result = run(tmp_path, {"vulnerabilities": {"reports": ["report.json"], "fail_on": "critical"}})
    assert result.status is Status.PASSED
    assert "none at critical" in result.summary and "(2 found in all)" in result.summary


def test_an_allowed_vulnerability_passes_with_its_reason_until_it_expires(tmp_path: Path) -> None:
    write(tmp_path, "report.json", trivy_report(FOUND[:1]))
    allow = [{"id": "CVE-2026-0001", "reason": "not reachable: no TLS in this image", "expires": "2026-12-31"}]
    settings = {"vulnerabilities": {"reports": ["report.json"], "allow": allow}}
    passed = run(tmp_path, settings)
    assert passed.status is Status.PASSED and "1 allowed by the config" in passed.summary
    assert passed.findings[0].allowed == "not reachable: no TLS in this image (until 2026-12-31)"
    expired = run(tmp_path, settings, today=date(2027, 1, 1))
    assert expired.status is Status.FAILED
    assert "1 expired allow entry" in expired.summary
    rules = {f.rule: f for f in expired.findings}
    assert "expired on 2026-12-31" in rules["allow.expired"].message
    assert rules["CVE-2026-0001"].allowed is None  # counted as found again


def test_no_report_when_required_fails_with_the_command_to_make_one(tmp_path: Path) -> None:
    result = run(tmp_path, {"vulnerabilities": {"required": True}})
    assert result.status is Status.FAILED
    assert f"trivy image --format json --output trivy-report.json {IMAGE}" in result.summary
    assert run(tmp_path).status is Status.WARNING  # not required: shown, does not block


def test_the_local_target_has_no_image(tmp_path: Path) -> None:
    result = vulnerabilities.check(
        config=config(target="local"),
        base_dir=tmp_path,
        version="1",
        image=None,
        digest=None,
        today=TODAY,
        environ={},
    )
    assert result.status is Status.NOT_APPLICABLE and "local target runs no container image" in result.summary


def test_reports_by_glob_version_and_variable(tmp_path: Path) -> None:
    (tmp_path / "scans").mkdir()
    write(tmp_path / "scans", "trivy-1.4.0.json", trivy_report(FOUND[2:]))
    write(tmp_path / "scans", "grype-1.4.0.json", grype_report(FOUND[2:]))
    write(tmp_path, "ci.json", sarif_report(FOUND[1:2]))
    settings = {"vulnerabilities": {"reports": ["scans/*-{version}.json"]}}
    result = run(tmp_path, settings)
    assert result.status is Status.PASSED
    assert result.facts["scanners"] == ["grype", "trivy"]
    assert result.facts["counts"]["medium"] == 1  # the same finding in two reports counts once
    both = run(tmp_path, settings, environ={"ARXDEPLOY_SCAN_REPORT": "ci.json"})
    assert both.status is Status.FAILED and [f.rule for f in both.findings] == ["CVE-2026-0002"]


def test_a_report_that_is_not_json_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "report.json").write_text("<html>", encoding="utf-8")
    result = run(tmp_path, {"vulnerabilities": {"reports": ["report.json"]}})
    assert result.status is Status.FAILED and "report.json is not JSON" in result.summary
    result = run(tmp_path, {"vulnerabilities": {"reports": ["missing.json"]}})
    assert result.status is Status.FAILED and "cannot read the scan report" in result.summary


def test_trivy_on_path_is_run_on_the_digest_when_there_is_no_report(tmp_path: Path) -> None:
    # A trivy executable that writes what `trivy image --format json --output F REF` writes.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    made = write(tmp_path, "made.json", trivy_report(FOUND[:1]))
    script = bin_dir / "trivy"
    script.write_text(
        "#!/bin/sh\n"
        'echo "$@" > "$(dirname "$0")/args"\n'
        'while [ "$1" != "--output" ]; do shift; done\n'
        f'cp {made} "$2"\n',
        encoding="utf-8",
    )
    script.chmod(0o755)
    result = run(tmp_path, environ={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    assert result.status is Status.FAILED and [f.rule for f in result.findings] == ["CVE-2026-0001"]
    args = (bin_dir / "args").read_text(encoding="utf-8").split()
    assert args[:4] == ["image", "--quiet", "--format", "json"]
    assert args[-1] == f"registry.example.com/shop/web@{DIGEST}"


def test_a_scanner_that_fails_is_named_with_its_last_words(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "trivy"
    script.write_text("#!/bin/sh\necho 'pulling the image'\necho 'FATAL: unauthorized' >&2\nexit 1\n")
    script.chmod(0o755)
    result = run(tmp_path, environ={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    assert result.status is Status.FAILED
    assert result.summary.endswith(
        f"`trivy` failed to scan registry.example.com/shop/web@{DIGEST}: pulling the image FATAL: unauthorized"
    ), result.summary


def test_a_report_made_by_digest_names_no_tag_and_is_taken_for_the_repository(tmp_path: Path) -> None:
    by_digest = trivy_report([], image=f"registry.example.com/shop/web@{DIGEST}")
    write(tmp_path, "report.json", by_digest)
    assert run(tmp_path, {"vulnerabilities": {"reports": ["report.json"]}}, digest=None).status is Status.PASSED
    other = trivy_report([], image=f"registry.example.com/shop/api@{DIGEST}")
    write(tmp_path, "report.json", other)
    assert run(tmp_path, {"vulnerabilities": {"reports": ["report.json"]}}, digest=None).status is Status.FAILED
