"""`arxdeploy backup list|show|verify|restore`."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from arxdeploy.cli.options import Options, app_for, emit_json, env_option, json_option, pass_options

if TYPE_CHECKING:
    from arxdeploy.ports import BackupInfo


@click.group()
def backup() -> None:
    """The backups each deployment takes before it changes anything."""


@backup.command("list")
@env_option(required=False)
@json_option
@pass_options
def backup_list(options: Options, environment: str | None, as_json: bool) -> None:
    """Whole backups, newest first (read from their indexes; `verify` checks the digests)."""
    from arxdeploy.cli import render

    with app_for(options, as_json=as_json, reads_only=True) as app:
        if environment:
            app.plan(environment)
        found = app.backups.listing(environment=environment)
        if as_json:
            emit_json(app, [info_json(b) for b in found.whole])
        else:
            render.backups_table(found.whole, app.redactor)
            if found.incomplete:
                click.echo(f"not whole (uploads cut short; deleted by the next backup): {', '.join(found.incomplete)}")


@backup.command("show")
@click.argument("deployment_id")
@json_option
@pass_options
def backup_show(options: Options, deployment_id: str, as_json: bool) -> None:
    """One backup, as its index says: when, what was live, where, how big, encrypted or not."""
    with app_for(options, as_json=as_json, reads_only=True) as app:
        found = app.backups.get(deployment_id)
        data = info_json(found)
        if as_json:
            emit_json(app, data)
            return
        click.echo(
            app.redactor(
                f"backup taken by deployment {found.id} ({found.environment}, {found.created_at:%Y-%m-%d %H:%M:%S} UTC)"
            )
        )
        click.echo(f"live then: {data['live_version'] or 'nothing'} ({data['live_color'] or '-'})")
        click.echo(f"ran:       {', '.join(found.versions) or 'nothing'}")
        sealed = "encrypted with age" if found.encrypted else "not encrypted"
        click.echo(app.redactor(f"where:     {found.where} ({found.size} bytes, {found.files} files, {sealed})"))
        click.echo(f"database:  {'a dump (dumps/database.dump)' if found.database else 'no dump'}")


@backup.command("verify")
@click.argument("deployment_id")
@json_option
@pass_options
def backup_verify(options: Options, deployment_id: str, as_json: bool) -> None:
    """Download a backup, decrypt it (with ARXDEPLOY_BACKUP_IDENTITY) and check every digest.

    Changes nothing. Exit codes: 0 every file matches, 1 damaged (what is wrong is listed),
    2 bad usage (no such backup; encrypted and no key given).
    """
    with app_for(options, as_json=as_json, reads_only=True) as app:
        checked = app.backups.verify(deployment_id)
        damaged = {line.split(":", 1)[0] for line in checked.damaged}
        if as_json:
            emit_json(
                app,
                {
                    **info_json(checked.backup),
                    "intact": checked.intact,
                    "damaged": list(checked.damaged),
                    "files": checked.files,
                },
            )
        else:
            for name, digest in sorted(checked.files.items()):
                click.echo(app.redactor(f"  {'DAMAGED' if name in damaged else 'ok':8} {digest[:16]}  {name}"))
            for line in checked.damaged:
                click.echo(app.redactor(f"damaged: {line}"), err=True)
            verdict = "intact" if checked.intact else "DAMAGED: it will not be restored"
            click.echo(f"backup {checked.backup.id}: {len(checked.files)} files, {verdict}")
        if not checked.intact:
            sys.exit(1)


@backup.command("restore")
@click.argument("deployment_id")
@click.option("--reason", default="", help="Why: recorded with the restore.")
@click.option(
    "--with-database",
    is_flag=True,
    help="Also put the database back from this backup's dump (backup.database.restore_script), just "
    "before the switch. Every write made since the dump is lost.",
)
@json_option
@pass_options
def backup_restore(options: Options, deployment_id: str, reason: str, with_database: bool, as_json: bool) -> None:
    """Return the environment to what was live when this backup was taken, from this backup.

    A recorded deployment of kind restore: the same checks and the same atomic switch as a
    rollback, starting that version as this very backup saved it. The backup is downloaded and
    every digest checked first; a damaged one is never restored (exit 1). The database is left
    as it is unless --with-database is given: then the restore script runs on the backup's dump
    once the version passed its checks, before it takes traffic; if it fails, the deployment
    fails and what was live stays live. The restore's own backup, taken first, holds a dump of
    the database as it was just before (`backup restore <that id> --with-database` undoes it).
    """
    from arxdeploy.cli.deploys import submit
    from arxdeploy.cli.render import Printer
    from arxdeploy.domain.request import Request
    from arxdeploy.domain.states import Kind
    from arxdeploy.errors import UsageError

    printer = Printer(quiet=as_json)
    with app_for(options, as_json=as_json, printer=printer) as app:
        found = app.backups.get(deployment_id)
        if found.live_version is None:
            raise UsageError(f"nothing was live in {found.environment} when backup {found.id} was taken")
        if with_database and app.loaded.config.backup.database is None:
            raise UsageError(
                "--with-database: no database to restore, backup.database is not in the config",
                hint="add backup.database with its backup_script and restore_script",
            )
        if with_database and not found.database:
            raise UsageError(
                f"--with-database: backup {found.id} holds no database dump (taken without backup.database)",
                hint="`arxdeploy backup list` shows which backups hold one",
            )
        # Opened and checked now: a damaged backup (or a missing key) stops here, before anything is recorded.
        app.backups.target_part(backup_id=found.id)
        why = reason or f"restore of backup {found.id}" + (" with its database" if with_database else "")
        request = Request(
            found.environment,
            Kind.RESTORE,
            version=found.live_version,
            reason=why,
            backup=found.id,
            with_database=with_database,
        )
        submit(app, printer, request, as_json=as_json)


def info_json(b: BackupInfo) -> dict[str, Any]:
    return {
        "deployment_id": b.id,
        "environment": b.environment,
        "created_at": b.created_at.isoformat(),
        "live_version": b.live_version,
        "live_color": b.live_color.value if b.live_color else None,
        "versions": list(b.versions),
        "target": b.target,
        "size": b.size,
        "file_count": b.files,
        "encrypted": b.encrypted,
        "database": b.database,
        "where": b.where,
    }
