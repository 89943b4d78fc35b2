"""Slack incoming webhooks: a Block Kit message with a plain-text fallback.

The webhook URL is a secret (anyone holding it can post), so it never appears in an error.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import httpx

from arxdeploy.notify import _http
from arxdeploy.notify import notice as _notice
from arxdeploy.notify.errors import NotifyError
from arxdeploy.notify.notice import Notice

_HEADER_MAX = 150  # Slack's limit for a header block's text
_TEXT_MAX = 3000  # ... for a section's text
_FIELD_MAX = 2000  # ... and for one field of a section
_SLACK_ERROR = re.compile(r"[a-z_]{1,64}")  # Slack answers failures with a code like "invalid_payload"


@dataclass(frozen=True)
class SlackChannel:
    """Posts notices to a Slack incoming webhook."""

    webhook_url: str = field(repr=False)
    timeout: float = 10.0
    name: str = "slack"

    def send(self, notice: Notice, *, client: httpx.Client) -> None:
        """One attempt; Slack answers ``ok`` with a 200, anything else is a failure."""
        body = json.dumps(payload(notice)).encode()
        response = _http.post(
            client,
            channel=self.name,
            url=self.webhook_url,
            body=body,
            headers={"Content-Type": "application/json"},
            timeout=self.timeout,
        )
        answer = response.text.strip()
        if response.is_success and answer == "ok":
            return
        reason = answer if _SLACK_ERROR.fullmatch(answer) else ""
        if response.is_success:
            raise NotifyError(self.name, f"unexpected answer to HTTP {response.status_code}: {reason or 'not ok'}")
        raise _http.status_error(self.name, response, reason)


def payload(notice: Notice) -> dict[str, Any]:
    """The Slack message: ``text`` is the fallback shown in notifications, ``blocks`` the message."""
    fields = [
        {"type": "mrkdwn", "text": _cut(f"*{label}*\n{_escape(value)}", _FIELD_MAX)}
        for label, value in _notice.facts(notice)
        if label in ("Version", "Environment", "Requested by", "Deployment")
    ]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(_notice.title(notice), _HEADER_MAX)}},
        {"type": "section", "fields": fields},
    ]
    for label, value in (("Why", notice.reason), ("What happened", notice.detail)):
        if value:
            blocks.append(_section(f"*{label}*\n{_escape(value)}"))
    if notice.changes:
        lines = "\n".join(f"• {_escape(change)}" for change in notice.changes)
        blocks.append(_section(f"*What changes*\n{lines}"))
    if notice.security:
        lines = "\n".join(f"• {_escape(gate)}" for gate in notice.security)
        blocks.append(_section(f"*Security gates*\n{lines}"))
    if notice.approvers:
        blocks.append(_section(f"*Approvers*\n{_escape(', '.join(notice.approvers))}"))
    url = _notice.link(notice)
    if url:
        button = {
            "type": "button",
            "text": {"type": "plain_text", "text": _notice.APPROVE_LABEL},
            "url": url,
            "style": "primary",
        }
        blocks.append({"type": "actions", "elements": [button]})
    return {"text": _escape(_notice.title(notice)), "blocks": blocks}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, _TEXT_MAX)}}


def _escape(value: str) -> str:
    """Slack's mrkdwn escaping: only these three characters are special."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"
