"""Deployments, gates and tokens as plain JSON-ready data: what `--json` prints and the HTTP API returns."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from arxdeploy.domain import approvals, security_events
from arxdeploy.domain.approvals import Decision, Gate, GateStatus
from arxdeploy.domain.events import Deployment, Event, View
from arxdeploy.domain.security import GateResult
from arxdeploy.ports import Summary, TokenRecord

if TYPE_CHECKING:
    from arxdeploy.engine.pause import Answer


def deployment_json(d: Deployment, view: View, events: list[Event] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": d.id,
        "service": d.service,
        "environment": d.environment,
        "kind": d.kind.value,
        "state": view.state.value,
        "version": d.version,
        "previous_version": d.previous_version,
        "new_color": d.new_color.value,
        "old_color": d.old_color.value if d.old_color else None,
        "requested_by": d.requested_by,
        "reason": d.reason,
        "critical": d.critical,
        "git_ref": d.git_ref,
        "git_sha": d.git_sha,
        "actor": d.actor,
        "run_url": d.run_url,
        "created_at": d.created_at.isoformat(),
        "finished_at": view.finished_at.isoformat() if view.finished_at else None,
        "traffic_on": view.traffic_on.value if view.traffic_on else None,
        "restores_database": view.restores_database or d.route.restore_database,
        "database_restored_from": view.database_restored_from,
        "canary": canary_out(view),
        "failure": None,
        "steps": [
            {
                "step": s.step,
                "outcome": s.outcome,
                "started_at": s.started.isoformat(),
                "ended_at": s.ended.isoformat(),
                "seconds": round(s.seconds, 3),
                "detail": s.detail,
            }
            for s in view.steps
        ],
    }
    if view.failure:
        f = view.failure
        data["failure"] = {"step": f.step, "reason": f.reason, "check": f.check, "answer": f.answer}
    if events is not None:
        data["security"] = [security_events.result_json(r) for r in security_events.results(events)]
        data["events"] = [e.to_json() for e in events]
        data["analysis"] = analysis_json(events)
    return data


def analysis_json(events: list[Event]) -> list[dict[str, Any]]:
    """Metric analysis as recorded: each window's readings (both colors' figures) and each verdict."""
    return [{"at": e.at.isoformat(), **e.data} for e in events if e.type == "analysis"]


def canary_out(view: View) -> dict[str, Any] | None:
    """Where a canary is: the new color's share as last recorded, its step, why it waits (if it does)."""
    if not view.canary:
        return None
    return {"weight": view.canary_weight or 0, "step": view.canary_step, "paused": view.paused}


def answer_out(deployment_id: str, answer: Answer, state: str) -> dict[str, Any]:
    """A promote or an abort, as recorded: for --json and the API."""
    return {
        "deployment_id": deployment_id,
        "action": answer.action.value,
        "who": answer.who,
        "via": answer.via,
        "reason": answer.reason,
        "at": answer.at.isoformat(),
        "state": state,
        "line": answer.line(),
    }


# --- approval gates ---------------------------------------------------------------------------


def seconds_left(gate: Gate, now: datetime) -> int:
    return int(gate.time_left(now).total_seconds()) if gate.status is GateStatus.PENDING else 0


def pending_out(deployment: dict[str, Any], gate: Gate, now: datetime) -> dict[str, Any]:
    request = gate.request
    assert request is not None  # pending gates were asked
    return {
        **deployment,
        "changes": list(request.changes),
        "approvers": list(request.approvers),
        "min_approvals": request.min_approvals,
        "approved_by": list(gate.approved_by),
        "asked_at": request.asked_at.isoformat(),
        "expires_at": request.expires_at.isoformat(),
        "seconds_left": seconds_left(gate, now),
    }


def gate_out(summary: Summary, gate: Gate, now: datetime, security: Sequence[GateResult] = ()) -> dict[str, Any]:
    """``security``: the results of the deployment's security step, which approvers see."""
    d = summary.deployment
    request = gate.request
    return {
        "deployment_id": d.id,
        "service": d.service,
        "environment": d.environment,
        "state": summary.state.value,
        "version": d.version,
        "previous_version": d.previous_version,
        "requested_by": d.requested_by,
        "reason": d.reason,
        "status": gate.status.value,
        "request": None
        if request is None
        else {**approvals.approval_requested(request).data, "asked_at": request.asked_at.isoformat()},
        "approvals": [decision_out(a) for a in gate.approvals],
        "approved_by": list(gate.approved_by),
        "rejection": decision_out(gate.rejection) if gate.rejection else None,
        "refusals": [{"who": r.who, "why": r.why, "at": r.at.isoformat()} for r in gate.refusals],
        "seconds_left": seconds_left(gate, now),
        "security": [security_events.result_json(r) for r in security],
    }


def decision_out(decision: Decision) -> dict[str, Any]:
    return {
        "who": decision.who,
        "verdict": decision.verdict.value,
        "at": decision.at.isoformat(),
        "via": decision.via,
        "reason": decision.reason,
    }


def token_out(token: TokenRecord, now: datetime) -> dict[str, Any]:
    """A token as listed: who, what it may do, until when; never its secret nor its digest."""
    return {
        "id": token.id,
        "email": token.email,
        "role": token.role.value,
        "github": token.github,
        "created_at": token.created_at.isoformat(),
        "created_by": token.created_by,
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
        "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
        "active": token.active(now),
    }
