"""Deployments as plain JSON-ready data: what `--json` prints and the HTTP API returns."""

from __future__ import annotations

from typing import Any

from arxdeploy.domain.events import Deployment, Event, View


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
