"""What a notification says, rendered once as a title, plain text and HTML for every channel.

Channels differ in transport, not in content: the words live here so that Slack, email and the
webhook never disagree about what happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape

from arxdeploy.domain.notices import KINDS

_VERBS = {
    "deployment_started": "deploying",
    "deployment_succeeded": "is live",
    "deployment_failed": "failed",
    "deployment_rolled_back": "rolled back",
    "approval_requested": "awaits approval",
    "approval_approved": "approved",
    "approval_rejected": "rejected",
    "approval_expired": "approval expired",
    "canary_weight": "takes a share of the traffic (canary)",
    "canary_paused": "canary waits for a person",
    "canary_promoted": "canary promoted",
    "canary_aborted": "canary aborted",
}

APPROVE_LABEL = "Review and approve"


@dataclass(frozen=True)
class Notice:
    """One thing worth telling people about a deployment; plain data, built by the caller."""

    kind: str
    service: str
    environment: str
    version: str
    deployment_id: str
    at: datetime
    previous_version: str | None = None
    requested_by: str = ""
    reason: str = ""
    detail: str = ""
    changes: tuple[str, ...] = ()
    approve_url: str | None = None
    approvers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown notice kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        if self.at.tzinfo is None or self.at.utcoffset() is None:
            raise ValueError("Notice.at must be timezone-aware")


def one_line(value: str) -> str:
    """Collapse whitespace so a value cannot break a subject line or a header."""
    return " ".join(value.split())


def title(notice: Notice) -> str:
    """One line, e.g. ``production: v1.2.0 rolled back (arxos)``."""
    return one_line(f"{notice.environment}: {notice.version} {_VERBS[notice.kind]} ({notice.service})")


def link(notice: Notice) -> str | None:
    """The approval link when it is safe to render as one (http or https only, never ``javascript:``)."""
    url = (notice.approve_url or "").strip()
    return url if url.lower().startswith(("https://", "http://")) else None


def facts(notice: Notice) -> list[tuple[str, str]]:
    """The labelled one-line facts every channel shows, in order; empty ones are left out."""
    version = notice.version
    if notice.previous_version:
        version = f"{notice.version} (was {notice.previous_version})"
    rows = [
        ("Service", notice.service),
        ("Environment", notice.environment),
        ("Version", version),
        ("Deployment", notice.deployment_id),
        ("When", notice.at.isoformat(timespec="seconds")),
        ("Requested by", notice.requested_by),
        ("Why", notice.reason),
        ("What happened", notice.detail),
        ("Approvers", ", ".join(notice.approvers)),
    ]
    return [(label, value) for label, value in rows if value]


def text(notice: Notice) -> str:
    """The plain-text body: the title, the facts, what changes and where to approve."""
    rows = facts(notice)
    width = max((len(label) for label, _ in rows), default=0) + 1
    lines = [title(notice), ""] + [f"{label + ':':<{width}} {value}" for label, value in rows]
    if notice.changes:
        lines += ["", "What changes:"]
        lines += [f"  - {change}" for change in notice.changes]
    url = notice.approve_url
    if url:
        lines += ["", f"{APPROVE_LABEL}: {url}"]
    return "\n".join(lines) + "\n"


def html(notice: Notice) -> str:
    """The same as :func:`text` as simple HTML; every interpolated value is escaped."""
    rows = "".join(
        f'<tr><th align="left">{escape(label)}</th><td>{escape(value)}</td></tr>' for label, value in facts(notice)
    )
    parts = [f"<h2>{escape(title(notice))}</h2>", f"<table>{rows}</table>"]
    if notice.changes:
        items = "".join(f"<li>{escape(change)}</li>" for change in notice.changes)
        parts.append(f"<p>What changes:</p><ul>{items}</ul>")
    url = link(notice)
    if url:
        parts.append(f'<p><a href="{escape(url, quote=True)}">{APPROVE_LABEL}</a></p>')
    elif notice.approve_url:
        parts.append(f"<p>{APPROVE_LABEL}: {escape(notice.approve_url)}</p>")
    body = "".join(parts)
    return f'<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>{body}</body></html>\n'
