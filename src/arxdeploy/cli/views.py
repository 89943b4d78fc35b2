"""How the CLI ends a deployment: its exit code and one sentence."""

from __future__ import annotations

from arxdeploy.domain.events import Deployment, View
from arxdeploy.domain.states import State

EXIT_BY_STATE = {
    State.SUCCEEDED: 0,
    State.FAILED: 1,
    State.ROLLED_BACK: 1,
    State.REJECTED: 3,
    State.EXPIRED: 3,
    State.AWAITING_APPROVAL: 0,  # only with --no-wait: the request is recorded, `resume` goes on
}


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
