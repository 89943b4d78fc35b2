"""`arxdeploy k8s render|diff`."""

from __future__ import annotations

import os
import sys

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
    """Print the manifests a deployment of VERSION to an environment would apply.

    Exit codes: 0 printed, 2 bad usage or config (a version Kubernetes cannot carry included).
    """
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
    """Show what deploying VERSION would change in the cluster (nothing printed: no change).

    Exit codes, as `kubectl diff`: 0 nothing would change, 1 something would, 2 bad usage or
    config (a version Kubernetes cannot carry included), 5 the cluster could not be read.
    """
    from arxdeploy.errors import UsageError
    from arxdeploy.targets.kubernetes.diff import diff as diff_objects
    from arxdeploy.targets.kubernetes.target import KubernetesTarget

    with app_for(options) as app:
        plan = app.plan(environment)
        if not isinstance(app.target, KubernetesTarget):
            raise UsageError("`arxdeploy k8s diff` compares with a cluster", hint="set target.type: kubernetes")
        text = diff_objects(app.target, environment=environment, version=version, replicas=plan.replicas)
        click.echo(text, nl=False)
    sys.exit(1 if text else 0)
