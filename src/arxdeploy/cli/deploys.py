"""Commands that change what runs: deploy, resume, rollback, reconcile, stop.

Each is one ``Request`` to the engine and becomes a recorded deployment (or says why there was
nothing to do, and records nothing).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from arxdeploy.cli.options import Options, app_for, env_option, json_option, pass_options

if TYPE_CHECKING:
    from arxdeploy.bootstrap import App
    from arxdeploy.cli.render import Printer
    from arxdeploy.domain.request import Request


def submit(app: App, printer: Printer, request: Request, *, as_json: bool, wait: bool = True) -> None:
    """Send ``request`` to the engine, say how it ended, exit with its code."""
    from arxdeploy.cli.views import report

    report(app, printer, app.engine.submit(plan=app.plan(request.environment), request=request, wait=wait), as_json)


@click.command()
@env_option()
@click.option("--version", "version", required=True, help="The version to deploy ({version} in the command).")
@click.option("--reason", default="", help="Why: recorded with the deployment.")
@click.option("--critical", is_flag=True, help="Mark as a critical update (may need approval even on staging).")
@click.option("--git-ref", default=None, help="The git ref this version was built from.")
@click.option("--git-sha", default=None, help="The git commit this version was built from.")
@click.option(
    "--no-wait", is_flag=True, help="If approval is needed, record the request and exit 0; continue with `resume`."
)
@json_option
@pass_options
def deploy(
    options: Options,
    environment: str,
    version: str,
    reason: str,
    critical: bool,
    git_ref: str | None,
    git_sha: str | None,
    no_wait: bool,
    as_json: bool,
) -> None:
    """Deploy VERSION to an environment, blue-green. Blocks until it ends.

    Exit codes: 0 succeeded (or, with --no-wait, waiting for approval), 1 failed or rolled
    back (the service stays on a healthy version), 2 bad usage or config (a version the
    target cannot carry, like 1.2.0+build5 on Kubernetes, is refused before anything is
    recorded or asked), 3 approval rejected or expired, 4 locked, 5 internal.
    """
    from arxdeploy.cli import github
    from arxdeploy.cli.render import Printer
    from arxdeploy.domain.request import Request

    printer = Printer(quiet=as_json)
    ci = os.environ if github.in_actions(os.environ) else {}
    request = Request(
        environment,
        version=version,
        reason=reason,
        critical=critical,
        git_ref=git_ref or ci.get("GITHUB_REF"),
        git_sha=git_sha or ci.get("GITHUB_SHA"),
        actor=ci.get("GITHUB_ACTOR"),
        run_url=github.run_url(ci),
    )
    with app_for(options, as_json=as_json, printer=printer, deploys="deploy") as app:
        app.check_version(version)
        submit(app, printer, request, as_json=as_json, wait=not no_wait)


@click.command()
@click.argument("deployment_id")
@json_option
@pass_options
def resume(options: Options, deployment_id: str, as_json: bool) -> None:
    """Continue a deployment that waits for approval: wait for the decision, then deploy.

    Exit codes as for deploy.
    """
    from arxdeploy.cli.render import Printer
    from arxdeploy.cli.views import finish

    printer = Printer(quiet=as_json)
    with app_for(options, as_json=as_json, printer=printer, deploys="resume") as app:
        d = app.store.get(deployment_id=deployment_id).deployment
        view = app.engine.resume(plan=app.plan(d.environment), deployment_id=d.id)
        finish(app, printer, d, view, as_json)


@click.command()
@env_option()
@click.option("--to", "to_version", default=None, help="Version to return to (default: the previous good one).")
@click.option("--reason", default="", help="Why: recorded with the rollback.")
@json_option
@pass_options
def rollback(options: Options, environment: str, to_version: str | None, reason: str, as_json: bool) -> None:
    """Return an environment to the previous good version (or --to VERSION).

    Uses the warm color when it still runs that version, otherwise starts it fresh; the
    same checks and the same atomic switch as a deploy. The database is left as it is, unless
    the environment sets restore_database_on_rollback: then the newest dump taken while that
    version was live is restored before the switch (the writes since are lost). Exit codes as
    for deploy.
    """
    from arxdeploy.cli.render import Printer

    printer = Printer(quiet=as_json)
    from arxdeploy.domain.request import Request
    from arxdeploy.domain.states import Kind

    request = Request(environment, Kind.ROLLBACK, version=to_version, reason=reason)
    with app_for(options, as_json=as_json, printer=printer, deploys="rollback") as app:
        if to_version is not None:
            app.check_version(to_version)
        submit(app, printer, request, as_json=as_json)


@click.command()
@env_option()
@click.option("--reason", default="", help="Why: recorded with the reconcile.")
@json_option
@pass_options
def reconcile(options: Options, environment: str, reason: str, as_json: bool) -> None:
    """Bring an environment back to the version the record says is live.

    For when the target drifted from the record (`status` says so): the local runtime died,
    a namespace was emptied, or someone changed the cluster by hand. A recorded deployment
    with the same checks and the same atomic switch as any other. Exit codes as for deploy;
    0 with nothing done when the target already runs what the record says.
    """
    from arxdeploy.cli.render import Printer
    from arxdeploy.domain.request import Request
    from arxdeploy.domain.states import Kind

    printer = Printer(quiet=as_json)
    with app_for(options, as_json=as_json, printer=printer, deploys="reconcile") as app:
        submit(app, printer, Request(environment, Kind.RECONCILE, reason=reason), as_json=as_json)


@click.command()
@env_option()
@click.option("--reason", default="", help="Why: recorded.")
@json_option
@pass_options
def stop(options: Options, environment: str, reason: str, as_json: bool) -> None:
    """Stop an environment: traffic off, every replica stopped. Recorded in the history.

    Nothing runs: nothing is started, nothing recorded, exit 0.
    """
    from arxdeploy.cli.render import Printer
    from arxdeploy.cli.views import report
    from arxdeploy.domain.request import Request
    from arxdeploy.domain.states import Kind, State

    printer = Printer(quiet=as_json)
    with app_for(options, as_json=as_json, printer=printer) as app:
        done = app.engine.submit(plan=app.plan(environment), request=Request(environment, Kind.STOP, reason=reason))
        stopped = done.view is None or done.view.state is State.SUCCEEDED
        if app.local and stopped:
            app.local.stop_environment(environment=environment)  # its router too; starts nothing
        report(app, printer, done, as_json)
