"""A generic JSON webhook: the notice as JSON, signed with HMAC-SHA256 so receivers can trust it."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from arxdeploy.notify import _http
from arxdeploy.notify.notice import Notice
from arxdeploy.notify.signing import EVENT_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, verify_signature

__all__ = ["WebhookChannel", "body", "verify_signature"]

VERSION = 1  # of the JSON body: receivers can tell a future shape apart


@dataclass(frozen=True)
class WebhookChannel:
    """POSTs the notice as JSON with ``X-Arxdeploy-Signature-256``; any 2xx is a success."""

    url: str = field(repr=False)
    secret: str = field(repr=False)
    timeout: float = 10.0
    name: str = "webhook"

    def send(self, notice: Notice, *, client: httpx.Client) -> None:
        """One attempt; 408, 429 and 5xx raise a retryable error, other non-2xx a final one."""
        content = body(notice)
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            EVENT_HEADER: notice.kind,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(self.secret, timestamp, content),
        }
        response = _http.post(
            client, channel=self.name, url=self.url, body=content, headers=headers, timeout=self.timeout
        )
        if not response.is_success:
            raise _http.status_error(self.name, response)


def body(notice: Notice) -> bytes:
    """Every field of the notice (``at`` in ISO 8601, tuples as lists) plus ``v``, the body's version."""
    data: dict[str, Any] = {"v": VERSION, **asdict(notice), "at": notice.at.isoformat()}
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
