"""`arxdeploy`: the command line. Imports stay light here; each command loads what it needs."""

from __future__ import annotations

import gc
import importlib

import click

from arxdeploy.cli.options import DEFAULT_CONFIG, Options

# Each command, by name, and where it is defined. Only the command run is imported (`--help`
# imports them all, for their summaries): `status` does not load the modules of twenty others.
COMMANDS = {
    "deploy": "deploys:deploy",
    "resume": "deploys:resume",
    "rollback": "deploys:rollback",
    "reconcile": "deploys:reconcile",
    "stop": "deploys:stop",
    "status": "reads:status",
    "history": "reads:history",
    "show": "reads:show",
    "logs": "reads:logs",
    "validate": "project:validate",
    "schema": "project:schema",
    "demo": "project:demo",
    "backup": "backups:backup",
    "approve": "approvals:approve",
    "reject": "approvals:reject",
    "approvals": "approvals:approvals_list",
    "promote": "canary:promote",
    "abort": "canary:abort",
    "token": "tokens:token",
    "server": "tokens:server",
    "k8s": "k8s:k8s",
    "route": "route:route",
    "init": "init:init",
}


class LazyGroup(click.Group):
    """A group that imports a command's module when the command is asked for (click's own recipe:
    https://click.palletsprojects.com/en/stable/complex/#lazily-loading-subcommands)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        where = COMMANDS.get(cmd_name)
        if where is None:
            return None
        module, attribute = where.split(":")
        command = getattr(importlib.import_module(f"arxdeploy.cli.{module}"), attribute)
        assert isinstance(command, click.Command), where
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.exceptions.NoSuchCommand as exc:  # "Did you mean ...?" from every name, not the loaded ones
            raise click.exceptions.NoSuchCommand(exc.command_name, possibilities=COMMANDS, ctx=ctx) from None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-c",
    "--config",
    type=click.Path(dir_okay=False),  # a str: pathlib costs --help 7 ms; Options makes the Path
    default=DEFAULT_CONFIG,
    show_default=True,
    envvar="ARXDEPLOY_CONFIG",
    help="The service's deployment_config.yaml.",
)
@click.option(
    "--context",
    metavar="NAME",
    default=None,
    help="kubeconfig context to use, instead of target.kubernetes.context (Kubernetes targets).",
)
@click.option("-v", "--verbose", is_flag=True, help="Show tracebacks of internal errors.")
@click.version_option(package_name="arxdeploy")
@click.pass_context
def cli(ctx: click.Context, config: str, context: str | None, verbose: bool) -> None:
    """Safe, reversible blue-green deployments.

    A new version starts beside the live one, is health-checked before it gets a request,
    takes the traffic in one atomic switch, is watched for a monitoring window and is
    rolled back on its own if it fails, with the previous version still warm.
    """
    ctx.obj = Options(config, verbose, context=context)


def main() -> None:
    # The garbage collector is off while the command starts up: imports and the config's models
    # make objects that live as long as the process and next to no garbage, yet the collector
    # would walk the growing heap again and again (~10 ms of a `status`). `options.started`
    # turns it back on once the app is built, for commands that run on (deploy, server).
    gc.disable()
    try:
        cli(prog_name="arxdeploy")
    finally:
        # At exit Python runs a last full collection over every object left (pydantic's schemas,
        # Rich's tables...): ~25 ms, a sixth of `status`, to free memory the operating system
        # takes back anyway. Frozen objects are left out of it. Nothing relies on it: a command
        # closes what it opened, and Python does not promise finalizers at exit.
        gc.freeze()


if __name__ == "__main__":
    main()
