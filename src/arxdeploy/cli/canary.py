"""`arxdeploy promote|abort`: a person's answer to a canary, or to a deployment paused for them."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import click

from arxdeploy.cli.options import Options, app_for, emit_json, json_option, pass_options

if TYPE_CHECKING:
    from arxdeploy.bootstrap import App


@click.command()
@click.argument("deployment_id")
@click.option("--reason", default="", help="Why: recorded with the promote.")
@click.option("--server", "server_url", default=None, help="The arxdeploy server (default: server.url in the config).")
@json_option
@pass_options
def promote(options: Options, deployment_id: str, reason: str, server_url: str | None, as_json: bool) -> None:
    """Promote a canary (or a deployment paused for a person): its pause ends, its remaining
    steps are skipped, and the switch gives the new version all the traffic.

    Who may: as for approvals (a token through the server; the local user on a person's
    terminal; never an email only declared in CI), and the environment's approvers if it lists any.
    """
    _answer(options, deployment_id, "promote", reason, server_url, as_json)


@click.command()
@click.argument("deployment_id")
@click.option("--reason", required=True, help="Why: recorded, and told to the people watching.")
@click.option("--server", "server_url", default=None, help="The arxdeploy server (default: server.url in the config).")
@json_option
@pass_options
def abort(options: Options, deployment_id: str, reason: str, server_url: str | None, as_json: bool) -> None:
    """Abort a canary (or a deployment paused for a person): the traffic goes back to the old
    version now, and the deployment ends rolled_back."""
    _answer(options, deployment_id, "abort", reason, server_url, as_json)


def _answer(options: Options, deployment_id: str, action: str, reason: str, server: str | None, as_json: bool) -> None:
    from arxdeploy.cli import remote
    from arxdeploy.cli.approvals import _check_id

    with app_for(options, as_json=as_json) as app:
        _check_id(deployment_id)
        url = server or app.loaded.config.server.url
        if url:
            body = {"reason": reason} if reason else {}
            doing = "promoting" if action == "promote" else "aborting"
            done: dict[str, Any] = remote.call(
                url, "POST", ("deployments", deployment_id, action), os.environ, doing=doing, body=body
            )
        else:
            done = _answer_locally(app, deployment_id, action, reason)
        if as_json:
            emit_json(app, done)
        else:
            click.echo(app.redactor(f"{done['deployment_id']}: {done['line']}"))


def _answer_locally(app: App, deployment_id: str, action: str, reason: str) -> dict[str, Any]:
    """As the local user: trusted (with a note) on a person's terminal; refused, and recorded, in CI."""
    from arxdeploy.cli import github
    from arxdeploy.domain.approvals import DECLARED_IN_CI
    from arxdeploy.engine.pause import Action, Answers
    from arxdeploy.views import answer_out

    d = app.store.get(deployment_id=deployment_id).deployment
    policy = app.plan(d.environment).approval
    in_ci = github.in_ci(os.environ)
    if not in_ci:
        click.echo(
            f"note: no server configured: recording the local user {app.me.person} as who did it "
            "(set server.url for answers that prove who gave them)",
            err=True,
        )
    answers = Answers(store=app.store, clock=app.clock, hooks=list(app.hooks))
    done = answers.answer(
        deployment_id=d.id,
        action=Action(action),
        who=app.me.person,
        via=DECLARED_IN_CI if in_ci else "cli",
        reason=reason,
        approvers=policy.approvers,
        server_only=policy.server_only,
    )
    return answer_out(d.id, done, app.store.get(deployment_id=d.id).state.value)
