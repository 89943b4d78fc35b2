"""`arxdeploy init`: scaffold a repository for arxdeploy (registered in ``cli.main``)."""

from __future__ import annotations

import click

NEXT_STEPS = {
    "local": (
        "replace target.local.command with your app's command and the approvers with real addresses",
        "arxdeploy validate",
        "arxdeploy deploy --env staging --version v0.1.0",
        "for CI: a long-lived self-hosted runner and a shared store_url (see the workflow's header)",
    ),
    "kubernetes": (
        "replace the approvers with real addresses; review k8s/staging and k8s/production",
        "export ARXDEPLOY_BACKUP_RECIPIENT=<age public key> (the backups'; a repository variable in CI)",
        "arxdeploy validate && arxdeploy k8s render --env staging --version v0.1.0",
        "a cluster admin: kubectl apply -f k8s/rbac/ (namespaces, ServiceAccount, Role)",
        "add the KUBECONFIG secret to the staging and production GitHub environments, the AWS secrets"
        " and the ARXDEPLOY_BACKUP_RECIPIENT and AWS_REGION variables",
        "the approval server: build arxdeploy's image, then see k8s/server/server.yaml's header",
    ),
}


@click.command("init")
@click.option(
    "--target",
    type=click.Choice(["local", "kubernetes"]),
    default="local",
    show_default=True,
    help="Where the app runs.",
)
@click.option("--service", default="my-service", show_default=True, help="The service's name (a DNS label).")
@click.option(
    "--image",
    default=None,
    help="Container image without a tag, e.g. ghcr.io/acme/api (default: ghcr.io/your-org/SERVICE).",
)
@click.option(
    "--server-image",
    default=None,
    help="kubernetes: the approval server's image with its tag, built from arxdeploy's Dockerfile"
    " (default: ghcr.io/your-org/arxdeploy:<this arxdeploy's version>).",
)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    default=".",
    show_default=True,
    help="The repository to write into.",
)
@click.option("--force", is_flag=True, help="Overwrite files that exist already.")
@click.pass_context
def init(
    ctx: click.Context,
    target: str,
    service: str,
    image: str | None,
    server_image: str | None,
    directory: str,
    force: bool,
) -> None:
    """Write deployment_config.yaml, the GitHub Actions workflow and (kubernetes) the manifests.

    Refuses to overwrite an existing file unless --force; prints every file it wrote.
    """
    # Imported here: the command must stay cheap to register.
    from pathlib import Path

    from arxdeploy.cli.options import Options, errors_handled
    from arxdeploy.scaffold import scaffold

    options = ctx.find_object(Options) or Options(".", verbose=False)
    with errors_handled(options):
        written = scaffold(
            directory=Path(directory),
            target=target,
            service=service,
            image=image,
            server_image=server_image,
            force=force,
        )
        for path in written:
            click.echo(f"wrote {path}")
        click.echo("next:")
        for step in NEXT_STEPS[target]:
            click.echo(f"  {step}")
