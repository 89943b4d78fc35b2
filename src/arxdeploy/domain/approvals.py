"""Approval gates, decided purely: the policy, the request, the decisions, and the tally.

Everything a gate needs is in the deployment's event log: ``approval_requested`` (the policy in
force when it was asked, bound to a version and a config digest), then ``approval`` decisions
and ``approval_refused`` attempts. ``tally`` folds them into where the gate stands; ``judge``
says whether one person may decide now. Who may approve is what the request recorded, so a
server that only reads the store enforces exactly the rule the deployment was asked under.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from arxdeploy.domain.events import Event
from arxdeploy.domain.roles import Role
from arxdeploy.domain.states import State

# Recorded as the approver when auto_approve_staging approves a deployment.
AUTO_APPROVER = "auto_approve_staging"
# How a decision may arrive where the server decides: a token checked by it, or the policy itself.
TRUSTED_VIA = frozenset({"server", "auto"})
# An email only declared (ARXDEPLOY_EMAIL, git's user.email) in a CI job, where any step can set
# it: it proves nothing, so a decision that comes this way is refused.
DECLARED_IN_CI = "ci"


class Verdict(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class GateStatus(StrEnum):
    NOT_ASKED = "not_asked"
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


@dataclass(frozen=True)
class ApprovalPolicy:
    """Who must approve deployments to one environment, resolved from ``approval_gates``."""

    required: bool = False  # every deployment here waits for approval
    required_if_critical: bool = False  # ``deploy --critical`` waits (critical_updates)
    auto_approve: bool = False  # approved at once unless critical (auto_approve_staging)
    approvers: tuple[str, ...] = ()  # lowercase emails
    min_approvals: int = 1
    allow_self_approval: bool = False
    timeout: timedelta = timedelta(minutes=60)
    server_only: bool = False  # server.url is set: only decisions made through it (a token) count

    def needs_gate(self, *, critical: bool) -> bool:
        return self.required or (critical and self.required_if_critical)

    def approves_itself(self, *, critical: bool) -> bool:
        return self.auto_approve and not critical


@dataclass(frozen=True)
class Request:
    """What was asked, of whom, bound to which version and config."""

    requested_by: str
    version: str
    config_digest: str
    approvers: tuple[str, ...]
    min_approvals: int
    allow_self_approval: bool
    asked_at: datetime
    expires_at: datetime
    changes: tuple[str, ...] = ()
    server_only: bool = False
    actor: str | None = None  # the CI login that asked (GITHUB_ACTOR), when a CI run did


@dataclass(frozen=True)
class Decision:
    who: str
    verdict: Verdict
    at: datetime
    via: str  # "server" (a token), "cli" (the local user, trusted), "auto"; "ci" is always refused
    reason: str = ""


@dataclass(frozen=True)
class Refusal:
    who: str
    why: str
    at: datetime


@dataclass(frozen=True)
class Gate:
    """Where one deployment's gate stands at ``now``."""

    status: GateStatus
    request: Request | None = None
    approvals: tuple[Decision, ...] = ()
    rejection: Decision | None = None
    refusals: tuple[Refusal, ...] = ()

    @property
    def approved_by(self) -> tuple[str, ...]:
        return tuple(d.who for d in self.approvals)

    def time_left(self, now: datetime) -> timedelta:
        if self.request is None:
            return timedelta(0)
        return max(timedelta(0), self.request.expires_at - now)


def approval_requested(request: Request) -> Event:
    return Event(
        "approval_requested",
        request.asked_at,
        {
            "requested_by": request.requested_by,
            "version": request.version,
            "config_digest": request.config_digest,
            "approvers": list(request.approvers),
            "min_approvals": request.min_approvals,
            "allow_self_approval": request.allow_self_approval,
            "expires_at": request.expires_at.isoformat(),
            "changes": list(request.changes),
            "server_only": request.server_only,
            "actor": request.actor,
        },
    )


def decided(decision: Decision, request: Request) -> Event:
    # The version and digest are repeated so that the record shows what exactly was approved.
    return Event(
        "approval",
        decision.at,
        {
            "who": decision.who,
            "verdict": decision.verdict.value,
            "via": decision.via,
            "reason": decision.reason,
            "version": request.version,
            "config_digest": request.config_digest,
        },
    )


def refused(refusal: Refusal) -> Event:
    return Event("approval_refused", refusal.at, {"who": refusal.who, "why": refusal.why})


