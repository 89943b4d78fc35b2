"""The routing rules as values: one CI event and the environments' patterns in, one decision out."""

from __future__ import annotations

import pytest

from arxdeploy.domain.routing import CiEvent, EnvironmentRule, RouteDecision, route
from arxdeploy.errors import UsageError

SHA = "0123456789abcdef0123456789abcdef01234567"
STAGING = EnvironmentRule("staging", branches=("develop",), tags=(), needs_approval=False)
PRODUCTION = EnvironmentRule("production", branches=("main",), tags=("v*",), needs_approval=True)
SEED = (STAGING, PRODUCTION)
KNOWN = "(staging: develop; production: main, v*)"


@pytest.mark.parametrize(
    ("event", "action", "environment", "needs_approval", "version"),
    [
        (CiEvent("push", "refs/heads/develop", SHA), "deploy", "staging", False, "0123456789ab"),
        (CiEvent("push", "refs/heads/develop"), "deploy", "staging", False, "develop"),
        (CiEvent("push", "refs/heads/main", SHA), "deploy", "production", True, "0123456789ab"),
        (CiEvent("push", "refs/tags/v1.2.0", SHA), "deploy", "production", True, "v1.2.0"),
        (CiEvent("push", "refs/heads/feature/login", SHA), "none", None, False, None),
        (CiEvent("push", "refs/tags/release-1", SHA), "none", None, False, None),
        (CiEvent("push", "refs/heads/v1"), "none", None, False, None),  # v* is a tag pattern here
        (
            CiEvent("pull_request", "refs/pull/7/merge", SHA, base_ref="main"),
            "validate",
            "production",
            False,
            "0123456789ab",
        ),
        (CiEvent("pull_request_target", "refs/heads/main", base_ref="develop"), "validate", "staging", False, None),
        (
            CiEvent("pull_request", "refs/pull/7/merge", base_ref="refs/heads/main"),
            "validate",
            "production",
            False,
            None,
        ),
        (CiEvent("pull_request", "refs/pull/8/merge", base_ref="feature/x"), "validate", None, False, None),
        (CiEvent("pull_request", "refs/pull/9/merge"), "validate", None, False, None),
        (
            CiEvent("workflow_dispatch", "refs/heads/feature/x", SHA, input_environment="production"),
            "deploy",
            "production",
            True,
            "0123456789ab",
        ),
        (
            CiEvent("workflow_dispatch", "refs/heads/main", input_environment="staging"),
            "deploy",
            "staging",
            False,
            "main",
        ),
        (
            CiEvent("workflow_dispatch", "refs/tags/v2.0.0", SHA, input_environment="staging"),
            "deploy",
            "staging",
            False,
            "v2.0.0",
        ),
        (CiEvent("workflow_dispatch", "refs/heads/develop", SHA), "deploy", "staging", False, "0123456789ab"),
        (CiEvent("workflow_dispatch", "refs/heads/feature/x", SHA), "none", None, False, None),
        (CiEvent("schedule", "refs/heads/main", SHA), "none", None, False, None),
        (CiEvent("release", "refs/tags/v1.2.0", SHA), "none", None, False, None),
        (CiEvent("push", "refs/notes/commits", SHA), "none", None, False, None),
    ],
)
def test_each_event_routes_as_the_table_says(
    event: CiEvent, action: str, environment: str | None, needs_approval: bool, version: str | None
) -> None:
    decision = route(event, SEED)
    assert (decision.action, decision.environment, decision.needs_approval, decision.version) == (
        action,
        environment,
        needs_approval,
        version,
    )
    assert decision.reason and "\n" not in decision.reason


def test_a_deploy_says_which_pattern_matched_and_that_approval_is_needed() -> None:
    decision = route(CiEvent("push", "refs/tags/v1.2.0"), SEED)
    assert decision == RouteDecision(
        action="deploy",
        environment="production",
        needs_approval=True,
        version="v1.2.0",
        reason="push of tag v1.2.0 matches production's tags (v*): deploy v1.2.0 to production, after approval",
    )


def test_nothing_to_deploy_names_every_environments_patterns() -> None:
    decision = route(CiEvent("push", "refs/heads/feature/x"), SEED)
    assert decision.reason == (
        f"nothing to deploy: push of refs/heads/feature/x matches no environment's branches or tags {KNOWN}"
    )


def test_a_pull_request_only_validates_even_into_a_gated_environment() -> None:
    decision = route(CiEvent("pull_request", "refs/pull/7/merge", base_ref="main"), SEED)
    assert decision.action == "validate" and not decision.needs_approval
    assert decision.reason == "pull_request into main: validate only (main deploys to production once merged)"


def test_other_events_are_not_routed_and_say_which_are() -> None:
    reason = route(CiEvent("schedule", "refs/heads/main"), SEED).reason
    assert reason.startswith("nothing to deploy: schedule events are not routed")
    assert "workflow_dispatch" in reason


def test_an_unknown_input_environment_is_a_usage_error_naming_the_known_ones() -> None:
    with pytest.raises(UsageError) as caught:
        route(CiEvent("workflow_dispatch", "refs/heads/main", input_environment="prod"), SEED)
    assert caught.value.exit_code == 2
    assert "'prod'" in caught.value.message and "known: staging, production" in caught.value.message
    assert caught.value.hint == "did you mean 'production'?"


@pytest.mark.parametrize(
    ("rules", "ref", "named"),
    [
        (
            (STAGING, EnvironmentRule("qa", branches=("dev*",), tags=(), needs_approval=False)),
            "refs/heads/develop",
            "staging (develop), qa (dev*)",
        ),
        (
            (PRODUCTION, EnvironmentRule("canary", branches=(), tags=("v1.*",), needs_approval=False)),
            "refs/tags/v1.2",
            "production (v*), canary (v1.*)",
        ),
    ],
)
def test_a_ref_matching_two_environments_is_a_usage_error(
    rules: tuple[EnvironmentRule, ...], ref: str, named: str
) -> None:
    with pytest.raises(UsageError) as caught:
        route(CiEvent("push", ref), rules)
    assert caught.value.exit_code == 2
    assert named in caught.value.message
    assert caught.value.hint is not None and "disjoint" in caught.value.hint


def test_patterns_that_overlap_only_on_other_refs_do_not_get_in_the_way() -> None:
    rules = (STAGING, EnvironmentRule("qa", branches=("dev*",), tags=(), needs_approval=False))
    assert route(CiEvent("push", "refs/heads/devops"), rules).environment == "qa"


def test_a_negated_pattern_takes_a_branch_out_of_an_environment() -> None:
    rules = (EnvironmentRule("preview", branches=("feature/**", "!feature/wip-*"), tags=(), needs_approval=False),)
    assert route(CiEvent("push", "refs/heads/feature/a/b"), rules).environment == "preview"
    assert route(CiEvent("push", "refs/heads/feature/wip-x"), rules).action == "none"


def test_an_environment_without_patterns_is_described_as_such() -> None:
    rules = (*SEED, EnvironmentRule("qa", branches=(), tags=(), needs_approval=False))
    reason = route(CiEvent("push", "refs/heads/x"), rules).reason
    assert reason.endswith("(staging: develop; production: main, v*; qa: no patterns)")
