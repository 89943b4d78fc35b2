"""Approval gates in the engine: ask, tally, and take decisions from people.

The gate never holds the environment's lease while it waits: the request is recorded, the
process that asked may wait (polling the store) or leave (``--no-wait``), and whoever continues
(that process, ``arxdeploy resume``, or the next command for an expired one) re-runs the gate
step, which only reads the tally. Decisions come through ``Approvals``, used by the CLI and the
HTTP server alike, so the rules are enforced in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from arxdeploy.domain import approvals, security_events
from arxdeploy.domain.approvals import AUTO_APPROVER, Decision, Gate, GateStatus, Refusal, Request, Verdict
from arxdeploy.domain.events import Deployment, Event
from arxdeploy.domain.plan import EnvironmentPlan
from arxdeploy.domain.roles import Role
from arxdeploy.domain.states import Outcome, State
from arxdeploy.engine.hooks import emit
from arxdeploy.errors import ConflictError, RefusedError
from arxdeploy.ports import Clock, Hook, Store, Summary

# How often a waiting process looks at the record: a decision moves it on within this.
POLL_SECONDS = 0.2
PROGRESS_EVERY = timedelta(minutes=1)


def changes(d: Deployment, plan: EnvironmentPlan) -> tuple[str, ...]:
    """What an approver is asked to let through, compared with what is live."""
    lines = [f"version: {d.previous_version or 'nothing live'} -> {d.version}"]
    if d.git_ref or d.git_sha:
        lines.append(f"git: {d.git_ref or ''} {(d.git_sha or '')[:12]}".rstrip())
    if d.critical:
        lines.append("marked critical")
    lines.append(f"config: sha256 {plan.config_digest[:12] or 'unknown'}")
    return tuple(lines)


def run_gate(
    d: Deployment,
    plan: EnvironmentPlan,
    events: list[Event],
    now: datetime,
    append: Callable[[list[Event]], None],
    content_now: Callable[[], str] | None = None,
) -> tuple[Outcome, dict[str, object]] | None:
    """One pass of the gate step: the outcome, or None while people have not decided.

    ``content_now`` reads the config and the files it names again, as they are now: approvals
    bind to the content when they were asked for, so content changed while people decided
    voids them, for the process that waited as for one that resumes later.
    """
    gate = approvals.tally(events, now)
    # Approvals bind to the content and to the image the security step resolved (what runs).
    image = security_events.image_digest(events)
    bound = security_events.bind_image(plan.config_digest, image)
    if gate.request is None:
        policy = plan.approval
        request = Request(
            requested_by=d.requested_by,
            version=d.version,
            config_digest=bound,
            approvers=policy.approvers,
            min_approvals=policy.min_approvals,
            allow_self_approval=policy.allow_self_approval,
            asked_at=now,
            expires_at=now + policy.timeout,
            changes=changes(d, plan),
            server_only=policy.server_only,
            actor=d.actor,
        )
        if policy.approves_itself(critical=d.critical):
            request = replace(request, approvers=(AUTO_APPROVER,), min_approvals=1)
            auto = Decision(AUTO_APPROVER, Verdict.APPROVE, now, via="auto", reason="auto_approve_staging")
            batch = [approvals.approval_requested(request), approvals.decided(auto, request)]
        else:
            batch = [approvals.approval_requested(request)]
        append(batch)
        gate = approvals.tally([*events, *batch], now)
    assert gate.request is not None
    if gate.request.config_digest != bound:
        return Outcome.REJECTED, {"reason": _content_changed(gate.request.config_digest, bound)}
    if gate.status is GateStatus.APPROVED:
        current = security_events.bind_image(content_now(), image) if content_now is not None else bound
        if current != gate.request.config_digest:
            return Outcome.REJECTED, {"reason": _content_changed(gate.request.config_digest, current)}
        who = ", ".join(gate.approved_by)
        return Outcome.OK, {"detail": f"approved by {who}"}
    if gate.status is GateStatus.REJECTED:
        rejection = gate.rejection
        why = f"rejected by {rejection.who}: {rejection.reason or 'no reason given'}" if rejection else "rejected"
        return Outcome.REJECTED, {"reason": why}
    if gate.status is GateStatus.EXPIRED:
        minutes = plan.approval.timeout.total_seconds() / 60
        got = f"{len(gate.approvals)} of {gate.request.min_approvals}"
        return Outcome.EXPIRED, {"reason": f"no decision within {minutes:g} minutes ({got} approvals)"}
    return None


def _content_changed(asked: str, now: str) -> str:
    return (
        "the config or a file it names (check script, manifest template) changed since approval was asked "
        f"({asked[:12]} -> {now[:12]}): its approvals are void; request the deployment again"
    )


def waiting_line(gate: Gate, now: datetime) -> str:
    """e.g. "waiting for approval: 1 of 2 (ana@example.com), 41m left" """
    assert gate.request is not None
    left = int(gate.time_left(now).total_seconds())
    who = f" ({', '.join(gate.approved_by)})" if gate.approvals else ""
    return (
        f"waiting for approval: {len(gate.approvals)} of {gate.request.min_approvals}{who}, "
        f"{left // 60}m{left % 60:02d}s left"
    )


@dataclass
class Approvals:
    """Decisions on gates, by people: the one place the approval rules are enforced."""

    store: Store
    clock: Clock
    hooks: Sequence[Hook] = field(default_factory=tuple)

    def gate(self, *, deployment_id: str) -> tuple[Summary, Gate]:
        summary = self.store.get(deployment_id=deployment_id)
        return summary, approvals.tally(self.store.events(deployment_id=summary.deployment.id), self.clock.now())

    def pending(self, *, service: str, environment: str | None = None) -> list[tuple[Summary, Gate]]:
        """Deployments whose gate waits for people, oldest first."""
        found = []
        candidates = (
            self.store.unfinished(service=service, environment=environment)[::-1]  # newest first, as history
            if environment is not None
            else self.store.history(service=service, limit=500)
        )
        for summary in candidates:
            if summary.state is State.AWAITING_APPROVAL:
                _, gate = self.gate(deployment_id=summary.deployment.id)
                if gate.status is GateStatus.PENDING:
                    found.append((summary, gate))
        return found[::-1]

    def decide(
        self,
        *,
        deployment_id: str,
        who: str,
        verdict: Verdict,
        via: str,
        reason: str = "",
        logins: tuple[str, ...] = (),
        role: Role | None = None,
    ) -> Gate:
        """Record ``who``'s verdict. Raises RefusedError (recorded) or ConflictError (not recorded).

        ``logins`` and ``role`` come from the decider's token, when one names them.
        """
        summary, gate = self.gate(deployment_id=deployment_id)
        d = summary.deployment
        if summary.state is not State.AWAITING_APPROVAL or gate.status is not GateStatus.PENDING:
            status = gate.status.value if summary.state is State.AWAITING_APPROVAL else summary.state.value
            raise ConflictError(
                f"deployment {d.id} is not waiting for approval (it is {status.replace('_', ' ')})",
                hint=f"see it with `arxdeploy show {d.id}`",
            )
        assert gate.request is not None
        now = self.clock.now()
        why = approvals.judge(gate, who=who, verdict=verdict, via=via, logins=logins, role=role)
        if why is not None:
            self._append(d, [approvals.refused(Refusal(who, why, now))])
            raise RefusedError(why)
        if verdict is Verdict.APPROVE and who.lower() in gate.approved_by:
            raise ConflictError(f"{who} has already approved deployment {d.id}")
        self._append(d, [approvals.decided(Decision(who.lower(), verdict, now, via=via, reason=reason), gate.request)])
        after = approvals.tally(self.store.events(deployment_id=d.id), self.clock.now())
        counted = (
            who.lower() in after.approved_by
            if verdict is Verdict.APPROVE
            else after.rejection is not None and after.rejection.who == who.lower()
        )
        if not counted:
            # Checked and recorded in two steps: the deployment moved on (or another verdict
            # ended it) in between. The record keeps the attempt; it does not count.
            raise ConflictError(
                f"deployment {d.id} was decided before this {verdict.value} was recorded; it does not count",
                hint=f"see what happened with `arxdeploy show {d.id}`",
            )
        return after

    def _append(self, d: Deployment, batch: list[Event]) -> None:
        self.store.append(deployment_id=d.id, events=batch)
        emit(self.hooks, d, batch)
