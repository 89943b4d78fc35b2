"""`arxdeploy`: the command line. Imports stay light here; each command loads what it needs."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

if TYPE_CHECKING:
    from arxdeploy.bootstrap import App
    from arxdeploy.cli.render import Printer

DEFAULT_CONFIG = "deployment_config.yaml"


class Options:
    def __init__(self, config: Path, verbose: bool) -> None:
        self.config = config
        self.verbose = verbose
        self.redact: Callable[[str], str] = str  # the config's secrets, once it is loaded


pass_options = click.make_pass_decorator(Options)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-c",
    "--config",
    type=click.Path(path_type=Path, dir_okay=False),
    default=DEFAULT_CONFIG,
    show_default=True,
    envvar="ARXDEPLOY_CONFIG",
    help="The service's deployment_config.yaml.",
)
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks of internal errors.")
@click.version_option(package_name="arxdeploy")
@click.pass_context
def cli(ctx: click.Context, config: Path, verbose: bool) -> None:
    """Safe, reversible blue-green deployments.

    A new version starts beside the live one, is health-checked before it gets a request,
    takes the traffic in one atomic switch, is watched for a monitoring window and is
    rolled back on its own if it fails, with the previous version still warm.
    """
    ctx.obj = Options(config, verbose)


# --- shared plumbing ----------------------------------------------------------------------


def fail(error: BaseException, *, verbose: bool, as_json: bool = False, redact: Callable[[str], str] = str) -> NoReturn:
    """Show an error once, with what to do next, and exit with its stable code."""
    from arxdeploy.errors import ArxdeployError

    if isinstance(error, ArxdeployError):
        code, message, hint = error.exit_code, error.message, error.hint
    else:
        code, message, hint = (
            5,
            f"internal error: {type(error).__name__}: {error}",
            "run again with --verbose for the traceback",
        )
    if verbose and not isinstance(error, ArxdeployError):
        import traceback

        traceback.print_exception(error, file=sys.stderr)
    message, hint = redact(message), redact(hint) if hint else hint
    if as_json:
        click.echo(json.dumps({"error": message, "hint": hint, "exit_code": code}))
    else:
        click.echo(f"error: {message}", err=True)
        if hint:
            click.echo(f"hint: {hint}", err=True)
    from arxdeploy.cli import github

    if github.in_actions(os.environ):
        github.annotate_error(f"{message}\n{hint}" if hint else message, environ=os.environ)
    sys.exit(code)


@contextmanager
def errors_handled(options: Options, as_json: bool = False) -> Iterator[None]:
    try:
        yield
    except (SystemExit, click.exceptions.Exit, click.ClickException):
        raise
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - the top of the program: every error is shown once
        fail(exc, verbose=options.verbose, as_json=as_json, redact=options.redact)


@contextmanager
def app_for(options: Options, *, as_json: bool = False, printer: Printer | None = None) -> Iterator[App]:
    from arxdeploy.bootstrap import build

    with errors_handled(options, as_json):
        app = build(options.config, os.environ, hooks=[printer] if printer else [])
        options.redact = app.redactor
        try:
            if printer:
                printer.redactor = app.redactor
            yield app
        finally:
            app.close()


def emit_json(app: App, data: Any) -> None:
    # Masked before encoding: JSON escapes quotes, backslashes and non-ASCII inside a secret.
    click.echo(app.redactor(json.dumps(app.redactor.data(data), indent=2, default=str)))


def env_option(required: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option("-e", "--env", "environment", required=required, help="Environment name, e.g. staging.")


json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object for machines.")


# --- commands -----------------------------------------------------------------------------


@cli.command()
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
    back (the service stays on a healthy version), 2 bad usage or config, 3 approval
    rejected or expired, 4 locked, 5 internal.
    """
    from arxdeploy.cli.render import Printer

    printer = Printer(quiet=as_json)
    with app_for(options, as_json=as_json, printer=printer) as app:
        plan = app.plan(environment)
        for note in app.prepare(environment, strict=True):
            printer.note(note)
        from arxdeploy.cli import github

        ci = os.environ if github.in_actions(os.environ) else {}
        d, view = app.engine.deploy(
            plan=plan,
            version=version,
            reason=reason,
            critical=critical,
            git_ref=git_ref or ci.get("GITHUB_REF"),
            git_sha=git_sha or ci.get("GITHUB_SHA"),
            actor=ci.get("GITHUB_ACTOR"),
            run_url=github.run_url(ci),
            wait=not no_wait,
        )
        _finish(app, printer, d, view, as_json)


