"""Deployments as plain JSON-ready data, shared by --json output and the human views."""

from __future__ import annotations

from typing import Any

from arxdeploy.domain.events import Deployment, Event, View
from arxdeploy.domain.states import State

EXIT_BY_STATE = {
    State.SUCCEEDED: 0,
    State.FAILED: 1,
    State.ROLLED_BACK: 1,
    State.REJECTED: 3,
    State.EXPIRED: 3,
    State.AWAITING_APPROVAL: 0,  # only with --no-wait: the request is recorded, `resume` goes on
}


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
        "created_at": d.created_at.isoformat(),
        "finished_at": view.finished_at.isoformat() if view.finished_at else None,
        "traffic_on": view.traffic_on.value if view.traffic_on else None,
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
        data["events"] = [e.to_json() for e in events]
    return data


def outcome_line(d: Deployment, view: View) -> str:
    """One sentence saying how it ended and where the service is now."""
    target = f"{d.service}/{d.environment}"
    seconds = (view.finished_at - d.created_at).total_seconds() if view.finished_at else 0.0
    why = ""
    if view.failure:
        why = f"{view.failure.step} failed: {view.failure.reason}"
    if view.state is State.SUCCEEDED:
        if d.kind.value == "stop":
            return f"{target} stopped"
        return f"succeeded in {seconds:.1f}s: {target} runs {d.version} on {d.new_color.value}"
    if view.state is State.ROLLED_BACK:
        back = (
            f"traffic is back on {d.old_color.value} ({d.previous_version})"
            if d.old_color
            else "nothing was live before"
        )
        return f"rolled back after {seconds:.1f}s: {why}; {back}"
    if view.state is State.FAILED:
        live = f"{d.old_color.value} ({d.previous_version}) still takes traffic" if d.old_color else "nothing was live"
        return f"failed after {seconds:.1f}s: {why}; {live}"
    return f"{view.state.value}: {why}" if why else view.state.value
