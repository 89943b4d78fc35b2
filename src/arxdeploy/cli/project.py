"""The config file and the demo: validate, schema, demo."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import click

from arxdeploy.cli.options import Options, errors_handled, json_option, pass_options, started

if TYPE_CHECKING:
    from arxdeploy.config import LoadedConfig
    from arxdeploy.errors import ConfigProblem


@click.command()
@json_option
@pass_options
def validate(options: Options, as_json: bool) -> None:
    """Check the config file, the files it names and its Kubernetes templates. Exit 2 on problems.

    Keys that are set but have no effect (an image beside a template folder, resources on the
    local target, ...) are warnings: printed (listed under "warnings" with --json), exit 0.
    """
    import json

    from arxdeploy.cli import github
    from arxdeploy.config import check_files, load
    from arxdeploy.config.effects import unused_keys
    from arxdeploy.errors import ConfigError

    with errors_handled(options, as_json):
        loaded = load(options.config, os.environ)
        problems = check_files(loaded) or _template_problems(loaded)
        if problems:
            raise ConfigError(problems)
        warnings = unused_keys(loaded)
        envs = ", ".join(loaded.config.environments)
        if as_json:
            listed = [
                {"file": w.file, "line": w.line, "key": w.key, "message": w.message, "hint": w.hint} for w in warnings
            ]
            valid = {"valid": True, "file": str(loaded.path), "environments": list(loaded.config.environments)}
            click.echo(json.dumps({**valid, "warnings": listed}))
        else:
            click.echo(f"{loaded.path}: valid ({loaded.config.service}; environments: {envs})")
            for warning in warnings:
                click.echo(f"warning: {warning}", err=True)
                github.annotate_warning(str(warning), environ=os.environ)  # stdout stays JSON with --json


def _template_problems(loaded: LoadedConfig) -> list[ConfigProblem]:
    """What in the Kubernetes template folders would make every deployment fail."""
    from arxdeploy.errors import ConfigProblem

    config = loaded.config
    kubernetes = config.target.kubernetes
    if config.target.type != "kubernetes" or kubernetes is None or kubernetes.manifests is None:
        return []
    from arxdeploy.targets.kubernetes import manifests
    from arxdeploy.targets.kubernetes.spec import spec_from_config

    spec = spec_from_config(config, base_dir=loaded.base_dir)
    key = ("target", "kubernetes", "manifests")
    hint = "see docs/kubernetes.md: what a template folder must hold"
    return [
        ConfigProblem(str(loaded.path), loaded.line_of(*key), ".".join(key), problem, hint)
        for environment in config.environments
        for problem in manifests.template_problems(spec, environment)
    ]


@click.command()
@click.option("--markdown", is_flag=True, help="Print the configuration reference as Markdown instead.")
def schema(markdown: bool) -> None:
    """Print the JSON Schema of deployment_config.yaml, for editors."""
    if markdown:
        from arxdeploy.config.reference import markdown as reference

        click.echo(reference(), nl=False)
        return
    import json

    from arxdeploy.config import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


@click.command()
@click.option("--keep", is_flag=True, help="Leave the sample service's folder in place.")
@pass_options
def demo(options: Options, keep: bool) -> None:
    """Deploy a sample service three times on this machine and explain what happened."""
    from arxdeploy.cli.demo import run_demo

    started()  # the demo runs for a minute, with a client thread: the collector is back on
    with errors_handled(options):
        sys.exit(run_demo(keep=keep, verbose=options.verbose))