@cli.command()
@click.argument("deployment_id")
@json_option
@pass_options
def resume(options: Options, deployment_id: str, as_json: bool) -> None:
    """Continue a deployment that waits for approval: wait for the decision, then deploy.

    Exit codes as for deploy.
    """
    from arxdeploy.cli.render import Printer

    printer = Printer(quiet=as_json)
    with app_for(options, as_json=as_json, printer=printer) as app:
        d = app.store.get(deployment_id=deployment_id).deployment
        view = app.engine.resume(plan=app.plan(d.environment), deployment_id=d.id)
        _finish(app, printer, d, view, as_json)


@cli.command()
@env_option()
@click.option("--to", "to_version", default=None, help="Version to return to (default: the previous good one).")
@click.option("--reason", default="", help="Why: recorded with the rollback.")
@json_option
@pass_options
def rollback(options: Options, environment: str, to_version: str | None, reason: str, as_json: bool) -> None:
    """Return an environment to the previous good version (or --to VERSION).

    Uses the warm color when it still runs that version, otherwise starts it fresh; the
    same checks and the same atomic switch as a deploy. Exit codes as for deploy.
    """
    from arxdeploy.cli.render import Printer

    printer = Printer(quiet=as_json)
    with app_for(options, as_json=as_json, printer=printer) as app:
        plan = app.plan(environment)
        for note in app.prepare(environment, strict=True):
            printer.note(note)
        d, view = app.engine.rollback(plan=plan, to_version=to_version, reason=reason)
        _finish(app, printer, d, view, as_json)


def _finish(app: App, printer: Printer, d: Any, view: Any, as_json: bool) -> None:
    from arxdeploy.cli.views import EXIT_BY_STATE, outcome_line
    from arxdeploy.domain.states import State
    from arxdeploy.views import deployment_json

    _tell_github(app, d, view)
    if as_json:
        emit_json(app, deployment_json(d, view))
    elif view.state is State.AWAITING_APPROVAL:
        printer.note(f"waiting for approval; once approved, continue with `arxdeploy resume {d.id}`")
    else:
        printer.outcome(view.state, outcome_line(d, view))
    sys.exit(EXIT_BY_STATE.get(view.state, 5))


def _tell_github(app: App, d: Any, view: Any) -> None:
    """Inside GitHub Actions: the outcome as step outputs and a summary (secrets masked)."""
    from arxdeploy.cli import github
    from arxdeploy.cli.views import outcome_line
    from arxdeploy.domain.states import State

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


@cli.command()
@env_option(required=False)
@json_option
@pass_options
def status(options: Options, environment: str | None, as_json: bool) -> None:
    """Per environment: the live version and color, its health now, the last deployment."""
    from arxdeploy.cli import render
    from arxdeploy.cli.status import environment_status

    with app_for(options, as_json=as_json) as app:
        names = [environment] if environment else app.environments()
        if environment:
            app.plan(environment)  # unknown names fail here, with the known ones listed
        rows = [environment_status(app, name) for name in names]
        if as_json:
            emit_json(app, {"service": app.service, "environments": rows})
        else:
            render.status_table(app.service, rows, app.redactor)


@cli.command()
@env_option(required=False)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
@json_option
@pass_options
def history(options: Options, environment: str | None, limit: int, as_json: bool) -> None:
    """Past deployments, newest first."""
    from arxdeploy.cli import render

    with app_for(options, as_json=as_json) as app:
        if environment:
            app.plan(environment)
        rows = app.store.history(service=app.service, environment=environment, limit=limit)
        if as_json:
            emit_json(app, [_summary_json(s) for s in rows])
        else:
            render.history_table(rows, app.redactor)


def _summary_json(summary: Any) -> dict[str, Any]:
    d = summary.deployment
    return {
        "id": d.id,
        "environment": d.environment,
        "kind": d.kind.value,
        "version": d.version,
        "previous_version": d.previous_version,
        "state": summary.state.value,
        "requested_by": d.requested_by,
        "reason": d.reason,
        "created_at": d.created_at.isoformat(),
        "updated_at": summary.updated_at.isoformat(),
    }


