"""approval_gates: per-environment overrides, N of M, and clear errors for impossible rules."""

from __future__ import annotations

from datetime import timedelta

from arxdeploy.domain.approvals import ApprovalPolicy

from .conftest import Write, error_for, load_text, seed_with

GATES = "  auto_approve_staging: true\n"


def test_overrides_change_one_environment(write: Write) -> None:
    text = seed_with(
        (
            GATES,
            GATES + "  min_approvals: 1\n  overrides:\n    production:\n      min_approvals: 2\n"
            "      timeout_minutes: 15\n      approvers: [Admin@arxos.com, devops@arxos.com, cto@arxos.com]\n",
        )
    )
    config = load_text(write, text).config
    assert config.approval("production") == ApprovalPolicy(
        required=True,
        required_if_critical=True,
        approvers=("admin@arxos.com", "devops@arxos.com", "cto@arxos.com"),
        min_approvals=2,
        timeout=timedelta(minutes=15),
    )
    staging = config.approval("staging")
    assert (staging.required, staging.auto_approve, staging.min_approvals) == (False, True, 1)
    assert staging.needs_gate(critical=True) and not staging.approves_itself(critical=True)


def test_more_approvals_than_approvers_is_an_error_at_the_key(write: Write) -> None:
    error = error_for(write, seed_with((GATES, GATES + "  min_approvals: 3\n")))
    [problem] = error.problems
    assert problem.key == "approval_gates.min_approvals"
    assert problem.line is not None
    assert "3 approvals are needed but 2 approvers are listed (for staging, production)" in problem.message
    assert problem.hint == "add approvers or lower min_approvals"


def test_an_override_for_an_unknown_environment_suggests_the_right_one(write: Write) -> None:
    error = error_for(write, seed_with((GATES, GATES + "  overrides:\n    prodution:\n      min_approvals: 1\n")))
    [problem] = error.problems
    assert problem.key == "approval_gates.overrides.prodution"
    assert problem.hint == "did you mean 'production'?"


def test_notification_urls_are_checked_without_being_repeated(write: Write) -> None:
    text = seed_with((GATES, GATES + "notifications:\n  slack: {webhook_url: 'hooks.slack.com/services/T/B/SECRET'}\n"))
    # The problem names the key; the message must not echo a value that may be a secret.
    problems = error_for(write, text).problems
    assert [p.key for p in problems] == ["notifications.slack.webhook_url"]
    assert "SECRET" not in str(problems[0])
