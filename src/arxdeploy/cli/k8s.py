"""`arxdeploy k8s render|diff`."""

from __future__ import annotations

import os

import click

from arxdeploy.cli.options import Options, app_for, env_option, errors_handled, pass_options


@click.group()
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
