"""`arxdeploy security check`: the security gates a deploy would run, without deploying.

Read-only: it changes nothing and records nothing. The same gates, with the same config, as the
deploy's ``security`` step; the results as a table, ``--json``, a SARIF file (``--sarif``), and
inside GitHub Actions a job summary and annotations.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import click

from arxdeploy.cli.options import Options, app_for, emit_json, env_option, json_option, pass_options

if TYPE_CHECKING:
    from arxdeploy.domain.security import GateResult
    from arxdeploy.redact import Redactor


@click.group("security")
def security() -> None:
    """The security gates run before a deployment changes anything."""


@security.command("check")
@env_option()
@click.option("--version", required=True, help="The version that would be deployed.")
@click.option(
    "--digest",
    default=None,
    metavar="sha256:...",
    help="The image digest the scan reports must be of (default: the one the image_digest gate resolves).",
)
@json_option
@click.option(
    "--sarif",
    "sarif_file",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Also write the findings as SARIF 2.1.0, for GitHub code scanning.",
)
@pass_options
def check(
    options: Options, environment: str, version: str, digest: str | None, as_json: bool, sarif_file: str | None
) -> None:
    """Run the security gates for deploying VERSION to an environment; deploy nothing.

    Exit codes: 0 no gate failed (warnings included), 1 a gate failed, 2 bad usage or config.
    """
    from arxdeploy.cli import github
    from arxdeploy.domain.security_events import result_json
    from arxdeploy.security import output, sarif

    with app_for(options, as_json=as_json, reads_only=True) as app:
        app.plan(environment)  # an unknown name fails here, with the known ones listed
        app.check_version(version)
        results = app.security_gates.run(environment=environment, version=version, digest=digest)
        if sarif_file:
            doc = sarif.document(
                results,
                config_file=_in_repository(app.loaded.path, os.environ),
                service=app.service,
                environment=environment,
                version=version,
            )
            text = app.redactor(json.dumps(app.redactor.data(doc), indent=2))
            Path(sarif_file).write_text(text + "\n", encoding="utf-8")
        failed = any(r.blocks for r in results)
        if as_json:
            data = {
                "service": app.service,
                "environment": environment,
                "version": version,
                "passed": not failed,
                "gates": [result_json(r) for r in results],
            }
            emit_json(app, data)
        else:
            _table(results, app.redactor)
        if github.in_actions(os.environ) or os.environ.get("GITHUB_STEP_SUMMARY"):
            summary = output.markdown(results, service=app.service, environment=environment, version=version)
            github.write_summary(os.environ, app.redactor(summary))
            for level, message in output.workflow_annotations(results):
                (github.annotate_error if level == "error" else github.annotate_warning)(
                    app.redactor(message), environ=os.environ
                )
    if failed:
        sys.exit(1)


def _table(results: tuple[GateResult, ...], redactor: Redactor) -> None:
    from rich.markup import escape
    from rich.table import Table

    from arxdeploy.cli.render import console
    from arxdeploy.domain.security import Status
    from arxdeploy.domain.security_events import MARK
    from arxdeploy.security import output

    styles = {Status.PASSED: "green", Status.WARNING: "yellow", Status.FAILED: "bold red"}
    table = Table("gate", "status", "summary", title="Security gates", title_justify="left")
    for r in results:
        table.add_row(r.gate, f"[{styles.get(r.status, 'dim')}]{MARK[r.status]}[/]", escape(r.told))
    out = console(redactor)
    out.print(table)
    for r in results:
        if r.status in (Status.FAILED, Status.WARNING) and r.findings:
            out.print(f"\n[bold]{r.gate}[/]: {len(r.findings)} finding(s)")
            for f in r.findings[: output.SHOWN_FINDINGS]:
                where = f" ({f.file}:{f.line})" if f.file and f.line else ""
                allowed = f" [dim](allowed: {escape(f.allowed)})[/]" if f.allowed else ""
                out.print(f"  {escape(f.rule)} {f.severity.value}{escape(where)}: {escape(f.message)}{allowed}")
            if len(r.findings) > output.SHOWN_FINDINGS:
                out.print(f"  … {len(r.findings) - output.SHOWN_FINDINGS} more (--json or --sarif have them all)")


def _in_repository(config: Path, environ: Mapping[str, str]) -> str:
    """The config file's path from the repository's root (GitHub's workspace, or the working folder)."""
    root = Path(environ.get("GITHUB_WORKSPACE") or Path.cwd()).resolve()
    try:
        return config.resolve().relative_to(root).as_posix()
    except ValueError:
        return config.name