def tally(events: Iterable[Event], now: datetime) -> Gate:
    """Fold a deployment's events into its gate. The first rejection ends it; so does expiry."""
    request: Request | None = None
    approvals: list[Decision] = []
    rejection: Decision | None = None
    refusals: list[Refusal] = []
    ended: State | None = None
    decided = False  # the gate step ended: a decision recorded later came too late to count
    for event in events:
        data = event.data
        if event.type == "approval_requested":
            request = _request(event.at, data)
        elif event.type == "step" and data.get("step") == "gate":
            decided = True
        elif event.type == "approval" and request is not None and rejection is None and not decided:
            if (data.get("version"), data.get("config_digest")) != (request.version, request.config_digest):
                continue  # bound to another version or config: void
            if request.server_only and data.get("via") not in TRUSTED_VIA:
                continue  # not proven by a token: does not count where the server decides
            decision = Decision(
                who=str(data["who"]),
                verdict=Verdict(str(data["verdict"])),
                at=event.at,
                via=str(data.get("via", "")),
                reason=str(data.get("reason", "")),
            )
            if decision.verdict is Verdict.REJECT:
                rejection = decision
            elif decision.who not in {a.who for a in approvals}:
                approvals.append(decision)
        elif event.type == "approval_refused":
            refusals.append(Refusal(str(data["who"]), str(data["why"]), event.at))
        elif event.type == "state" and State(data["state"]).terminal:
            ended = State(data["state"])
    status = _status(request, approvals, rejection, ended, now)
    return Gate(status, request, tuple(approvals), rejection, tuple(refusals))


def _status(
    request: Request | None, approvals: list[Decision], rejection: Decision | None, ended: State | None, now: datetime
) -> GateStatus:
    if request is None:
        return GateStatus.NOT_ASKED
    if rejection is not None or ended is State.REJECTED:
        return GateStatus.REJECTED
    if len(approvals) >= request.min_approvals:
        return GateStatus.APPROVED
    if ended is State.EXPIRED or now >= request.expires_at:
        return GateStatus.EXPIRED
    if ended is not None:
        return GateStatus.REJECTED  # ended some other way (failed, superseded) before enough approvals
    return GateStatus.PENDING


def judge(
    gate: Gate,
    *,
    who: str,
    verdict: Verdict,
    via: str,
    logins: tuple[str, ...] = (),
    role: Role | None = None,
) -> str | None:
    """Why ``who`` may not give ``verdict`` on this gate now (a refusal to record), or None.

    ``logins``: the decider's other names (their GitHub login, from their token): a CI run they
    started is theirs too. ``role``: what their token lets them do, when a token names them; a
    token must be an approver's (or an admin's), and the request's approvers list must name them.

    State problems (not asked, already decided, expired) are the caller's ``ConflictError``;
    this answers only "may this person decide".
    """
    request = gate.request
    if request is None:
        return None
    person = who.strip().lower()
    refused = identity_refusal(
        who=who, via=via, role=role, server_only=request.server_only, acts="approvals", verb="decide on them"
    )
    if refused:
        return refused
    if person not in request.approvers:
        return f"{who} is not an approver of this deployment (approvers: {', '.join(request.approvers) or 'none'})"
    # Who asked, as the request recorded it: what the approvers were shown.
    asker = request.requested_by.strip().lower()
    own_run = request.actor is not None and request.actor.lower() in {login.lower() for login in logins}
    if verdict is Verdict.APPROVE and not request.allow_self_approval and (person == asker or own_run):
        return f"{who} asked for this deployment and may not approve it (allow_self_approval is off)"
    return None


def _request(at: datetime, data: Any) -> Request:
    return Request(
        requested_by=str(data.get("requested_by", "")),
        version=str(data["version"]),
        config_digest=str(data["config_digest"]),
        approvers=tuple(str(a) for a in data.get("approvers", ())),
        min_approvals=int(data.get("min_approvals", 1)),
        allow_self_approval=bool(data.get("allow_self_approval", False)),
        asked_at=at,
        expires_at=datetime.fromisoformat(str(data["expires_at"])),
        changes=tuple(str(c) for c in data.get("changes", ())),
        server_only=bool(data.get("server_only", False)),
        actor=str(data["actor"]) if data.get("actor") else None,
    )


def identity_refusal(*, who: str, via: str, role: Role | None, server_only: bool, acts: str, verb: str) -> str | None:
    """Why ``who``, as identified (``via``; a token's ``role``), may not do ``acts`` at all, or
    None: through the server only when it is configured, never as an email only declared in a CI
    job, and with a token that may approve. Shared by approvals and by promote and abort."""
    if server_only and via not in TRUSTED_VIA:
        return f"{acts} go through the arxdeploy server (server.url is set); {who} was not identified by a token"
    if via == DECLARED_IN_CI:
        return (
            f"{who} is only declared (ARXDEPLOY_EMAIL or git's user.email) in a CI job, where any step can "
            f"declare anyone; {acts} from CI go through the arxdeploy server with a token"
        )
    if role is not None and not role.allows(Role.APPROVER):
        return f"{who}'s token is a {role} token: it may read deployments, not {verb}"
    return None
