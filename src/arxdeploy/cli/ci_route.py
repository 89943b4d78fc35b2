"""What `arxdeploy route` does once its flags are read: build the CI event, decide, tell GitHub."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import click

from arxdeploy.cli import github
from arxdeploy.domain import routing
from arxdeploy.errors import UsageError

if TYPE_CHECKING:
    from arxdeploy.cli.options import Options
    from arxdeploy.config import Config

# A commit id: abbreviated (7+) or full SHA-1 (40) / SHA-256 (64).
_SHA = re.compile(r"[0-9a-fA-F]{7,64}")
_EXAMPLES = (
    "pass --event push --ref refs/heads/main, --event pull_request --base-ref main, "
    "or --event workflow_dispatch --input-environment staging"
)
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]|~#])")


def route_event(
    options: Options, environ: Mapping[str, str], flags: Mapping[str, str | None], *, as_json: bool
) -> None:
    from arxdeploy.config import load
    from arxdeploy.redact import Redactor

    loaded = load(options.config, environ)
    event = _ci_event(environ, github.read_event(environ), **flags)
    decision = routing.route(event, _rules(loaded.config))
    redact = Redactor(loaded.secrets)
    out = {key: redact(value) if isinstance(value, str) else value for key, value in _json(event, decision).items()}
    if github.in_actions(environ):
        github.write_outputs(environ, _outputs(out))
        github.write_summary(environ, _summary(out))
    if as_json:
        click.echo(json.dumps(out))
    else:
        click.echo(out["reason"])
        decided = {"action": out["action"], "environment": out["environment"], "version": out["version"]}
        if out["action"] != routing.NONE:
            decided["needs_approval"] = _outputs(out)["needs_approval"]
        click.echo(" ".join(f"{key}={value}" for key, value in decided.items() if value))


def _ci_event(
    environ: Mapping[str, str],
    payload: Mapping[str, Any],
    *,
    event_name: str | None,
    ref: str | None,
    base_ref: str | None,
    input_environment: str | None,
    sha: str | None,
) -> routing.CiEvent:
    """The event to route: flags first, then GitHub's variables and event file."""
    if ref is not None and not ref.startswith("refs/"):
        raise UsageError(f"--ref {ref!r} is not a full git ref", hint="write refs/heads/BRANCH or refs/tags/TAG")
    name = event_name or environ.get("GITHUB_EVENT_NAME") or ("push" if ref else "")
    if not name:
        where = "not running in GitHub Actions" if not github.in_actions(environ) else "$GITHUB_EVENT_NAME is empty"
        raise UsageError(f"no CI event to route: {where} and no --event given", hint=_EXAMPLES)
    full_ref = ref if ref is not None else environ.get("GITHUB_REF", "")
    if name in routing.PULL_REQUEST_EVENTS:
        base = base_ref or _text(payload, "pull_request", "base", "ref") or environ.get("GITHUB_BASE_REF") or None
        return routing.CiEvent(name, full_ref, _sha(sha, environ), base_ref=base)
    wanted = None
    if name in routing.DISPATCH_EVENTS:
        wanted = (input_environment or _text(payload, "inputs", "environment") or "").strip() or None
    elif input_environment:
        raise UsageError(f"--input-environment applies to workflow_dispatch, not to {name}")
    if not full_ref and wanted is None and name in routing.ROUTED_EVENTS:
        raise UsageError(f"a {name} event needs a ref to route", hint="pass --ref refs/heads/BRANCH or refs/tags/TAG")
    return routing.CiEvent(name, full_ref, _sha(sha, environ), input_environment=wanted)


def _sha(flag: str | None, environ: Mapping[str, str]) -> str | None:
    value = flag if flag is not None else environ.get("GITHUB_SHA") or None
    if value is not None and not _SHA.fullmatch(value):
        source = "--sha" if flag is not None else "$GITHUB_SHA"
        raise UsageError(f"{source} {value!r} is not a commit id", hint="give 7 to 64 hexadecimal characters")
    return value


def _text(payload: Mapping[str, Any], *keys: str) -> str | None:
    value: Any = payload
    for key in keys:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value if isinstance(value, str) and value else None


def _rules(config: Config) -> list[routing.EnvironmentRule]:
    """Each environment's rule, in config order; approval as for a deployment that is not critical."""
    return [
        routing.EnvironmentRule(
            name=name,
            branches=tuple(env.branches),
            tags=tuple(env.tags),
            needs_approval=config.approval(name).needs_gate(critical=False),
        )
        for name, env in config.environments.items()
    ]


def _json(event: routing.CiEvent, decision: routing.RouteDecision) -> dict[str, Any]:
    return {
        "event": event.name,
        "ref": event.ref,
        "environment": decision.environment,
        "action": decision.action,
        "needs_approval": decision.needs_approval,
        "version": decision.version,
        "reason": decision.reason,
    }


def _outputs(out: Mapping[str, Any]) -> dict[str, str]:
    return {
        "environment": out["environment"] or "",
        "action": out["action"],
        "needs_approval": "true" if out["needs_approval"] else "false",
        "version": out["version"] or "",
        "reason": out["reason"],
    }


def _summary(out: Mapping[str, Any]) -> str:
    rows = [
        ("event", out["event"]),
        ("ref", out["ref"]),
        ("action", out["action"]),
        ("environment", out["environment"] or "none"),
        ("approval", "needed" if out["needs_approval"] else "not needed"),
        ("version", out["version"] or "none"),
    ]
    table = "\n".join(f"| {name} | {_markdown(value)} |" for name, value in rows)
    return f"### arxdeploy route: {out['action']}\n\n| | |\n|---|---|\n{table}\n\n{_markdown(out['reason'])}\n"


def _markdown(text: str) -> str:
    """``text`` as literal Markdown inline content: no HTML, no emphasis, no table breaks, one line."""
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))
    return escaped.replace("\r\n", "<br>").replace("\n", "<br>").replace("\r", "<br>")
