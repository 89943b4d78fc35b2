"""What the security step found: one ``GateResult`` per gate, each with its findings.

Pure data shared by the gates (``arxdeploy.security``), the step that runs them, the CLI's
``security check``, the record, the approval page and the SARIF and GitHub outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PASSED = "passed"
    WARNING = "warning"  # passes, with something people should see (a certificate expiring soon)
    FAILED = "failed"  # the deployment stops before anything changes
    NOT_APPLICABLE = "not_applicable"  # the gate has nothing to check on this target; says why
    SKIPPED = "skipped"  # turned off in the config


class Severity(StrEnum):
    UNKNOWN = "unknown"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


@dataclass(frozen=True)
class Finding:
    """One thing a gate found. Never holds a secret's value: where a secret was found, the
    file, line and kind of secret say which."""

    rule: str  # CVE-2024-1234, CKV_K8S_20, network.default-deny, secret.AWSKeyDetector
    message: str
    severity: Severity = Severity.UNKNOWN
    file: str | None = None
    line: int | None = None
    fixable: bool | None = None  # a vulnerability with a fixed version
    allowed: str | None = None  # allowed by the config: its reason (and until when)


@dataclass(frozen=True)
class GateResult:
    gate: str  # image_digest, vulnerabilities, secrets, network_policy, tls, compliance
    status: Status
    summary: str  # one line for people
    findings: tuple[Finding, ...] = ()
    facts: dict[str, Any] = field(default_factory=dict)  # digest, expiry date, report path, ...

    @property
    def blocks(self) -> bool:
        return self.status is Status.FAILED

    @property
    def next_step(self) -> str | None:
        """What to do about a result that did not pass, when the gate knows (``facts["hint"]``, or
        the registry's ``facts["hints"]``): shown after the summary."""
        if self.status is Status.PASSED:
            return None
        hint = self.facts.get("hint")
        hints = [hint] if hint else [str(h) for h in self.facts.get("hints") or ()]
        return "; ".join(dict.fromkeys(hints)) or None

    @property
    def told(self) -> str:
        """The summary, then the next step if there is one."""
        return f"{self.summary} ({self.next_step})" if self.next_step else self.summary
