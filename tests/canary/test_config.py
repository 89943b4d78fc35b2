"""The canary's config: steps resolved into the plan; every mistake named by file, line and key."""

from __future__ import annotations

from datetime import timedelta

import pytest

from arxdeploy.domain.plan import CanaryStep
from tests.config.conftest import SEED_TEXT, Write, error_for, load_text

STRATEGY = "deployment_strategy:\n  type: blue_green\n"


def canary(steps: str, kind: str = "canary") -> str:
    """The seed with its strategy's type set to ``kind`` and canary ``steps`` (YAML lines) added."""
    assert STRATEGY in SEED_TEXT
    return SEED_TEXT.replace(STRATEGY, f"deployment_strategy:\n  type: {kind}\n  canary:\n    steps:\n{steps}")


def test_steps_resolve_into_the_plan(write: Write) -> None:
    text = canary(
        "      - weight: 10\n      - pause: 2m\n      - analysis: [error_rate, p99]\n"
        "      - weight: 50\n      - pause: until_approved\n      - weight: 100\n"
    ) + (  # the metrics the analysis step names
        "analysis:\n  metrics:\n    error_rate: {provider: router, measure: error_rate, max: 0.01}\n"
        "    p99: {provider: router, measure: p99, max: 0.3}\n"
    )
    plan = load_text(write, text).config.plan("production")
    assert plan.canary is not None
    assert plan.canary.steps == (
        CanaryStep(weight=10),
        CanaryStep(pause=timedelta(minutes=2)),
        CanaryStep(analysis=("error_rate", "p99")),
        CanaryStep(weight=50),
        CanaryStep(until_approved=True),
        CanaryStep(weight=100),
    )


def test_blue_green_stays_the_default(write: Write) -> None:
    assert load_text(write, SEED_TEXT).config.plan("production").canary is None


@pytest.mark.parametrize(
    ("steps", "line", "key", "message"),
    [
        ("      - weight: 50\n      - weight: 10\n", 2, "deployment_strategy.canary.steps[1].weight", "never go down"),
        ("      - weight: 120\n", 1, "deployment_strategy.canary.steps[0].weight", "100"),
        ("      - weight: -1\n", 1, "deployment_strategy.canary.steps[0].weight", "0"),
        ("      - pause: soon\n", 1, "deployment_strategy.canary.steps[0].pause", "not a duration"),
        ("      - weight: 10\n        pause: 2m\n", 1, "deployment_strategy.canary.steps[0]", "weight and pause"),
        ("      - wait: 2m\n", 1, "deployment_strategy.canary.steps[0].wait", "not a known key"),
        ("      - analysis: []\n", 1, "deployment_strategy.canary.steps[0].analysis", "at least 1"),
    ],
)
def test_mistakes_name_file_line_and_key(write: Write, steps: str, line: int, key: str, message: str) -> None:
    error = error_for(write, canary(steps))
    problem = error.problems[0]
    first_step = canary(steps).splitlines().index("    steps:") + 2
    assert (problem.key, problem.line) == (key, first_step + line - 1), str(error)
    assert message in problem.message, str(error)
    assert problem.file.endswith("deployment_config.yaml")


def test_a_canary_needs_its_steps(write: Write) -> None:
    text = SEED_TEXT.replace(STRATEGY, "deployment_strategy:\n  type: canary\n")
    error = error_for(write, text)
    assert [p.key for p in error.problems] == ["deployment_strategy.canary"], str(error)
    assert error.problems[0].hint and "steps" in error.problems[0].hint


def test_canary_steps_under_blue_green_are_refused(write: Write) -> None:
    error = error_for(write, canary("      - weight: 10\n", kind="blue_green"))
    assert [p.key for p in error.problems] == ["deployment_strategy.canary"], str(error)
    assert "type: canary" in (error.problems[0].hint or "")