@cli.command()
@click.argument("deployment_id")
@json_option
@pass_options
def show(options: Options, deployment_id: str, as_json: bool) -> None:
    """The full event log of one deployment (an id or a unique prefix of 6+ characters)."""
    from arxdeploy.cli import render
    from arxdeploy.domain.events import fold
    from arxdeploy.views import deployment_json

    with app_for(options, as_json=as_json) as app:
        summary = app.store.get(deployment_id=deployment_id)
        events = app.store.events(deployment_id=summary.deployment.id)
        view = fold(events)
        if as_json:
            emit_json(app, deployment_json(summary.deployment, view, events))
        else:
            render.show(summary.deployment, view, events, app.redactor)


@cli.command()
@env_option()
@click.option(
    "-n", "--lines", default=50, show_default=True, type=click.IntRange(1, 100_000), help="Lines per replica."
)
@click.option("--all-colors", is_flag=True, help="Also the colors that do not take traffic.")
@pass_options
def logs(options: Options, environment: str, lines: int, all_colors: bool) -> None:
    """The last lines each replica of an environment wrote."""
    from arxdeploy.cli.status import log_tails

    with app_for(options) as app:
        app.plan(environment)
        for path, tail in log_tails(app, environment, lines=lines, all_colors=all_colors):
            click.echo(f"==> {path} <==")
            click.echo(app.redactor(tail))


@cli.command()
@env_option()
@click.option("--reason", default="", help="Why: recorded.")
@json_option
@pass_options
def stop(options: Options, environment: str, reason: str, as_json: bool) -> None:
    """Stop an environment: its router and every replica. Recorded in the history."""
    from arxdeploy.cli.render import Printer

    printer = Printer(quiet=as_json)
    with app_for(options, as_json=as_json, printer=printer) as app:
        plan = app.plan(environment)
        d, view = app.engine.stop(plan=plan, reason=reason)
        if app.local:
            app.local.stop_environment(environment=environment)  # also closes its router
        _finish(app, printer, d, view, as_json)


@cli.command()
@json_option
@pass_options
def validate(options: Options, as_json: bool) -> None:
    """Check the config file (and that check scripts exist and are executable). Exit 2 on problems."""
    from arxdeploy.config import check_files, load
    from arxdeploy.errors import ConfigError

    with errors_handled(options, as_json):
        loaded = load(options.config, os.environ)
        problems = check_files(loaded)
        if problems:
            raise ConfigError(problems)
        envs = ", ".join(loaded.config.environments)
        if as_json:
            click.echo(
                json.dumps({"valid": True, "file": str(loaded.path), "environments": list(loaded.config.environments)})
            )
        else:
            click.echo(f"{loaded.path}: valid ({loaded.config.service}; environments: {envs})")


@cli.command()
@click.option("--markdown", is_flag=True, help="Print the configuration reference as Markdown instead.")
def schema(markdown: bool) -> None:
    """Print the JSON Schema of deployment_config.yaml, for editors."""
    if markdown:
        from arxdeploy.config.reference import markdown as reference

        click.echo(reference(), nl=False)
        return
    from arxdeploy.config import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


@cli.command()
@click.option("--keep", is_flag=True, help="Leave the sample service's folder in place.")
@pass_options
def demo(options: Options, keep: bool) -> None:
    """Deploy a sample service three times on this machine and explain what happened."""
    from arxdeploy.cli.demo import run_demo

    with errors_handled(options):
        sys.exit(run_demo(keep=keep, verbose=options.verbose))


@cli.group()
def backup() -> None:
    """The backups each deployment takes before it changes anything."""


@backup.command("list")
@env_option(required=False)
@json_option
@pass_options
def backup_list(options: Options, environment: str | None, as_json: bool) -> None:
    """Backups, newest first, with whether their files are intact."""
    from arxdeploy.backups import list_backups
    from arxdeploy.cli import render

    with app_for(options, as_json=as_json) as app:
        if environment:
            app.plan(environment)
        found = list_backups(app.loaded.state_dir, environment=environment)
        if as_json:
            emit_json(app, [b.to_json() for b in found])
        else:
            render.backups_table(found, app.redactor)


@backup.command("show")
@click.argument("deployment_id")
@json_option
@pass_options
def backup_show(options: Options, deployment_id: str, as_json: bool) -> None:
    """One backup: its files, their digests, whether they are intact, what was live."""
    from arxdeploy.backups import get_backup

    with app_for(options, as_json=as_json) as app:
        found = get_backup(app.loaded.state_dir, deployment_id)
        taken_by = app.store.get(deployment_id=found.deployment_id).deployment
        data = {**found.to_json(), "live_version": taken_by.previous_version, "live_color": _value(taken_by.old_color)}
        if as_json:
            emit_json(app, data)
            return
        click.echo(
            app.redactor(f"backup taken by deployment {found.deployment_id} ({found.environment}, {found.created_at})")
        )
        click.echo(f"live then: {data['live_version'] or 'nothing'} ({data['live_color'] or '-'})")
        for name, digest in found.files.items():
            click.echo(f"  {'DAMAGED' if name in found.damaged else 'ok':8} {digest[:16]}  {found.folder / name}")


