"""The config file and the demo: validate, schema, demo."""

from __future__ import annotations

import os
import sys

import click

from arxdeploy.cli.options import Options, errors_handled, json_option, pass_options


@click.command()
@json_option
@pass_options
def validate(options: Options, as_json: bool) -> None:
    """Check the config file (and that check scripts exist and are executable). Exit 2 on problems."""
    import json

    from arxdeploy.config import check_files, load
    from arxdeploy.errors import ConfigError

    with errors_handled(options, as_json):
        loaded = load(options.config, os.environ)
        problems = check_files(loaded)
        if problems:
            raise ConfigError(problems)
        envs = ", ".join(loaded.config.environments)
        if as_json:
            click.echo(
                json.dumps({"valid": True, "file": str(loaded.path), "environments": list(loaded.config.environments)})
            )
        else:
            click.echo(f"{loaded.path}: valid ({loaded.config.service}; environments: {envs})")


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

    with errors_handled(options):
        sys.exit(run_demo(keep=keep, verbose=options.verbose))
