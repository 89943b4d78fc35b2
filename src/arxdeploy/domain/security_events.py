"""Gate results in the deployment's log: one ``security`` event per gate, and back.

The event keeps the summary, the status and the facts whole, and the findings that block first,
up to ``KEPT_FINDINGS`` of them (a report of thousands of findings does not bloat the record;
``findings_total`` says how many there were). Old logs without these events read as no results.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from arxdeploy.domain.events import Event
from arxdeploy.domain.security import Finding, GateResult, Severity, Status

EVENT = "security"
KEPT_FINDINGS = 50
IMAGE_DIGEST = "image_digest"  # the gate that resolves the version's tag to its digest


def recorded(result: GateResult, at: datetime) -> Event:
    kept = sorted(result.findings, key=lambda f: f.allowed is not None)[:KEPT_FINDINGS]
    return Event(
        EVENT,
        at,
        {
            "gate": result.gate,
            "status": result.status.value,
            "summary": result.summary,
            "findings": [finding_json(f) for f in kept],
            "findings_total": len(result.findings),
            # JSON-safe whatever a gate put there (a date, a path): the record is plain data.
            "facts": json.loads(json.dumps(result.facts, default=str)),
        },
    )


def finding_json(f: Finding) -> dict[str, Any]:
    out: dict[str, Any] = {"rule": f.rule, "message": f.message, "severity": f.severity.value}
    for key in ("file", "line", "fixable", "allowed"):
        if (value := getattr(f, key)) is not None:
            out[key] = value
    return out


def result_json(r: GateResult) -> dict[str, Any]:
    """A result as the CLI's ``--json`` and the API show it."""
    return {
        "gate": r.gate,
        "status": r.status.value,
        "summary": r.summary,
        "findings": [finding_json(f) for f in r.findings],
        "facts": json.loads(json.dumps(r.facts, default=str)),
    }


def results(events: Iterable[Event]) -> list[GateResult]:
    """The gate results a deployment's log holds, in the order they ran; the latest run only."""
    found: dict[str, GateResult] = {}
    for event in events:
        if event.type == EVENT:
            result = from_data(event.data)
            found.pop(result.gate, None)
            found[result.gate] = result
    return list(found.values())


def image_digest(events: Iterable[Event]) -> str | None:
    """The image digest the image_digest gate resolved for this deployment (``sha256:...``; a
    comma-separated list for several images), as recorded; None when it did not pass or run."""
    result = next((r for r in results(events) if r.gate == IMAGE_DIGEST), None)
    if result is None or result.status is not Status.PASSED:
        return None
    digest = result.facts.get("digest")
    return str(digest) if digest else None


def bind_image(digest: str, image_digest: str | None) -> str:
    """The content digest approvals bind to, with the image's digest (``sha256:...``) in it.

    The image_digest gate resolves the version's tag before the approval gate, and the deployment
    runs that digest (``SecurityGates.prepare``): binding it here makes the approvals name the
    exact image they let run; the gate (``engine.gate``) binds the recorded digest when it asks
    and again when it counts. Without a resolved digest, ``digest`` unchanged.
    """
    if not image_digest:
        return digest
    return hashlib.sha256(f"{digest}\0image\0{image_digest}".encode()).hexdigest()


def from_data(data: Mapping[str, Any]) -> GateResult:
    findings = tuple(_finding(f) for f in data.get("findings") or () if isinstance(f, Mapping))
    facts = dict(data.get("facts") or {})
    total = data.get("findings_total")
    if isinstance(total, int) and total > len(findings):
        facts["findings_total"] = total  # only the first KEPT_FINDINGS were recorded
    return GateResult(
        gate=str(data.get("gate", "")),
        status=_status(data.get("status")),
        summary=str(data.get("summary", "")),
        findings=findings,
        facts=facts,
    )


def _status(value: object) -> Status:
    try:
        return Status(str(value))
    except ValueError:
        return Status.FAILED  # a status this version does not know: shown, and never taken as a pass


def _finding(raw: Mapping[str, Any]) -> Finding:
    try:
        severity = Severity(str(raw.get("severity", "unknown")))
    except ValueError:
        severity = Severity.UNKNOWN
    line = raw.get("line")
    return Finding(
        rule=str(raw.get("rule", "")),
        message=str(raw.get("message", "")),
        severity=severity,
        file=raw.get("file"),
        line=int(line) if isinstance(line, int) else None,
        fixable=raw.get("fixable"),
        allowed=raw.get("allowed"),
    )


MARK = {
    Status.PASSED: "ok",
    Status.WARNING: "warning",
    Status.FAILED: "FAILED",
    Status.NOT_APPLICABLE: "n/a",
    Status.SKIPPED: "skipped",
}


def line(result: GateResult) -> str:
    """One line for people: ``vulnerabilities FAILED: 2 vulnerabilities at high or above ...``."""
    return f"{result.gate} {MARK[result.status]}: {result.told}"


def blocking(results: Iterable[GateResult]) -> list[GateResult]:
    return [r for r in results if r.blocks]
