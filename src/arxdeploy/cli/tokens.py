"""`arxdeploy token create|list|revoke` and `arxdeploy server`."""

from __future__ import annotations

import json

import click

from arxdeploy.cli.options import Options, app_for, emit_json, json_option, pass_options


@click.group()
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
    from arxdeploy.cli import approval_views as views

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


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8700, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@pass_options
def server(options: Options, host: str, port: int) -> None:
    """Serve the HTTP API and the approval pages (put a TLS proxy in front of it)."""
    from arxdeploy.api import serve

    with app_for(options) as app:
        serve(app, host=host, port=port)
