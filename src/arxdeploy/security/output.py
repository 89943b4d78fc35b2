"""Gate results for the places people read them: the GitHub job summary and annotations.

Text only; the CLI's table (Rich) is in ``cli/security.py`` and SARIF in ``sarif``.
"""

from __future__ import annotations

from collections.abc import Sequence

from arxdeploy.domain.security import GateResult, Status
from arxdeploy.domain.security_events import MARK

SHOWN_FINDINGS = 20  # per gate, in the summary; the SARIF file and --json have them all
_ICON = {
    Status.PASSED: "✅",
    Status.WARNING: "⚠️",
    Status.FAILED: "❌",
    Status.NOT_APPLICABLE: "➖",
    Status.SKIPPED: "⏭️",
}


def markdown(results: Sequence[GateResult], *, service: str, environment: str, version: str) -> str:
    """The job summary: one row per gate, then what each gate that did not pass found."""
    verdict = "blocked" if any(r.blocks for r in results) else "passed"
    lines = [
        f"### Security gates: {service} {version} to {environment} — {verdict}",
        "",
        "| Gate | Status | Summary |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {r.gate} | {_ICON[r.status]} {MARK[r.status]} | {_cell(r.told)} |" for r in results]
    for r in results:
        if not r.findings or r.status in (Status.PASSED, Status.NOT_APPLICABLE, Status.SKIPPED):
            continue
        lines += ["", f"<details><summary>{r.gate}: {len(r.findings)} finding(s)</summary>", ""]
        lines += ["| Rule | Severity | Where | Finding |", "| --- | --- | --- | --- |"]
        for f in r.findings[:SHOWN_FINDINGS]:
            where = f"{f.file}:{f.line}" if f.file and f.line else (f.file or "")
            allowed = f" (allowed: {f.allowed})" if f.allowed else ""
            lines.append(f"| {f.rule} | {f.severity.value} | {_cell(where)} | {_cell(f.message + allowed)} |")
        if len(r.findings) > SHOWN_FINDINGS:
            lines.append(f"| … | | | {len(r.findings) - SHOWN_FINDINGS} more |")
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def workflow_annotations(results: Sequence[GateResult]) -> list[tuple[str, str]]:
    """(``error`` or ``warning``, message) for each gate that failed or warned."""
    out = []
    for r in results:
        if r.status is Status.FAILED:
            out.append(("error", f"security gate {r.gate}: {r.told}"))
        elif r.status is Status.WARNING:
            out.append(("warning", f"security gate {r.gate}: {r.told}"))
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
