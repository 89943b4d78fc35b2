"""Commands that only read: status, history, show, logs. They never change what runs."""

from __future__ import annotations

from typing import Any

import click

from arxdeploy.cli.options import Options, app_for, emit_json, emit_yaml, env_option, json_option, pass_options


@click.command()
@env_option(required=False)
@json_option
@click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "json", "yaml"]),
    default=None,
    help="table (default), json (as --json) or yaml.",
)
@pass_options
def status(options: Options, environment: str | None, as_json: bool, output: str | None) -> None:
    """Per environment: the live version and color, its health now, the last deployment.

    Reads only: where the target and the record disagree it says so, and which command fixes
    it; it never starts, stops or switches anything.
    """
    from arxdeploy.cli.status import environment_status

    output = output or ("json" if as_json else "table")
    with app_for(options, as_json=output != "table", reads_only=True) as app:
        names = [environment] if environment else app.environments()
        if environment:
            app.plan(environment)  # unknown names fail here, with the known ones listed
        rows = [environment_status(app, name) for name in names]
        data = {"service": app.service, "environments": rows}
        if output == "json":
            emit_json(app, data)
        elif output == "yaml":
            emit_yaml(app, data)
        else:
            from arxdeploy.cli import render  # Rich: only for people

            render.status_table(app.service, rows, app.redactor)


@click.command()
@env_option(required=False)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000))
@json_option
@pass_options
def history(options: Options, environment: str | None, limit: int, as_json: bool) -> None:
    """Past deployments, newest first."""
    with app_for(options, as_json=as_json, reads_only=True) as app:
        if environment:
            app.plan(environment)
        rows = app.store.history(service=app.service, environment=environment, limit=limit)
        canaries = _canaries(app, rows)
        if as_json:
            emit_json(app, [_summary_json(s) | canaries.get(s.deployment.id, {}) for s in rows])
        else:
            from arxdeploy.cli import render  # Rich: only for people

            render.history_table(rows, app.redactor, canaries={k: v["canary"] for k, v in canaries.items()})


def _canaries(app: Any, rows: list[Any]) -> dict[str, dict[str, Any]]:
    """Where each canary in progress is (``{"canary": {weight, step, paused}}`` by id): its log is
    read for those rows only, so history stays one query otherwise."""
    from arxdeploy.domain.events import fold
    from arxdeploy.domain.states import State
    from arxdeploy.views import canary_out

    found = {}
    for summary in rows:
        if summary.state is State.PROGRESSING:
            where = canary_out(fold(app.store.events(deployment_id=summary.deployment.id)))
            if where is not None:
                found[summary.deployment.id] = {"canary": where}
    return found


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


@click.command()
@click.argument("deployment_id")
@json_option
@pass_options
def show(options: Options, deployment_id: str, as_json: bool) -> None:
    """The full event log of one deployment (an id or a unique prefix of 6+ characters)."""
    from arxdeploy.domain.events import fold

    with app_for(options, as_json=as_json, reads_only=True) as app:
        summary = app.store.get(deployment_id=deployment_id)
        events = app.store.events(deployment_id=summary.deployment.id)
        view = fold(events)
        if as_json:
            from arxdeploy.views import deployment_json

            emit_json(app, deployment_json(summary.deployment, view, events))
        else:
            from arxdeploy.cli import render  # Rich: only for people

            render.show(summary.deployment, view, events, app.redactor)


@click.command()
@env_option()
@click.option(
    "-n", "--lines", default=50, show_default=True, type=click.IntRange(1, 100_000), help="Lines per replica."
)
@click.option("--all-colors", is_flag=True, help="Also the colors that do not take traffic.")
@pass_options
def logs(options: Options, environment: str, lines: int, all_colors: bool) -> None:
    """The last lines each replica of an environment wrote (each container of its pods on Kubernetes)."""
    from arxdeploy.cli.status import log_tails

    with app_for(options, reads_only=True) as app:
        app.plan(environment)
        for where, tail in log_tails(app, environment, lines=lines, all_colors=all_colors):
            click.echo(f"==> {where} <==")
            click.echo(app.redactor(tail))
