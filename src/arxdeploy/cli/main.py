"""`arxdeploy`: the command line. Imports stay light here; each command loads what it needs."""

from __future__ import annotations

import click

from arxdeploy.cli import approvals, backups, deploys, k8s, project, reads, tokens
from arxdeploy.cli.init import init
from arxdeploy.cli.options import DEFAULT_CONFIG, Options
from arxdeploy.cli.route import route


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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


for command in (
    deploys.deploy,
    deploys.resume,
    deploys.rollback,
    deploys.reconcile,
    deploys.stop,
    reads.status,
    reads.history,
    reads.show,
    reads.logs,
    project.validate,
    project.schema,
    project.demo,
    backups.backup,
    approvals.approve,
    approvals.reject,
    approvals.approvals_list,
    tokens.token,
    tokens.server,
    k8s.k8s,
    route,
    init,
):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="arxdeploy")


if __name__ == "__main__":
    main()
