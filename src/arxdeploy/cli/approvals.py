"""`arxdeploy approve|reject|approvals`."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from arxdeploy.cli.options import Options, app_for, emit_json, env_option, json_option, pass_options

if TYPE_CHECKING:
    from arxdeploy.bootstrap import App
    from arxdeploy.domain.approvals import Gate, Verdict


@click.command()
@click.argument("deployment_id")
@click.option("--reason", default="", help="Why: recorded with the approval.")
@click.option("--server", "server_url", default=None, help="The arxdeploy server (default: server.url in the config).")
@json_option
@pass_options
def approve(options: Options, deployment_id: str, reason: str, server_url: str | None, as_json: bool) -> None:
    """Approve a deployment waiting at its gate, as yourself.

    Through a server (server.url or --server) you are who your token says (ARXDEPLOY_TOKEN);
    without one, the local user (ARXDEPLOY_EMAIL or git's user.email) is trusted on a person's
    terminal, and refused in CI (CI or GITHUB_ACTIONS set), where any step can set it.
    """
    from arxdeploy.domain.approvals import Verdict

    _decide(options, deployment_id, Verdict.APPROVE, reason, server_url, as_json)


@click.command()
@click.argument("deployment_id")
@click.option("--reason", required=True, help="Why: recorded, and told to the people waiting.")
@click.option("--server", "server_url", default=None, help="The arxdeploy server (default: server.url in the config).")
@json_option
@pass_options
def reject(options: Options, deployment_id: str, reason: str, server_url: str | None, as_json: bool) -> None:
    """Reject a deployment waiting at its gate: it ends `rejected` (exit 3 for whoever waits)."""
    from arxdeploy.domain.approvals import Verdict

    _decide(options, deployment_id, Verdict.REJECT, reason, server_url, as_json)


def _decide(
    options: Options, deployment_id: str, verdict: Verdict, reason: str, server: str | None, as_json: bool
) -> None:
    from arxdeploy.cli import approval_views as views
    from arxdeploy.views import gate_out

    with app_for(options, as_json=as_json) as app:
        _check_id(deployment_id)  # before anything uses it, a request above all
        url = server or app.loaded.config.server.url
        if url:
            gate = views.decide_remotely(url, deployment_id, verdict, reason, os.environ)
        else:
            decided = _decide_locally(app, deployment_id, verdict, reason)
            gate = gate_out(app.store.get(deployment_id=deployment_id), decided, app.clock.now())
        if as_json:
            emit_json(app, gate)
        else:
            click.echo(app.redactor(views.gate_line(gate)))


def _decide_locally(app: App, deployment_id: str, verdict: Verdict, reason: str) -> Gate:
    """As the local user: trusted (with a warning) on a person's terminal; refused, and recorded, in CI."""
    from arxdeploy.cli import github
    from arxdeploy.domain.approvals import DECLARED_IN_CI
    from arxdeploy.errors import RefusedError

    who = app.me.person
    if not github.in_ci(os.environ):
        click.echo(
            f"note: no server configured: recording the local user {who} as the approver "
            "(this mode trusts whoever runs this command; set server.url for approvals that prove who approved)",
            err=True,
        )
        return app.approvals.decide(deployment_id=deployment_id, who=who, verdict=verdict, via="cli", reason=reason)
    try:
        return app.approvals.decide(
            deployment_id=deployment_id, who=who, verdict=verdict, via=DECLARED_IN_CI, reason=reason
        )
    except RefusedError as refused:
        raise RefusedError(
            refused.message,
            hint="set server.url in the config (or pass --server URL) and approve with your token in "
            "ARXDEPLOY_TOKEN, or on the server's approval page",
        ) from None


def _check_id(deployment_id: str) -> None:
    from arxdeploy.domain.ids import is_deployment_id
    from arxdeploy.errors import UsageError

    if not is_deployment_id(deployment_id):
        raise UsageError(
            f"{deployment_id!r} is not a deployment id",
            hint="ids look like 20261127-101500-ab12 (or a unique prefix of 6 or more characters); "
            "`arxdeploy approvals` lists the deployments that wait",
        )


@click.command("approvals")
@env_option(required=False)
@json_option
@pass_options
def approvals_list(options: Options, environment: str | None, as_json: bool) -> None:
    """Deployments waiting for approval, oldest first."""
    from arxdeploy.cli import approval_views as views
    from arxdeploy.domain.events import fold
    from arxdeploy.views import deployment_json, pending_out

    with app_for(options, as_json=as_json, reads_only=True) as app:
        if environment:
            app.plan(environment)
        now = app.clock.now()
        rows = []
        for summary, gate in app.approvals.pending(service=app.service, environment=environment):
            events = app.store.events(deployment_id=summary.deployment.id)
            rows.append(pending_out(deployment_json(summary.deployment, fold(events)), gate, now))
        if as_json:
            emit_json(app, rows)
        else:
            views.pending_table(rows, app.redactor)