@backup.command("restore")
@click.argument("deployment_id")
@click.option("--reason", default="", help="Why: recorded with the restore.")
@json_option
@pass_options
def backup_restore(options: Options, deployment_id: str, reason: str, as_json: bool) -> None:
    """Return the environment to what was live when a backup was taken.

    Runs as a rollback to that version: the same checks and the same atomic switch.
    """
    from arxdeploy.backups import get_backup
    from arxdeploy.cli.render import Printer
    from arxdeploy.errors import UsageError

    printer = Printer(quiet=as_json)
    with app_for(options, as_json=as_json, printer=printer) as app:
        found = get_backup(app.loaded.state_dir, deployment_id)
        if not found.intact:
            raise UsageError(f"backup {found.deployment_id} is damaged: {', '.join(found.damaged)}")
        version = app.store.get(deployment_id=found.deployment_id).deployment.previous_version
        if version is None:
            raise UsageError(f"nothing was live in {found.environment} when backup {found.deployment_id} was taken")
        plan = app.plan(found.environment)
        for note in app.prepare(found.environment, strict=True):
            printer.note(note)
        why = reason or f"restore of backup {found.deployment_id}"
        d, view = app.engine.rollback(plan=plan, to_version=version, reason=why)
        _finish(app, printer, d, view, as_json)


def _value(color: Any) -> str | None:
    return color.value if color else None


# --- approvals, tokens and the server ---------------------------------------------------------


@cli.command()
@click.argument("deployment_id")
@click.option("--reason", default="", help="Why: recorded with the approval.")
@click.option("--server", "server_url", default=None, help="The arxdeploy server (default: server.url in the config).")
@json_option
@pass_options
def approve(options: Options, deployment_id: str, reason: str, server_url: str | None, as_json: bool) -> None:
    """Approve a deployment waiting at its gate, as yourself.

    Through a server (server.url or --server) you are who your token says (ARXDEPLOY_TOKEN);
    without one, the local user (ARXDEPLOY_EMAIL or git's user.email) is trusted.
    """
    from arxdeploy.domain.approvals import Verdict

    _decide(options, deployment_id, Verdict.APPROVE, reason, server_url, as_json)


@cli.command()
@click.argument("deployment_id")
@click.option("--reason", required=True, help="Why: recorded, and told to the people waiting.")
@click.option("--server", "server_url", default=None, help="The arxdeploy server (default: server.url in the config).")
@json_option
@pass_options
def reject(options: Options, deployment_id: str, reason: str, server_url: str | None, as_json: bool) -> None:
    """Reject a deployment waiting at its gate: it ends `rejected` (exit 3 for whoever waits)."""
    from arxdeploy.domain.approvals import Verdict

    _decide(options, deployment_id, Verdict.REJECT, reason, server_url, as_json)


def _decide(options: Options, deployment_id: str, verdict: Any, reason: str, server: str | None, as_json: bool) -> None:
    from arxdeploy.cli import approvals as views
    from arxdeploy.views import gate_out

    with app_for(options, as_json=as_json) as app:
        url = server or app.loaded.config.server.url
        if url:
            gate = views.decide_remotely(url, deployment_id, verdict, reason, os.environ)
        else:
            who = app.me.person
            click.echo(
                f"note: no server configured: recording the local user {who} as the approver "
                "(this mode trusts whoever runs this command; set server.url for approvals that prove who approved)",
                err=True,
            )
            decided = app.approvals.decide(
                deployment_id=deployment_id, who=who, verdict=verdict, via="cli", reason=reason
            )
            gate = gate_out(app.store.get(deployment_id=deployment_id), decided, app.engine.clock.now())
        if as_json:
            emit_json(app, gate)
        else:
            click.echo(app.redactor(views.gate_line(gate)))


