"""Telling people: engine events become notices, and failed deliveries go on the record.

A hook (``Announcer``) subscribes to recorded events like the log does; the ``Notifier``
sends on its own thread, so a slow or dead channel never holds a deployment up. A channel
that stays down is recorded on the deployment as a ``notification_failed`` event, which
`arxdeploy show ID` lists.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from arxdeploy.config.models import Notifications
from arxdeploy.domain.approvals import AUTO_APPROVER
from arxdeploy.domain.events import Deployment, Event
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
    """A hook: turns the events people care about into notices for the notifier."""

    notifier: Notifier
    kinds: frozenset[str]
    server_url: str | None = None
    redact: Callable[[str], str] = str  # masks secrets: notices leave the machine
    _last_request: dict[str, Event] = field(default_factory=dict)
    _last_failure: dict[str, str] = field(default_factory=dict)

    def __call__(self, deployment: Deployment, event: Event) -> None:
        d = deployment
        if d.kind is Kind.STOP:
            return
        kind, detail = self._kind(d, event)
        if kind is None or kind not in self.kinds:
            return
        request = self._last_request.get(d.id)
        data = request.data if request else {}
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
                changes=tuple(self.redact(str(c)) for c in data.get("changes", ())),
                approve_url=self._approve_url(d) if kind == "approval_requested" else None,
                approvers=tuple(str(a) for a in data.get("approvers", ())),
            )
        )

    def _kind(self, d: Deployment, event: Event) -> tuple[str | None, str]:
        if event.type == "approval_requested":
            self._last_request[d.id] = event
            if event.data.get("approvers") == [AUTO_APPROVER]:
                return None, ""
            return "approval_requested", f"{event.data.get('min_approvals')} approval(s) needed"
        if event.type == "approval" and event.data.get("verdict") == "approve" and event.data.get("via") != "auto":
            return "approval_approved", f"approved by {event.data.get('who')}"
        if event.type == "state":
            state = State(event.data["state"])
            return STATE_NOTICES.get(state), self._last_failure.get(d.id, "") if state.terminal else ""
        if event.type == "step" and event.data.get("outcome") != "ok":
            self._last_failure.setdefault(d.id, str(event.data.get("reason", "")))
        return None, ""

    def _approve_url(self, d: Deployment) -> str | None:
        return f"{self.server_url.rstrip('/')}/approvals/{d.id}" if self.server_url else None


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
    return notifier, (Announcer(notifier, frozenset(settings.events), server_url, redact),)
