"""`arxdeploy token bootstrap|create|list|revoke` and `arxdeploy server`.

With a server (server.url in the config, or --server), tokens are managed through its API with
an admin's token in ARXDEPLOY_TOKEN. Without one, `list` and `revoke` read and write the store
(revoking only takes access away) and `create` is refused: minting a token takes an admin. The
first admin token is the one exception: `bootstrap` writes it into the store, once.
"""

from __future__ import annotations

import json
import os
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import click

from arxdeploy.cli.options import Options, app_for, emit_json, json_option, pass_options

if TYPE_CHECKING:
    from arxdeploy.bootstrap import App

_ADMIN_TOKEN = (
    "export ARXDEPLOY_TOKEN=<an admin's token>; the first admin token comes from "
    "`arxdeploy token bootstrap --for EMAIL`"
)


class _Duration(click.ParamType[timedelta]):
    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> timedelta:
        if isinstance(value, timedelta):
            return value
        from arxdeploy.config.durations import parse_duration

        try:
            return parse_duration(value)
        except ValueError as exc:  # pydantic's PydanticCustomError is one; its text says what to write
            self.fail(str(exc), param, ctx)


server_option = click.option(
    "--server", "server_url", default=None, help="The arxdeploy server (default: server.url in the config)."
)
person_options = [
    click.option("--for", "email", required=True, help="The person's email, as listed in approval_gates.approvers."),
    click.option("--github", default=None, help="Their GitHub login: CI runs they start are then theirs too."),
    click.option(
        "--expires-in",
        type=_Duration(),
        default=None,
        help="How long the token is valid, e.g. 90d (at most 366d). Without it: until revoked.",
    ),
]


def _person_options(command: Any) -> Any:
    for option in reversed(person_options):
        command = option(command)
    return command


@click.group()
def token() -> None:
    """API tokens for the people who use `arxdeploy server`; admins manage them."""


@token.command("bootstrap")
@_person_options
@json_option
@pass_options
def token_bootstrap(
    options: Options, email: str, github: str | None, expires_in: timedelta | None, as_json: bool
) -> None:
    """Create the first admin token, straight into the store.

    Refused once an admin token is active: later tokens are made through the server by an
    admin (`arxdeploy token create`). Shown once: only its digest is stored.
    """
    from arxdeploy.views import token_out

    with app_for(options, as_json=as_json) as app:
        record, text = app.tokens.bootstrap(email=email, created_by=app.me.person, github=github, expires_in=expires_in)
        created = {**token_out(record, app.clock.now()), "token": text}
        if as_json:
            click.echo(json.dumps(created))
            return
        click.echo(f"created the first admin token, {record.id} for {record.email}, in the store (shown once):")
        click.echo(text)
        click.echo(
            "later tokens go through the server: with server.url set (or --server URL) and this token in "
            "ARXDEPLOY_TOKEN, run `arxdeploy token create --for EMAIL [--role viewer|approver|admin]`",
            err=True,
        )


@token.command("create")
@_person_options
@click.option(
    "--role",
    type=click.Choice(["viewer", "approver", "admin"]),
    default="approver",
    show_default=True,
    help="viewer reads; approver also decides on the gates that list them; admin also manages tokens.",
)
@server_option
@json_option
@pass_options
def token_create(
    options: Options,
    email: str,
    github: str | None,
    expires_in: timedelta | None,
    role: str,
    server_url: str | None,
    as_json: bool,
) -> None:
    """Create a token for a person through the server, with your admin token in ARXDEPLOY_TOKEN.

    It is shown once: only its digest is stored. With --github, approving a deployment that
    their own CI run asked for counts as self-approval (refused unless allow_self_approval).
    """
    from arxdeploy.cli import remote
    from arxdeploy.config.durations import format_duration
    from arxdeploy.errors import UsageError

    with app_for(options, as_json=as_json) as app:
        url = _server(app, server_url)
        if not url:
            raise UsageError(
                "tokens are created through the arxdeploy server, by an admin",
                hint=f"set server.url in the config (or pass --server URL) and {_ADMIN_TOKEN}",
            )
        body = {
            "email": email,
            "role": role,
            "github": github,
            "expires_in": format_duration(expires_in) if expires_in is not None else None,
        }
        created = remote.call(
            url, "POST", ("tokens",), os.environ, doing="creating a token", body=body, hint=_ADMIN_TOKEN
        )
        if as_json:
            click.echo(json.dumps(created))
            return
        until = f", until {created['expires_at']}" if created.get("expires_at") else ""
        who = f"{created['role']} token {created['id']} for {created['email']}{until}"
        click.echo(f"{who} (shown once; hand it over privately):")
        click.echo(created["token"])


@token.command("list")
@server_option
@json_option
@pass_options
def token_list(options: Options, server_url: str | None, as_json: bool) -> None:
    """Tokens: id, person, role, when created and by whom, until when, whether revoked. Never the secrets."""
    from arxdeploy.cli import approval_views as views
    from arxdeploy.cli import remote
    from arxdeploy.views import token_out

    with app_for(options, as_json=as_json) as app:
        url = _server(app, server_url)
        if url:
            rows = remote.call(url, "GET", ("tokens",), os.environ, doing="listing tokens", hint=_ADMIN_TOKEN)
        else:
            now = app.clock.now()
            rows = [token_out(t, now) for t in app.tokens.list()]
        if as_json:
            emit_json(app, rows)
        else:
            views.tokens_table(rows, app.redactor)


@token.command("revoke")
@click.argument("token_id")
@server_option
@pass_options
def token_revoke(options: Options, token_id: str, server_url: str | None) -> None:
    """Revoke a token at once: the next request that uses it is refused."""
    from arxdeploy.cli import remote

    with app_for(options) as app:
        url = _server(app, server_url)
        if url:
            path = ("tokens", token_id, "revoke")
            row = remote.call(url, "POST", path, os.environ, doing="revoking a token", hint=_ADMIN_TOKEN)
            click.echo(f"token {row['id']} of {row['email']} revoked")
        else:
            record = app.tokens.revoke(token_id=token_id)
            click.echo(f"token {record.id} of {record.email} revoked")


def _server(app: App, flag: str | None) -> str | None:
    return flag or app.loaded.config.server.url


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8700, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@pass_options
def server(options: Options, host: str, port: int) -> None:
    """Serve the HTTP API and the approval pages (put a TLS proxy in front of it)."""
    from arxdeploy.api import serve

    with app_for(options) as app:
        serve(app, host=host, port=port)
