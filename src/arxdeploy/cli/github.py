"""GitHub Actions as seen from a step: its variables and event file in, its files and commands out.

Every function takes the environment as a mapping (``os.environ`` in the CLI, a dict in tests)
and does nothing outside GitHub Actions where that makes sense. Formats, from GitHub's docs:
``$GITHUB_OUTPUT`` takes ``name=value`` lines, or ``name<<DELIMITER`` ... ``DELIMITER`` for a
value with line breaks; workflow commands are ``::error title=...::message`` on stdout, with
``%``, CR and LF escaped (and ``:`` and ``,`` in properties).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from arxdeploy.errors import ArxdeployError

TITLE = "arxdeploy"


def in_actions(environ: Mapping[str, str]) -> bool:
    """Whether this process runs as a step of a GitHub Actions job."""
    return environ.get("GITHUB_ACTIONS") == "true"


def in_ci(environ: Mapping[str, str]) -> bool:
    """Whether this process runs in a CI job: ``CI`` is set (GitHub Actions, GitLab CI, CircleCI,
    Buildkite, ... set it) or ``GITHUB_ACTIONS`` is. There, any earlier step can set variables
    such as ``ARXDEPLOY_EMAIL`` for the steps after it, and the machine goes with the job."""
    return ci_variable(environ) is not None


def ci_variable(environ: Mapping[str, str]) -> str | None:
    """The variable that says this runs in CI, or None."""
    return next((name for name in ("GITHUB_ACTIONS", "CI") if environ.get(name)), None)


def read_event(environ: Mapping[str, str]) -> dict[str, Any]:
    """The webhook payload at ``$GITHUB_EVENT_PATH``; ``{}`` when there is none or it is unreadable."""
    path = environ.get("GITHUB_EVENT_PATH")
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_outputs(environ: Mapping[str, str], values: Mapping[str, str]) -> None:
    """Append step outputs to ``$GITHUB_OUTPUT`` (nothing when it is not set).

    A value with a line break is written in the heredoc form with a random delimiter that
    does not occur in it, so no value can end early or inject another output.
    """
    path = environ.get("GITHUB_OUTPUT")
    if not path:
        return
    text = "".join(_output(name, value) for name, value in values.items())
    _append(path, "$GITHUB_OUTPUT", text)


def write_summary(environ: Mapping[str, str], markdown: str) -> None:
    """Append Markdown to the job's summary page, ``$GITHUB_STEP_SUMMARY`` (nothing when it is not set)."""
    path = environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return
    _append(path, "$GITHUB_STEP_SUMMARY", markdown if markdown.endswith("\n") else markdown + "\n")


def annotate_error(message: str, *, environ: Mapping[str, str]) -> None:
    """Inside GitHub Actions, show ``message`` as an error annotation on the run (a workflow command)."""
    if in_actions(environ):
        click.echo(command("error", message, title=TITLE))


def annotate_warning(message: str, *, environ: Mapping[str, str]) -> None:
    """Inside GitHub Actions, show ``message`` as a warning annotation on the run."""
    if in_actions(environ):
        click.echo(command("warning", message, title=TITLE))


def run_url(environ: Mapping[str, str]) -> str | None:
    """The web page of this workflow run, when GitHub's variables say where it is."""
    parts = [environ.get(name) for name in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")]
    if not all(parts):
        return None
    server, repository, run_id = parts
    return f"{str(server).rstrip('/')}/{repository}/actions/runs/{run_id}"


def command(name: str, message: str, **properties: str) -> str:
    """One workflow command line: ``::name key=value,...::message``, escaped."""
    props = ",".join(f"{key}={escape_property(value)}" for key, value in properties.items())
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _output(name: str, value: str) -> str:
    if "\n" not in value and "\r" not in value:
        return f"{name}={value}\n"
    delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
    while delimiter in value:  # pragma: no cover - 128 random bits
        delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


def _append(path: str, what: str, text: str) -> None:
    try:
        with Path(path).open("a", encoding="utf-8") as file:
            file.write(text)
    except OSError as exc:
        raise ArxdeployError(
            f"cannot write {what} ({path}): {exc.strerror or exc}", hint="is this running as a GitHub Actions step?"
        ) from exc
