"""Plumbing every command shares: options, showing errors once, building the app, JSON output."""

from __future__ import annotations

import gc
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn

import click

if TYPE_CHECKING:
    from arxdeploy.bootstrap import App
    from arxdeploy.cli.render import Printer

DEFAULT_CONFIG = "deployment_config.yaml"


class Options:
    def __init__(self, config: str | os.PathLike[str], verbose: bool, *, context: str | None = None) -> None:
        from pathlib import Path

        self.config = Path(config)
        self.verbose = verbose
        self.context = context  # --context: the kubeconfig context, over target.kubernetes.context
        self.redact: Callable[[str], str] = str  # the config's secrets, once it is loaded


pass_options = click.make_pass_decorator(Options)


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
        import json

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
def app_for(
    options: Options,
    *,
    as_json: bool = False,
    printer: Printer | None = None,
    reads_only: bool = False,
    deploys: str | None = None,
) -> Iterator[App]:
    """The app for a command; ``reads_only`` for commands that never change the record or the target.
    ``deploys``: the command's name when it moves traffic (deploy, rollback, ...): in CI it is
    refused where the record or the backups would stay on the runner (``config/runner.py``)."""
    from arxdeploy.bootstrap import build

    with errors_handled(options, as_json):
        app = build(
            options.config,
            os.environ,
            hooks=[printer] if printer else [],
            reads_only=reads_only,
            context=options.context,
        )
        started()
        options.redact = app.redactor
        try:
            if deploys is not None:
                from arxdeploy.cli import github
                from arxdeploy.config.runner import refuse_runner_state

                refuse_runner_state(app.loaded, deploys, github.ci_variable(os.environ))
            if printer:
                printer.redactor = app.redactor
            yield app
        finally:
            app.close()


def started() -> None:
    """Start-up is over. If `main` turned the garbage collector off for it, freeze what start-up
    made (it lives as long as the command: no collection needs to walk it again) and turn the
    collector back on. Elsewhere (tests, the API calling in) the collector is left alone."""
    if not gc.isenabled():
        gc.freeze()
        gc.enable()


def emit_json(app: App, data: Any) -> None:
    import json

    # Masked before encoding: JSON escapes quotes, backslashes and non-ASCII inside a secret.
    click.echo(app.redactor(json.dumps(app.redactor.data(data), indent=2, default=str)))


def emit_yaml(app: App, data: Any) -> None:
    import yaml

    # Masked before and after encoding, as JSON: YAML may quote or fold a secret.
    text = yaml.safe_dump(app.redactor.data(json_ready(data)), sort_keys=False, allow_unicode=True)
    click.echo(app.redactor(text), nl=False)


def json_ready(data: Any) -> Any:
    """Plain data as JSON has it (times and enums as text), for encoders that know fewer types."""
    import json

    return json.loads(json.dumps(data, default=str))


def env_option(required: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option("-e", "--env", "environment", required=required, help="Environment name, e.g. staging.")


json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object for machines.")


# --- commands -----------------------------------------------------------------------------
