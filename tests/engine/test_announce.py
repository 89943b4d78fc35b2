"""The wiring: which recorded events become which notices, with the approval link and the reason."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import httpx

from arxdeploy.announce import Announcer
from arxdeploy.domain.approvals import ApprovalPolicy, Verdict
from arxdeploy.domain.notices import KINDS
from arxdeploy.engine.gate import Approvals
from arxdeploy.notify import Notice, Notifier
from tests.drive import deploy

from .conftest import PLAN, World

ALL = frozenset(KINDS)
GATED = dataclasses.replace(
    PLAN, approval=ApprovalPolicy(required=True, approvers=("bo@example.com",)), config_digest="ab" * 32
)


@dataclasses.dataclass
class Inbox:
    """A channel that keeps what it is sent: the boundary here is the notifier, not a network."""

    notices: list[Notice] = dataclasses.field(default_factory=list)
    name: str = "inbox"

    def send(self, notice: Notice, *, client: httpx.Client) -> None:
        self.notices.append(notice)


def announced(world: World, inbox: Inbox, kinds: frozenset[str] = ALL) -> tuple[Notifier, Approvals]:
    notifier = Notifier([inbox])
    url = "https://deploy.example.com/"
    world.hooks.append(Announcer(notifier, kinds, world.store, server_url=url))
    # Decisions come through another process (the server), with a hook of its own.
    server_hook = Announcer(notifier, kinds, world.store, server_url=url)
    return notifier, Approvals(store=world.store, clock=world.clock, hooks=[server_hook])


def test_an_approved_deployment_tells_its_whole_story(world: World) -> None:
    inbox = Inbox()
    notifier, approvals = announced(world, inbox)
    engine = world.engine()
    d, _ = deploy(engine, plan=GATED, version="v1", wait=False, reason="new checkout")
    approvals.decide(deployment_id=d.id, who="bo@example.com", verdict=Verdict.APPROVE, via="server")
    engine.resume(plan=GATED, deployment_id=d.id)
    notifier.close(timeout=5)

    assert [n.kind for n in inbox.notices] == [
        "deployment_started",
        "approval_requested",
        "approval_approved",
        "deployment_succeeded",
    ]
    asked = inbox.notices[1]
    assert asked.approve_url == f"https://deploy.example.com/approvals/{d.id}"
    assert asked.approvers == ("bo@example.com",) and asked.reason == "new checkout"
    assert asked.changes[0] == "version: nothing live -> v1"
    approved = inbox.notices[2]
    assert approved.detail == "approved by bo@example.com"
    assert (approved.changes, approved.approvers) == (asked.changes, asked.approvers)  # read from the record


def test_rejections_and_expiry_say_why_and_unwanted_kinds_stay_quiet(world: World) -> None:
    inbox = Inbox()
    notifier, approvals = announced(world, inbox, frozenset({"approval_rejected", "approval_expired"}))
    engine = world.engine()
    first, _ = deploy(engine, plan=GATED, version="v1", wait=False)
    approvals.decide(deployment_id=first.id, who="bo@example.com", verdict=Verdict.REJECT, via="cli", reason="freeze")
    engine.resume(plan=GATED, deployment_id=first.id)
    second, _ = deploy(engine, plan=GATED, version="v2", wait=False)
    world.clock.advance(timedelta(hours=2))
    engine.resume(plan=GATED, deployment_id=second.id)
    notifier.close(timeout=5)

    assert [(n.kind, n.deployment_id) for n in inbox.notices] == [
        ("approval_rejected", first.id),
        ("approval_expired", second.id),
    ]
    assert inbox.notices[0].detail == "rejected by bo@example.com: freeze"
    assert inbox.notices[1].detail.startswith("no decision within 60 minutes")


def test_notices_leave_with_secrets_masked(world: World) -> None:
    from arxdeploy.redact import Redactor

    inbox = Inbox()
    notifier = Notifier([inbox])
    secret = 'hunter2-"quoted"'
    world.hooks.append(Announcer(notifier, ALL, world.store, redact=Redactor([secret])))
    deploy(world.engine(), plan=PLAN, version="v1", reason=f"token is {secret}")
    notifier.close(timeout=5)
    assert inbox.notices and all(secret not in repr(n) for n in inbox.notices)
    assert inbox.notices[0].reason == "token is ***"
