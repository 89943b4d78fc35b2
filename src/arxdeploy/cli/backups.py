"""`arxdeploy backup list|show|restore`."""

from __future__ import annotations

from typing import Any

import click

from arxdeploy.cli.options import Options, app_for, emit_json, env_option, json_option, pass_options


@click.group()
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

    with app_for(options, as_json=as_json, reads_only=True) as app:
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

    with app_for(options, as_json=as_json, reads_only=True) as app:
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

    A recorded deployment of kind restore: the same checks and the same atomic switch as a
    rollback, starting that version as the backup saved it.
    """
    from arxdeploy.backups import get_backup
    from arxdeploy.cli.deploys import submit
    from arxdeploy.cli.render import Printer
    from arxdeploy.domain.request import Request
    from arxdeploy.domain.states import Kind
    from arxdeploy.errors import UsageError

    printer = Printer(quiet=as_json)
    with app_for(options, as_json=as_json, printer=printer) as app:
        found = get_backup(app.loaded.state_dir, deployment_id)
        if not found.intact:
            raise UsageError(f"backup {found.deployment_id} is damaged: {', '.join(found.damaged)}")
        version = app.store.get(deployment_id=found.deployment_id).deployment.previous_version
        if version is None:
            raise UsageError(f"nothing was live in {found.environment} when backup {found.deployment_id} was taken")
        why = reason or f"restore of backup {found.deployment_id}"
        request = Request(found.environment, Kind.RESTORE, version=version, reason=why)
        submit(app, printer, request, as_json=as_json)


def _value(color: Any) -> str | None:
    return color.value if color else None
