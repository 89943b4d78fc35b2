"""What a CI event means for deployment, decided purely from each environment's branches and tags.

``route(event, rules)`` turns one CI event (a push, a pull request, a manual dispatch) into a
``RouteDecision``: deploy to one environment, validate only, or nothing. Patterns follow
GitHub's filter-pattern syntax (``matches``), so a config reads like the workflow it drives.
No I/O here: the CLI (``arxdeploy.cli.route``) reads GitHub's variables and writes its outputs.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from arxdeploy.errors import UsageError

DEPLOY = "deploy"
VALIDATE = "validate"
NONE = "none"

BRANCH_PREFIX = "refs/heads/"
TAG_PREFIX = "refs/tags/"
PUSH_EVENTS = ("push",)
PULL_REQUEST_EVENTS = ("pull_request", "pull_request_target")
DISPATCH_EVENTS = ("workflow_dispatch",)
ROUTED_EVENTS = (*PUSH_EVENTS, *PULL_REQUEST_EVENTS, *DISPATCH_EVENTS)
SHORT_SHA = 12

RefKind = Literal["branch", "tag"]


@dataclass(frozen=True)
class CiEvent:
    """One CI event: its name (``push``...), the full git ref, and what else it carries."""

    name: str
    ref: str  # full ref: refs/heads/main, refs/tags/v1.2.0, refs/pull/7/merge; "" when unknown
    sha: str | None = None
    base_ref: str | None = None  # a pull request's target branch
    input_environment: str | None = None  # workflow_dispatch's inputs.environment


@dataclass(frozen=True)
class EnvironmentRule:
    """Which refs deploy to one environment, and whether its deployments wait for approval."""

    name: str
    branches: tuple[str, ...]
    tags: tuple[str, ...]
    needs_approval: bool


@dataclass(frozen=True)
class RouteDecision:
    action: str  # deploy, validate or none
    environment: str | None
    needs_approval: bool
    version: str | None  # suggested: the tag, else the sha's first 12 characters, else the branch
    reason: str  # one sentence, for people


# --- patterns -------------------------------------------------------------------------------


def matches(pattern: str, name: str) -> bool:
    """Whether ``name`` (a branch or tag name) matches one GitHub filter pattern.

    ``*`` matches any characters except ``/``; ``**`` matches any characters; ``?`` and ``+``
    make the preceding character optional or repeatable; ``[a-z0-9]`` matches one listed
    character; ``\\`` escapes the next one. Everything else matches itself. A leading ``!``
    is a list-level negation (see ``first_match``), not part of a single pattern.
    """
    return _compile(pattern).fullmatch(name) is not None


def first_match(patterns: Sequence[str], name: str) -> str | None:
    """The pattern of a GitHub filter list that selects ``name``, or None.

    As in GitHub, patterns apply in order and a ``!pattern`` drops a name an earlier pattern
    selected; a later positive pattern can select it again.
    """
    selected: str | None = None
    for pattern in patterns:
        if pattern.startswith("!"):
            if selected is not None and matches(pattern[1:], name):
                selected = None
        elif matches(pattern, name):
            selected = pattern
    return selected


@functools.lru_cache(maxsize=512)
def _compile(pattern: str) -> re.Pattern[str]:
    parts: list[str] = []
    quantifiable = False  # ? and + apply to the preceding character; elsewhere they are literal
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            double = pattern.startswith("**", i)
            parts.append(".*" if double else "[^/]*")
            i += 2 if double else 1
            quantifiable = False
            continue
        if char in "?+" and quantifiable:
            parts.append(char)
            quantifiable = False
            i += 1
            continue
        if char == "[":
            end = pattern.find("]", i + 2)
            if end != -1:
                parts.append(_char_class(pattern[i + 1 : end]))
                i = end + 1
                quantifiable = True
                continue
        if char == "\\" and i + 1 < len(pattern):
            i += 1
            char = pattern[i]
        parts.append(re.escape(char))
        quantifiable = True
        i += 1
    return re.compile("".join(parts), re.DOTALL)


def _char_class(body: str) -> str:
    members: list[str] = []
    i = 0
    while i < len(body):
        low = body[i]
        if i + 2 < len(body) and body[i + 1] == "-" and _is_range(low, body[i + 2]):
            members.append(f"{low}-{body[i + 2]}")
            i += 3
        else:
            members.append(re.escape(low))
            i += 1
    return f"[{''.join(members)}]"


def _is_range(low: str, high: str) -> bool:
    # GitHub allows ranges within a-z, A-Z and 0-9 only.
    return any(low <= high and low in span and high in span for span in (_LOWER, _UPPER, _DIGITS))


_LOWER = "abcdefghijklmnopqrstuvwxyz"
_UPPER = _LOWER.upper()
_DIGITS = "0123456789"


# --- the rules ------------------------------------------------------------------------------


def route(event: CiEvent, rules: Sequence[EnvironmentRule]) -> RouteDecision:
    """Decide what ``event`` means for the environments described by ``rules``.

    Raises ``UsageError`` when a ref matches more than one environment, or when a dispatch
    names an environment that does not exist.
    """
    if event.name in PULL_REQUEST_EVENTS:
        return _pull_request(event, rules)
    if event.name in DISPATCH_EVENTS and event.input_environment:
        return _dispatch(event, rules, event.input_environment)
    if event.name in PUSH_EVENTS or event.name in DISPATCH_EVENTS:
        return _push(event, rules)
    routed = ", ".join(ROUTED_EVENTS)
    return _nothing(f"nothing to deploy: {event.name or 'an unnamed'} events are not routed (only {routed} are)")


def _push(event: CiEvent, rules: Sequence[EnvironmentRule]) -> RouteDecision:
    parsed = parse_ref(event.ref)
    if parsed is None:
        return _nothing(
            f"nothing to deploy: {event.name} of {event.ref or 'an unknown ref'} is neither a branch "
            f"({BRANCH_PREFIX}...) nor a tag ({TAG_PREFIX}...)"
        )
    kind, name = parsed
    found = _environment_for(kind, name, rules)
    if found is None:
        return _nothing(
            f"nothing to deploy: {event.name} of {event.ref} matches no environment's branches or tags "
            f"({describe(rules)})"
        )
    rule, pattern = found
    version = _version(kind, name, event.sha)
    field = "branches" if kind == "branch" else "tags"
    return RouteDecision(
        action=DEPLOY,
        environment=rule.name,
        needs_approval=rule.needs_approval,
        version=version,
        reason=f"{event.name} of {kind} {name} matches {rule.name}'s {field} ({pattern}): "
        f"deploy {version} to {rule.name}{_approval(rule)}",
    )


def _pull_request(event: CiEvent, rules: Sequence[EnvironmentRule]) -> RouteDecision:
    base = event.base_ref
    if base and base.startswith(BRANCH_PREFIX):
        base = base[len(BRANCH_PREFIX) :]
    version = _short(event.sha)
    if not base:
        return RouteDecision(VALIDATE, None, False, version, f"{event.name} into an unknown base branch: validate only")
    found = _environment_for("branch", base, rules)
    where = f"{base} deploys to {found[0].name}" if found else f"{base} deploys to no environment"
    return RouteDecision(
        action=VALIDATE,
        environment=found[0].name if found else None,
        needs_approval=False,
        version=version,
        reason=f"{event.name} into {base}: validate only ({where} once merged)",
    )


def _dispatch(event: CiEvent, rules: Sequence[EnvironmentRule], wanted: str) -> RouteDecision:
    by_name = {rule.name: rule for rule in rules}
    rule = by_name.get(wanted)
    if rule is None:
        known = ", ".join(by_name) or "none"
        close = difflib.get_close_matches(wanted, list(by_name), n=1, cutoff=0.5)
        hint = f"did you mean {close[0]!r}?" if close else "pick one of the environments in the config"
        raise UsageError(
            f"{event.name} asks for environment {wanted!r}, which is not in the config; known: {known}", hint=hint
        )
    parsed = parse_ref(event.ref)
    version = _version(parsed[0], parsed[1], event.sha) if parsed else _short(event.sha)
    what = f"deploy {version} to {rule.name}" if version else f"deploy to {rule.name}"
    return RouteDecision(
        action=DEPLOY,
        environment=rule.name,
        needs_approval=rule.needs_approval,
        version=version,
        reason=f"{event.name} with input environment {rule.name}: {what}{_approval(rule)}",
    )


def _environment_for(kind: RefKind, name: str, rules: Sequence[EnvironmentRule]) -> tuple[EnvironmentRule, str] | None:
    """The one environment whose branches (or tags) select ``name``, with the pattern that did."""
    found = []
    for rule in rules:
        pattern = first_match(rule.branches if kind == "branch" else rule.tags, name)
        if pattern is not None:
            found.append((rule, pattern))
    if len(found) > 1:
        field = "branches" if kind == "branch" else "tags"
        which = ", ".join(f"{rule.name} ({pattern})" for rule, pattern in found)
        names = " and ".join(rule.name for rule, _ in found)
        raise UsageError(
            f"{kind} {name} matches more than one environment: {which}",
            hint=f"make the {field} patterns of {names} disjoint, so that each {kind} deploys to one environment",
        )
    return found[0] if found else None


def parse_ref(ref: str) -> tuple[RefKind, str] | None:
    """``("branch", "main")`` for refs/heads/main, ``("tag", "v1")`` for refs/tags/v1, else None."""
    if ref.startswith(BRANCH_PREFIX) and len(ref) > len(BRANCH_PREFIX):
        return "branch", ref[len(BRANCH_PREFIX) :]
    if ref.startswith(TAG_PREFIX) and len(ref) > len(TAG_PREFIX):
        return "tag", ref[len(TAG_PREFIX) :]
    return None


def describe(rules: Sequence[EnvironmentRule]) -> str:
    """``staging: develop; production: main, v*``: what each environment deploys from."""
    if not rules:
        return "no environments"
    return "; ".join(f"{rule.name}: {', '.join((*rule.branches, *rule.tags)) or 'no patterns'}" for rule in rules)


def _version(kind: RefKind, name: str, sha: str | None) -> str:
    if kind == "tag":
        return name
    return _short(sha) or name


def _short(sha: str | None) -> str | None:
    return sha[:SHORT_SHA].lower() if sha else None


def _approval(rule: EnvironmentRule) -> str:
    return ", after approval" if rule.needs_approval else ""


def _nothing(reason: str) -> RouteDecision:
    return RouteDecision(action=NONE, environment=None, needs_approval=False, version=None, reason=reason)
