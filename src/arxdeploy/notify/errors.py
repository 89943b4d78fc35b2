"""The errors a channel raises: secret-free by construction, retryability in the type.

    ArxdeployError
    └── NotifyError               a channel could not deliver; do not retry (bad credentials, 4xx)
        └── TransientNotifyError  may pass on its own; retried with backoff (refused, timeout, 5xx)

Messages name the channel and what went wrong (status code, SMTP reply code, "connection
refused", "timed out") and never a URL, a secret or a password: Slack webhook URLs are secrets,
and httpx puts the URL in ``str(exc)``, so channels build their own message and raise
``from None`` (a chained httpx error would carry the URL into any logged traceback).
"""

from __future__ import annotations

from arxdeploy.errors import ArxdeployError


class NotifyError(ArxdeployError):
    """A notification channel failed for good; ``channel`` names it."""

    def __init__(self, channel: str, problem: str) -> None:
        super().__init__(f"{channel}: {problem}")
        self.channel = channel
        self.problem = problem


class TransientNotifyError(NotifyError):
    """A notification channel failed in a way that may pass: the dispatcher retries it."""
