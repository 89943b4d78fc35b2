"""Metric analysis inside a step: the candidate color judged against the baseline color.

The entry point the steps call (blue-green's verify and monitor, and a canary's analysis
steps). This is the contract; the providers and the judging live behind a port.
"""

from __future__ import annotations

from collections.abc import Sequence

from arxdeploy.domain.states import Color
from arxdeploy.engine.context import StepContext


def run(
    ctx: StepContext,
    *,
    phase: str,
    metrics: Sequence[str] | None,
    candidate: Color,
    baseline: Color | None,
) -> str:
    """Measure and judge ``candidate`` against ``baseline`` (None: no baseline, absolute
    conditions only) for the analysis configured for ``phase`` ("verify", "monitor", "canary"),
    restricted to the named ``metrics`` when given; record what was measured and decided.

    Returns a line for people. Raises ``StepFailed`` when the candidate fails (or an
    inconclusive result is configured to fail, or the providers failed too many times in a row);
    when an inconclusive result is configured to pause, waits for a person
    (``engine.pause.wait_for_person``), which returns on promote and raises on abort.
    """
    return "no analysis configured"
