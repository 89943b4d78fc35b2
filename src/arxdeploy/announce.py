"""Telling people: engine events become notices, and failed deliveries go on the record.

A hook (``Announcer``) subscribes to recorded events like the log does; the ``Notifier``
sends on its own thread, so a slow or dead channel never holds a deployment up. A channel
that stays down is recorded on the deployment as a ``notification_failed`` event, which
`arxdeploy show ID` lists.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from arxdeploy.config.models import Notifications
from arxdeploy.domain import approvals
from arxdeploy.domain.approvals import AUTO_APPROVER
from arxdeploy.domain.events import Deployment, Event, fold
from arxdeploy.domain.states import Kind, State
from arxdeploy.notify import Channel, Delivery, EmailChannel, Notice, Notifier, SlackChannel, WebhookChannel
from arxdeploy.ports import Clock, Store

# Which recorded state tells people what.
STATE_NOTICES = {
    State.REQUESTED: "deployment_started",
    State.SUCCEEDED: "deployment_succeeded",
    State.FAILED: "deployment_failed",
    State.ROLLED_BACK: "deployment_rolled_back",
    State.REJECTED: "approval_rejected",
    State.EXPIRED: "approval_expired",
}
# Notices that end a deployment: they say why, from the record's failure.
TERMINAL_NOTICES = frozenset(STATE_NOTICES.values()) - {"deployment_started", "deployment_succeeded"}


def channels_from(settings: Notifications) -> list[Channel]:
    """The channels of a config's ``notifications`` section."""
    found: list[Channel] = []
    if settings.slack is not None:
        found.append(SlackChannel(webhook_url=settings.slack.webhook_url))
    if settings.email is not None:
        mail = settings.email
        found.append(
            EmailChannel(
                host=mail.smtp_host,
                port=mail.smtp_port,
                sender=mail.sender,
                recipients=tuple(mail.recipients),
                username=mail.username,
                password=mail.password,
                starttls=mail.security == "starttls",
                ssl=mail.security == "tls",
            )
        )
    for index, hook in enumerate(settings.webhooks, start=1):
        found.append(WebhookChannel(url=hook.url, secret=hook.secret, name=f"webhook {index}"))
    return found


@dataclass
class Announcer:
    """A hook: turns the events people care about into notices for the notifier.

    What a notice needs beyond the event (the approval request, why it failed) is read from the
    record, so a notice is complete whichever process records the event (the deploying one, or
    the server taking an approval).
    """

    notifier: Notifier
    kinds: frozenset[str]
    store: Store
    server_url: str | None = None
    redact: Callable[[str], str] = str  # masks secrets: notices leave the machine

    def __call__(self, deployment: Deployment, event: Event) -> None:
        d = deployment
        kind, detail = _kind(event)
        if d.kind is Kind.STOP or kind is None or kind not in self.kinds:
            return
        record = self.store.events(deployment_id=d.id)
        request = approvals.tally(record, event.at).request
        failure = fold(record).failure
        if not detail and failure is not None and kind in TERMINAL_NOTICES:
            detail = failure.reason
        self.notifier.notify(
            Notice(
                kind=kind,
                service=d.service,
                environment=d.environment,
                version=d.version,
                deployment_id=d.id,
                at=event.at,
                previous_version=d.previous_version,
                requested_by=self.redact(d.requested_by),
                reason=self.redact(d.reason),
                detail=self.redact(detail),
                changes=tuple(self.redact(c) for c in request.changes) if request else (),
                approve_url=self._approve_url(d) if kind == "approval_requested" else None,
                approvers=request.approvers if request else (),
            )
        )

    def _approve_url(self, d: Deployment) -> str | None:
        return f"{self.server_url.rstrip('/')}/approvals/{d.id}" if self.server_url else None


def _kind(event: Event) -> tuple[str | None, str]:
    """The notice an event makes, if any, and what it says beyond the deployment's facts."""
    data = event.data
    if event.type == "approval_requested" and data.get("approvers") != [AUTO_APPROVER]:
        return "approval_requested", f"{data.get('min_approvals')} approval(s) needed"
    if event.type == "approval" and data.get("verdict") == "approve" and data.get("via") != "auto":
        return "approval_approved", f"approved by {data.get('who')}"
    if event.type == "state":
        return STATE_NOTICES.get(State(data["state"])), ""
    if event.type == "canary_step" and data.get("kind") == "weight" and data.get("phase") == "ended":
        return "canary_weight", f"{data.get('weight')}% of new requests (step {data.get('index')}/{data.get('of')})"
    if event.type == "paused":
        return "canary_paused", f"{data.get('reason')}: waiting for `arxdeploy promote` or `arxdeploy abort`"
    if event.type in ("promoted", "aborted"):
        why = f": {data.get('reason')}" if data.get("reason") else ""
        return f"canary_{event.type}", f"{event.type} by {data.get('who')} (via {data.get('via')}){why}"
    return None, ""


def recorder(store: Store, clock: Clock) -> Callable[[Delivery], None]:
    """``on_result`` for the notifier: a channel that gave up is recorded on the deployment."""

    def on_result(delivery: Delivery) -> None:
        if delivery.ok:
            return
        event = Event(
            "notification_failed",
            clock.now(),
            {
                "channel": delivery.channel,
                "notice": delivery.notice.kind,
                "attempts": delivery.attempts,
                "error": delivery.error,
            },
        )
        store.append(deployment_id=delivery.notice.deployment_id, events=[event])

    return on_result


def build_notifier(
    settings: Notifications, store: Store, clock: Clock, server_url: str | None, redact: Callable[[str], str]
) -> tuple[Notifier, Sequence[Announcer]]:
    """The notifier and its hook for a config's ``notifications`` (none when no channel is set)."""
    channels = channels_from(settings)
    if not channels:
        return Notifier.empty(), ()
    notifier = Notifier(channels, on_result=recorder(store, clock))
    return notifier, (Announcer(notifier, frozenset(settings.events), store, server_url, redact),)