@cli.command("approvals")
@env_option(required=False)
@json_option
@pass_options
def approvals_list(options: Options, environment: str | None, as_json: bool) -> None:
    """Deployments waiting for approval, oldest first."""
    from arxdeploy.cli import approvals as views
    from arxdeploy.domain.events import fold
    from arxdeploy.views import deployment_json, pending_out

    with app_for(options, as_json=as_json) as app:
        if environment:
            app.plan(environment)
        now = app.engine.clock.now()
        rows = []
        for summary, gate in app.approvals.pending(service=app.service, environment=environment):
            events = app.store.events(deployment_id=summary.deployment.id)
            rows.append(pending_out(deployment_json(summary.deployment, fold(events)), gate, now))
        if as_json:
            emit_json(app, rows)
        else:
            views.pending_table(rows, app.redactor)


@cli.group()
def token() -> None:
    """API tokens for the people who approve through `arxdeploy server`."""


@token.command("create")
@click.option("--for", "email", required=True, help="The person's email, as listed in approval_gates.approvers.")
@click.option("--github", default=None, help="Their GitHub login: CI runs they start are then theirs too.")
@json_option
@pass_options
def token_create(options: Options, email: str, github: str | None, as_json: bool) -> None:
    """Create a token for a person. It is shown once: only its digest is stored.

    With --github, approving a deployment that their own CI run asked for counts as
    self-approval (refused unless allow_self_approval).
    """
    with app_for(options, as_json=as_json) as app:
        record, secret = app.tokens.create(email=email, created_by=app.me.person, github=github)
        if as_json:
            click.echo(json.dumps({"id": record.id, "email": record.email, "github": record.github, "token": secret}))
            return
        click.echo(f"token {record.id} for {record.email} (shown once; give it to them privately):")
        click.echo(secret)


@token.command("list")
@json_option
@pass_options
def token_list(options: Options, as_json: bool) -> None:
    """Tokens: id, person, when created and by whom, whether revoked. Never the secrets."""
    from arxdeploy.cli import approvals as views

    with app_for(options, as_json=as_json) as app:
        rows = [views.token_json(t) for t in app.tokens.list()]
        if as_json:
            emit_json(app, rows)
        else:
            views.tokens_table(rows, app.redactor)


@token.command("revoke")
@click.argument("token_id")
@pass_options
def token_revoke(options: Options, token_id: str) -> None:
    """Revoke a token at once: the next request that uses it is refused."""
    with app_for(options) as app:
        record = app.tokens.revoke(token_id=token_id)
        click.echo(f"token {record.id} of {record.email} revoked")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8700, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@pass_options
def server(options: Options, host: str, port: int) -> None:
    """Serve the HTTP API and the approval pages (put a TLS proxy in front of it)."""
    from arxdeploy.api import serve

    with app_for(options) as app:
        serve(app, host=host, port=port)


@cli.group()
def k8s() -> None:
    """Kubernetes target helpers."""


@k8s.command()
@env_option()
@click.option("--version", "version", required=True, help="The version whose objects to render.")
@pass_options
def render(options: Options, environment: str, version: str) -> None:
    """Print the manifests a deployment of VERSION to an environment would apply."""
    from arxdeploy.config import load
    from arxdeploy.targets.kubernetes.manifests import render as render_manifests

    with errors_handled(options):
        loaded = load(options.config, os.environ)
        loaded.config.plan(environment)
        click.echo(render_manifests(loaded.config, environment, version=version, base_dir=loaded.base_dir), nl=False)


@k8s.command()
@env_option()
@click.option("--version", "version", required=True, help="The version a deployment would apply.")
@pass_options
def diff(options: Options, environment: str, version: str) -> None:
    """Show what deploying VERSION would change in the cluster (nothing printed: no change)."""
    from arxdeploy.errors import UsageError
    from arxdeploy.targets.kubernetes.diff import diff as diff_objects
    from arxdeploy.targets.kubernetes.target import KubernetesTarget

    with app_for(options) as app:
        plan = app.plan(environment)
        if not isinstance(app.target, KubernetesTarget):
            raise UsageError("`arxdeploy k8s diff` compares with a cluster", hint="set target.type: kubernetes")
        click.echo(diff_objects(app.target, environment=environment, version=version, replicas=plan.replicas), nl=False)


def _register() -> None:
    # Commands written in modules of their own; importing them loads nothing heavy.
    from arxdeploy.cli.init import init
    from arxdeploy.cli.route import route

    cli.add_command(route)
    cli.add_command(init)


_register()


def main() -> None:
    cli(prog_name="arxdeploy")


if __name__ == "__main__":
    main()
