"""A deployment that waits for a person inside a step: a canary's ``pause: until_approved``,
or an inconclusive analysis configured to pause. People answer with ``promote`` or ``abort``."""

from __future__ import annotations

from arxdeploy.engine.context import StepContext
from arxdeploy.errors import StepFailed


def wait_for_person(ctx: StepContext, *, reason: str) -> str:
    """Record that the deployment pauses and why, then wait until someone promotes it (returns
    a line naming who) or aborts it (raises ``StepFailed`` naming who and why). Recorded with
    the same identity and audit as approvals."""
    raise StepFailed(f"{reason}: waiting for a person is not available yet")
