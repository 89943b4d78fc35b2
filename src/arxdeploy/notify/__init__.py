"""Notifications: Slack, email and a signed JSON webhook, delivered without ever blocking a deployment.

An adapter: it owns httpx and smtplib for this purpose and knows nothing of the config or the
store. The bootstrap builds the channels and a :class:`Notifier`; the engine's hooks call
``notify``. See docs/notifications.md.
"""

from __future__ import annotations

from arxdeploy.domain.notices import KINDS
from arxdeploy.notify.channel import Channel
from arxdeploy.notify.dispatch import Delivery, Notifier
from arxdeploy.notify.email import EmailChannel
from arxdeploy.notify.errors import NotifyError, TransientNotifyError
from arxdeploy.notify.notice import Notice, html, text, title
from arxdeploy.notify.signing import verify_signature
from arxdeploy.notify.slack import SlackChannel
from arxdeploy.notify.webhook import WebhookChannel

__all__ = [
    "KINDS",
    "Channel",
    "Delivery",
    "EmailChannel",
    "Notice",
    "Notifier",
    "NotifyError",
    "SlackChannel",
    "TransientNotifyError",
    "WebhookChannel",
    "html",
    "text",
    "title",
    "verify_signature",
]
