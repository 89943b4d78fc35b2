"""Gate ``vulnerabilities``: the image's scan report, checked to be of what is deployed, and the policy on it.

Scanners need the network and a vulnerability database, so they run in CI: the build job writes
the report, the deploy job hands it over (``security.vulnerabilities.reports`` or the
``ARXDEPLOY_SCAN_REPORT`` variable). With no report, ``trivy`` or ``grype`` on ``PATH`` is run here.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path

from arxdeploy import scripts
from arxdeploy.config.models import AllowedVulnerability, Config, VulnerabilityGate
from arxdeploy.domain.security import Finding, GateResult, Severity, Status
from arxdeploy.security import reports
from arxdeploy.security.reports import ReportError, Scan, Vulnerability

GATE = "vulnerabilities"
REPORT_VARIABLE = "ARXDEPLOY_SCAN_REPORT"  # report paths (os.pathsep between them), set by the deploy job
SCAN_TIMEOUT_SECONDS = 600
RANK = {s: i for i, s in enumerate([Severity.UNKNOWN, Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL])}


def check(
    *,
    config: Config,
    base_dir: Path,
    version: str,
    image: str | None,
    digest: str | None,
    today: date,
    environ: Mapping[str, str],
) -> GateResult:
    settings = config.security.vulnerabilities
    paths = report_paths(settings, base_dir, version, environ)
    if not paths and image is None:
        return GateResult(GATE, Status.NOT_APPLICABLE, f"the {config.target.type} target runs no container image")
    scans: list[Scan] = []
    try:
        if paths:
            scans = [reports.read(p) for p in paths]
        elif settings.scan and image is not None and (scanned := _scan_here(image, digest, environ)) is not None:
            scans = [scanned]
    except ReportError as exc:
        return GateResult(GATE, Status.FAILED, exc.message, facts={"image": image, "digest": digest})
    if not scans:
        return _no_report(settings, image, version)
    return judge(scans, settings, image=image, digest=digest, today=today)


def report_paths(settings: VulnerabilityGate, base_dir: Path, version: str, environ: Mapping[str, str]) -> list[Path]:
    """The reports named by the config (globs, ``{version}``) and by ``ARXDEPLOY_SCAN_REPORT``."""
    patterns = [p.replace("{version}", version) for p in settings.reports]
    patterns += [p for p in environ.get(REPORT_VARIABLE, "").split(os.pathsep) if p]
    found: list[Path] = []
    for pattern in patterns:
        full = base_dir / pattern
        # glob.glob: a pattern may be absolute (the variable), which Path.glob refuses.
        matches = sorted(glob.glob(str(full))) if glob.has_magic(pattern) else [str(full)]  # noqa: PTH207
        found += [Path(m) for m in matches if Path(m) not in found]
    return found


def judge(
    scans: Sequence[Scan], settings: VulnerabilityGate, *, image: str | None, digest: str | None, today: date
) -> GateResult:
    """Apply the policy to what the reports found (pure: no I/O)."""
    facts: dict[str, object] = {
        "image": image,
        "digest": digest,
        "reports": [s.path for s in scans],
        "scanners": sorted({s.scanner for s in scans}),
    }
    wrong = [problem for s in scans if (problem := _of_another_image(s, image, digest))]
    if wrong:
        return GateResult(GATE, Status.FAILED, wrong[0], facts=facts)
    threshold = Severity(settings.fail_on)
    allowed = {a.id: a for a in settings.allow}
    findings: list[Finding] = []
    counts: dict[str, int] = {s.value: 0 for s in RANK}
    blocking = 0
    for vuln in _unique(scans):
        counts[vuln.severity.value] += 1
        if RANK[vuln.severity] < RANK[threshold] or (settings.only_fixed and vuln.fixed is None):
            continue
        entry = allowed.get(vuln.id)
        note = _allowance(entry, today) if entry else None
        if note is None:
            blocking += 1
        findings.append(_finding(vuln, note))
    expired = [a for a in settings.allow if a.expires < today]
    for entry in expired:
        findings.append(
            Finding(
                rule="allow.expired",
                message=f"security.vulnerabilities.allow entry {entry.id} expired on {entry.expires.isoformat()} "
                f"({entry.reason}): fix it, or renew the entry with a new reason",
                severity=threshold,
            )
        )
    facts["counts"] = counts
    findings.sort(key=lambda f: (f.allowed is not None, -RANK[f.severity], f.rule))
    what = f"{image or 'the image'}" + (f" ({digest[:19]}…)" if digest else "")
    level = f"{threshold.value}{'' if threshold is Severity.CRITICAL else ' or above'}"
    fixable = " with a fix" if settings.only_fixed else ""
    if blocking or expired:
        ids = ", ".join(f.rule for f in findings if f.allowed is None and f.rule != "allow.expired")
        parts = [f"{blocking} vulnerabilit{'y' if blocking == 1 else 'ies'} at {level}{fixable} in {what}"]
        if ids:
            parts.append(_shorten(ids))
        if expired:
            parts.append(f"{len(expired)} expired allow entr{'y' if len(expired) == 1 else 'ies'}")
        return GateResult(GATE, Status.FAILED, "; ".join(parts), tuple(findings), facts)
    total = sum(counts.values())
    accepted = len(findings)
    tail = f"; {accepted} allowed by the config" if accepted else ""
    return GateResult(
        GATE, Status.PASSED, f"none at {level}{fixable} in {what} ({total} found in all){tail}", tuple(findings), facts
    )


def _of_another_image(scan: Scan, image: str | None, digest: str | None) -> str | None:
    """Why the report is not evidence for what is deployed, or None when it is."""
    if digest is not None:
        if digest in scan.digests:
            return None
        said = ", ".join(sorted(set(scan.digests))) or "no digest"
        return f"the scan report {scan.path} is of {said}, not of {digest}, which is deployed: scan that image"
    if image is None:
        return None
    if scan.image is None:
        return f"the scan report {scan.path} does not say which image it is of: scan {image} with a scanner that does"
    if not _same_image(scan.image, image):
        return f"the scan report {scan.path} is of {scan.image}, not of {image}, which is deployed: scan that image"
    return None


def _same_image(scanned: str, deployed: str) -> bool:
    """Same repository, and the same tag where both name one (a scan by digest names none)."""
    if _normal(repository(scanned)) != _normal(repository(deployed)):
        return False
    tags = _tag(scanned), _tag(deployed)
    return None in tags or tags[0] == tags[1]


def _normal(name: str) -> str:
    # docker.io/library/app and app name the same repository.
    for prefix in ("docker.io/library/", "index.docker.io/library/", "docker.io/"):
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def _tag(reference: str) -> str | None:
    name = reference.split("@", 1)[0]
    repo = repository(name)
    return name[len(repo) + 1 :] if len(name) > len(repo) else None


def repository(image: str) -> str:
    """``registry:5000/app`` of ``registry:5000/app:1.2`` or ``registry:5000/app@sha256:...``."""
    name = image.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


def _unique(scans: Sequence[Scan]) -> list[Vulnerability]:
    """One entry per vulnerability and package, across reports (two scanners find the same)."""
    seen: dict[tuple[str, str, str], Vulnerability] = {}
    for scan in scans:
        for vuln in scan.vulnerabilities:
            key = (vuln.id, vuln.package, vuln.installed)
            old = seen.get(key)
            if old is None or RANK[vuln.severity] > RANK[old.severity]:
                seen[key] = vuln
    return list(seen.values())


def _allowance(entry: AllowedVulnerability, today: date) -> str | None:
    if entry.expires < today:
        return None  # counted as found; the expired entry is a finding of its own
    return f"{entry.reason} (until {entry.expires.isoformat()})"


def _finding(vuln: Vulnerability, allowed: str | None) -> Finding:
    fix = f", fixed in {vuln.fixed}" if vuln.fixed else ", no fix yet"
    installed = f" {vuln.installed}" if vuln.installed else ""
    return Finding(
        rule=vuln.id,
        message=f"{vuln.package}{installed}: {vuln.severity.value}{fix}" + (f" ({vuln.title})" if vuln.title else ""),
        severity=vuln.severity,
        fixable=vuln.fixed is not None,
        allowed=allowed,
    )


def _shorten(text: str, most: int = 160) -> str:
    return text if len(text) <= most else text[: most - 1].rsplit(",", 1)[0] + ", …"


def _no_report(settings: VulnerabilityGate, image: str | None, version: str) -> GateResult:
    target = image or f"<image>:{version}"
    make = f"trivy image --format json --output trivy-report.json {target}"
    how = f"make one with `{make}` and name it in security.vulnerabilities.reports or ${REPORT_VARIABLE}"
    if settings.required:
        return GateResult(GATE, Status.FAILED, f"no scan report for {target}, and one is required: {how}")
    return GateResult(GATE, Status.WARNING, f"no scan report for {target}: {how}")


def _scan_here(image: str, digest: str | None, environ: Mapping[str, str]) -> Scan | None:
    """Run trivy or grype, whichever is on PATH, on the image; None when neither is."""
    reference = f"{repository(image)}@{digest}" if digest else image
    path = environ.get("PATH")
    with tempfile.TemporaryDirectory(prefix="arxdeploy-scan-") as folder:
        out = Path(folder) / "report.json"
        if (trivy := shutil.which("trivy", path=path)) is not None:
            command = [trivy, "image", "--quiet", "--format", "json", "--output", str(out), reference]
        elif (grype := shutil.which("grype", path=path)) is not None:
            command = [grype, reference, "--output", "json", "--file", str(out)]
        else:
            return None
        name = Path(command[0]).name
        # Stopped with what it started at the time limit; only its last lines kept.
        done = scripts.run(command, cwd=Path(folder), env=environ, timeout=SCAN_TIMEOUT_SECONDS, lines=3)
        if done.exit_status is None:
            raise ReportError(f"`{name}` did not finish scanning {reference} in time")
        if done.exit_status != 0:
            raise ReportError(f"`{name}` failed to scan {reference}: {' '.join(done.last_lines)}")
        scan = reports.read(out)
        return Scan(f"{name} run here", scan.scanner, scan.image, scan.digests, scan.vulnerabilities)
