"""Gate ``compliance``: checkov's Kubernetes checks on the objects a deployment will apply.

checkov (https://www.checkov.io/5.Policy%20Index/kubernetes.html: non-root, no privilege
escalation, limits set, no ``latest`` tag, read-only root filesystem, ...) cannot share an
environment with arxdeploy's test tools (it pins ``packaging<24``), so it is run as a command: the
one beside this Python (where ``scripts/install-test-deps.sh`` links it), or on the ``PATH``.
A failed check blocks unless the config skips it with a reason; the checks arxdeploy's own objects
fail by design are skipped with theirs (``RENDERED``), and shown as allowed.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from arxdeploy import scripts
from arxdeploy.domain.security import Finding, GateResult, Severity, Status

GATE = "compliance"
Obj = dict[str, Any]
INSTALL_HINT = (
    "install checkov in an environment of its own (python -m venv ~/.checkov && ~/.checkov/bin/pip install "
    "'checkov==3.3.30') and put its checkov on the PATH, or set security.compliance.enabled: false"
)

# Why arxdeploy's objects fail some checks on purpose. The rendered objects' (``RENDERED``) are
# allowed by the gate; CKV2_K8S_5 concerns the RBAC files an admin applies (the init templates'
# and the example's, checked by tests/kubernetes/test_policy.py), never rendered objects.
REASONS = {
    "CKV_K8S_43": (
        "Image should use digest: arxdeploy deploys versions, and a version is an image tag "
        "(image: <registry>/<app>:{version}). The image_digest gate resolves the tag and the Deployment "
        "then runs <image>@sha256:...; with that gate off, or where tags may move, put a digest in the image "
        "template instead; imagePullPolicy: Always makes every pod start ask the registry."
    ),
    "CKV_K8S_40": (
        "Containers should run as a high UID: the image decides its user, and arxdeploy cannot "
        "know a UID that owns the image's files. runAsNonRoot (which the namespace's restricted "
        "Pod Security level enforces) makes the kubelet refuse to start it as root; a template "
        "may add runAsUser where the image allows it."
    ),
    "CKV2_K8S_5": (
        "No ServiceAccount should read all Secrets: the approval server's tokens are Secrets of the "
        "record's namespace, found by label, and Kubernetes authorizes `list` per resource, never per "
        "label, so reading them reads the namespace's Secrets (k8s/server/server.yaml says so; "
        "store_url: kubernetes://NAMESPACE keeps them in a namespace of their own)."
    ),
}
RENDERED = {check: REASONS[check] for check in ("CKV_K8S_43", "CKV_K8S_40")}


@dataclass(frozen=True)
class ComplianceSettings:
    skip: Mapping[str, str] = field(default_factory=dict)  # check id -> reason, from the config
    timeout: float = 300.0  # seconds checkov may take


def settings_from(section: Any) -> ComplianceSettings:
    """The settings of ``security.compliance`` (``config.models.ComplianceGate``), read by attribute."""
    return ComplianceSettings(skip={entry.id: entry.reason for entry in section.skip})


def checkov_command() -> Path | None:
    """checkov beside this Python (its own environment, linked there), or on the PATH."""
    beside = Path(sys.executable).parent / "checkov"
    if beside.is_file():
        return beside
    found = shutil.which("checkov")
    return Path(found) if found else None


def run_checkov(files: Sequence[Path], *, timeout: float = 300.0, checkov: Path | None = None) -> dict[str, Any]:
    """checkov's Kubernetes checks on ``files``, offline (no guidelines downloaded): its JSON report.
    ``RuntimeError`` when it cannot run or says nothing readable."""
    command = checkov or checkov_command()
    if command is None:
        raise FileNotFoundError("checkov")
    with tempfile.TemporaryDirectory(prefix="arx-checkov-") as folder:
        out = Path(folder)
        args = [str(command), "--framework", "kubernetes", "--skip-download", "--output", "json"]
        args += ["--output-file-path", str(out), *(arg for path in files for arg in ("--file", str(path)))]
        # a home of its own: checkov keeps caches there, and reads no one's settings
        env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": folder, "LANG": "C.UTF-8"}
        done = scripts.run(args, cwd=out, env=env, timeout=timeout)
        report_file = out / "results_json.json"
        if done.exit_status not in (0, 1) or not report_file.is_file():  # 1: a check failed
            what = "did not finish in time" if done.exit_status is None else f"exited with {done.exit_status}"
            raise RuntimeError(f"checkov {what}: {' / '.join(done.last_lines)[-500:]}")
        report = json.loads(report_file.read_text())
    if isinstance(report, list):  # one report per framework; an empty input gives none
        report = next((r for r in report if r.get("check_type") == "kubernetes"), {})
    if not isinstance(report, dict):
        raise RuntimeError("checkov's report is not a JSON object")
    return report


def check_compliance(
    *, target: str, objects: Sequence[Obj], settings: ComplianceSettings | None = None, checkov: Path | None = None
) -> GateResult:
    """checkov on ``objects`` (what the deployment applies); FAILED for a failed check not skipped."""
    if target != "kubernetes":
        return GateResult(GATE, Status.NOT_APPLICABLE, f"the {target} target applies no Kubernetes objects")
    settings = settings or ComplianceSettings()
    allowed = {**RENDERED, **settings.skip}
    with tempfile.TemporaryDirectory(prefix="arx-compliance-") as folder:
        path = Path(folder) / "objects.yaml"
        path.write_text(yaml.safe_dump_all(list(objects), sort_keys=False))
        try:
            report = run_checkov([path], timeout=settings.timeout, checkov=checkov)
        except FileNotFoundError:
            message = "checkov is not installed, so the rendered objects were not checked"
            finding = Finding(rule="compliance.checkov-missing", message=message, severity=Severity.HIGH)
            return GateResult(GATE, Status.FAILED, message, (finding,), {"hint": INSTALL_HINT})
        except (RuntimeError, ValueError) as exc:
            finding = Finding(rule="compliance.checkov-failed", message=str(exc), severity=Severity.HIGH)
            return GateResult(GATE, Status.FAILED, str(exc), (finding,))
    results = report.get("results") or {}
    summary = report.get("summary") or {}
    findings = [
        Finding(
            rule=str(check["check_id"]),
            message=f"{check.get('check_name')} ({_resource(str(check.get('resource')))})",
            severity=Severity.MEDIUM,
            file=_resource(str(check.get("resource"))),
            allowed=allowed.get(str(check["check_id"])),
        )
        for check in results.get("failed_checks") or []
    ]
    if summary.get("parsing_errors"):
        message = "checkov could not read the rendered objects"
        findings.append(Finding(rule="compliance.parsing-error", message=message, severity=Severity.HIGH))
    passed = sorted({str(c["check_id"]) for c in results.get("passed_checks") or []})
    skipped = sorted({f.rule for f in findings if f.allowed is not None})
    facts: dict[str, Any] = {
        "checkov": summary.get("checkov_version"),
        "passed": passed,
        "failed": sorted({f.rule for f in findings if f.allowed is None}),
        "allowed": skipped,
    }
    blocking = [f for f in findings if f.allowed is None]
    if blocking:
        head = blocking[0].rule + " " + blocking[0].message
        text = head if len(blocking) == 1 else f"{len(blocking)} checks failed, first {head}"
        return GateResult(GATE, Status.FAILED, text, tuple(findings), facts)
    why = f", {len(skipped)} skipped with a reason ({', '.join(skipped)})" if skipped else ""
    return GateResult(GATE, Status.PASSED, f"{len(passed)} checkov checks passed{why}", tuple(findings), facts)


def _resource(resource: str) -> str:
    """checkov's ``Deployment.<namespace>.<name>`` as people say it: ``Deployment <name>``."""
    kind, _, rest = resource.partition(".")
    return f"{kind} {rest.rpartition('.')[2]}" if rest else resource


def check(
    *,
    config: Any,
    environment: str,
    version: str,
    target: Any,
    image: str | None = None,
    digest: str | None = None,
) -> GateResult:
    """The gate as the security step runs it: checkov on what deploying ``version`` would apply,
    the image by the ``digest`` the image_digest gate resolved (the runner passes it on), as the
    deploy step will run it."""
    if config.target.type != "kubernetes":
        return check_compliance(target=config.target.type, objects=[])
    from arxdeploy.security import cluster, registry
    from arxdeploy.targets.kubernetes.spec import pin

    spec = target.spec
    if image and digest and "@" not in image:
        spec = pin(spec, image, registry.parse_image(image).pinned(digest))
    objects, rendered = cluster.candidate_objects(target, environment, version, spec=spec)
    objects.close()
    return check_compliance(target="kubernetes", objects=rendered, settings=settings_from(config.security.compliance))
