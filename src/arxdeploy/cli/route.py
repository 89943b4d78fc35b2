"""`arxdeploy route`: what a CI event means (deploy where, validate, or nothing), for a workflow to act on.

Reads the config only (no store, no target: nothing is created), GitHub's variables and event
file unless flags say otherwise, and decides with ``arxdeploy.domain.routing.route``. Inside
GitHub Actions it also writes step outputs, a job summary, and error annotations.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from arxdeploy.cli.options import Options


@click.command("route")
@click.option(
    "--event",
    "event_name",
    default=None,
    help="The CI event: push, pull_request, pull_request_target or workflow_dispatch "
    "(default: $GITHUB_EVENT_NAME, or push when only --ref is given).",
)
@click.option("--ref", default=None, help="The full git ref, like refs/heads/main or refs/tags/v1.2.0 ($GITHUB_REF).")
@click.option(
    "--base-ref",
    default=None,
    help="A pull request's target branch (default: the event's pull_request.base.ref, or $GITHUB_BASE_REF).",
)
@click.option(
    "--input-environment",
    default=None,
    help="workflow_dispatch: the environment asked for (default: the event's inputs.environment).",
)
@click.option("--sha", default=None, help="The commit being built ($GITHUB_SHA); the version of branch deployments.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object for machines.")
@click.pass_obj
def route(
    options: Options,
    event_name: str | None,
    ref: str | None,
    base_ref: str | None,
    input_environment: str | None,
    sha: str | None,
    as_json: bool,
) -> None:
    """Decide what a CI event means: deploy to which environment, validate only, or nothing.

    Routes by the branches and tags of each environment in the config (GitHub filter patterns:
    * stops at /, ** does not). Without flags it reads GitHub's variables and event file;
    inside GitHub Actions it also writes the step outputs environment, action, needs_approval,
    version and reason, and a job summary.

    Exit codes: 0 decided (also when there is nothing to deploy), 2 bad usage or config.
    """
    from arxdeploy.cli.ci_route import route_event
    from arxdeploy.cli.options import errors_handled

    environ = os.environ
    with errors_handled(options, as_json):  # errors also become annotations inside GitHub Actions (fail)
        flags = {
            "event_name": event_name,
            "ref": ref,
            "base_ref": base_ref,
            "input_environment": input_environment,
            "sha": sha,
        }
        route_event(options, environ, flags, as_json=as_json)
