"""How the CLI ends a deployment: its exit code and one sentence."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, NoReturn

from arxdeploy.domain.events import Deployment, View
from arxdeploy.domain.states import State

if TYPE_CHECKING:
    from arxdeploy.bootstrap import App
    from arxdeploy.cli.render import Printer
    from arxdeploy.engine.run import Submitted

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


def report(app: App, printer: Printer, done: Submitted, as_json: bool) -> NoReturn:
    """Say what came of a request (its notes, then how its deployment ended) and exit."""
    if done.deployment is None or done.view is None:
        # Nothing to act on: nothing was started or recorded.
        if as_json:
            from arxdeploy.cli.options import emit_json

            emit_json(app, {"deployment": None, "notes": list(done.notes)})
        else:
            for note in done.notes:
                printer.note(note)
        sys.exit(0)
    if not as_json:
        for note in done.notes:
            printer.note(note)
    finish(app, printer, done.deployment, done.view, as_json)


def finish(app: App, printer: Printer, d: Deployment, view: View, as_json: bool) -> NoReturn:
    """Tell how a deployment ended (and GitHub, inside Actions), then exit with its code."""
    from arxdeploy.cli.options import emit_json
    from arxdeploy.views import deployment_json

    _tell_github(app, d, view)
    if as_json:
        emit_json(app, deployment_json(d, view))
    elif view.state is State.AWAITING_APPROVAL:
        printer.note(f"waiting for approval; once approved, continue with `arxdeploy resume {d.id}`")
    else:
        printer.outcome(view.state, outcome_line(d, view))
    sys.exit(EXIT_BY_STATE.get(view.state, 5))


def _tell_github(app: App, d: Deployment, view: View) -> None:
    """Inside GitHub Actions: the outcome as step outputs and a summary (secrets masked)."""
    from arxdeploy.cli import github

    if not github.in_actions(os.environ):
        return
    line = outcome_line(d, view)
    github.write_outputs(
        os.environ,
        {
            "deployment_id": d.id,
            "state": view.state.value,
            "environment": d.environment,
            "version": d.version,
            "outcome": app.redactor(line),
        },
    )
    rows = [("deployment", d.id), ("environment", d.environment), ("version", d.version), ("state", view.state.value)]
    table = "\n".join(f"| {key} | `{value}` |" for key, value in rows)
    summary = f"### arxdeploy {d.kind.value}\n\n| | |\n|---|---|\n{table}\n\n{line}\n"
    github.write_summary(os.environ, app.redactor(summary))
    if view.state not in (State.SUCCEEDED, State.AWAITING_APPROVAL):
        github.annotate_error(app.redactor(line), environ=os.environ)  # the reason, on the run's page
