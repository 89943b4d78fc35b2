"""Judging metric figures: one measurement against its conditions, and a run's tally into a verdict.

Pure: figures in, outcomes out. A measurement is ``pass``, ``fail``, ``inconclusive`` (no
figure, too few requests, no baseline figure for a relative condition) or ``error`` (the
provider could not answer: never a value). The run's rules, in the order they apply:

1. more failed measurements of a metric than ``failure_limit`` (the metric's own, else the
   phase's): failed, at once;
2. more provider errors in a row than ``consecutive_error_limit``: failed, at once;
3. at the end, a metric whose last measurement was an error: failed (an outage is never a pass);
4. at the end, a metric with more inconclusive measurements than conclusive ones: inconclusive
   (then ``inconclusive: pause | fail | pass`` decides);
5. otherwise passed.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from arxdeploy.domain.plan import AnalysisRun, MetricCheck

LATENCIES = frozenset({"p50", "p90", "p95", "p99", "mean_latency"})
JUDGE_MIN_SAMPLES = 3  # per color: below this a rank test cannot reach 95 % confidence


class Outcome(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"


def shown(metric: MetricCheck, value: float | None) -> str:
    """A figure for people, in the unit its measure has."""
    if value is None:
        return "no figure"
    if metric.provider == "router" and metric.measure == "error_rate":
        return f"{value * 100:.2f}%"
    if metric.provider == "router" and metric.measure in LATENCIES:
        return f"{value * 1000:.1f} ms"
    if metric.provider == "router" and metric.measure == "rate":
        return f"{value:.3g}/s"
    return f"{value:.4g}"


@dataclass(frozen=True)
class Reading:
    """One metric measured in one window, judged."""

    metric: str
    outcome: Outcome
    candidate: float | None
    baseline: float | None
    reason: str  # for people: both figures and the bound they were held to

    def to_json(self) -> dict[str, object]:
        return {
            "metric": self.metric,
            "outcome": self.outcome.value,
            "candidate": self.candidate,
            "baseline": self.baseline,
            "reason": self.reason,
        }


def judge(
    metric: MetricCheck,
    candidate: float | None,
    baseline: float | None,
    *,
    colors: tuple[str, str | None],
    missing: str = "",
    compare: bool = True,
) -> Reading:
    """``candidate`` against ``metric``'s bounds; ``baseline`` is the baseline color's figure
    (``compare`` False: there is no baseline color, relative bounds are left out). ``missing``
    says why a figure is absent (too few requests, no traffic)."""
    own, other = colors
    figures = f"{own} {shown(metric, candidate)}"
    if compare and other is not None:
        figures += f" vs {other} {shown(metric, baseline)}"
    name = metric.name

    def reading(outcome: Outcome, why: str) -> Reading:
        return Reading(name, outcome, candidate, baseline, f"{name}: {figures}; {why}")

    if candidate is None or missing:
        return reading(Outcome.INCONCLUSIVE, missing or "no figure for the candidate")
    if metric.max is not None and candidate > metric.max:
        return reading(Outcome.FAIL, f"above max {shown(metric, metric.max)}")
    if metric.min is not None and candidate < metric.min:
        return reading(Outcome.FAIL, f"below min {shown(metric, metric.min)}")
    if metric.max_ratio is not None and compare:
        if baseline is None:
            return reading(Outcome.INCONCLUSIVE, "no baseline figure to compare with")
        limit = metric.max_ratio * baseline + metric.allowance
        bound = f"{metric.max_ratio:g} × baseline" + (
            f" + {shown(metric, metric.allowance)}" if metric.allowance else ""
        )
        if candidate > limit:
            return reading(Outcome.FAIL, f"above {bound} = {shown(metric, limit)}")
        return reading(Outcome.PASS, f"within {bound} = {shown(metric, limit)}")
    return reading(Outcome.PASS, "within bounds")


@dataclass
class Tally:
    """What one metric's measurements came to so far."""

    metric: MetricCheck
    counts: dict[Outcome, int] = field(default_factory=lambda: dict.fromkeys(Outcome, 0))
    errors_in_a_row: int = 0
    last_failure: str = ""  # the reason of its last failed measurement, with both figures
    last_error: str = ""
    candidate: list[float] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)

    def add(self, reading: Reading) -> None:
        self.counts[reading.outcome] += 1
        self.errors_in_a_row = self.errors_in_a_row + 1 if reading.outcome is Outcome.ERROR else 0
        if reading.outcome is Outcome.FAIL:
            self.last_failure = reading.reason
        if reading.outcome is Outcome.ERROR:
            self.last_error = reading.reason
        if reading.outcome in (Outcome.PASS, Outcome.FAIL):
            assert reading.candidate is not None
            self.candidate.append(reading.candidate)
            if reading.baseline is not None:
                self.baseline.append(reading.baseline)


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome  # PASS, FAIL or INCONCLUSIVE
    reason: str


def early(run: AnalysisRun, tallies: Sequence[Tally]) -> Verdict | None:
    """A failure that cannot be undone by later windows (rules 1 and 2), or None."""
    for tally in tallies:
        name = tally.metric.name
        failed = tally.counts[Outcome.FAIL]
        limit = tally.metric.failure_limit if tally.metric.failure_limit is not None else run.failure_limit
        if failed > limit:
            return Verdict(
                Outcome.FAIL,
                f"{name} failed {failed} measurement{'s' if failed != 1 else ''} (failure_limit "
                f"{limit}); last: {tally.last_failure}",
            )
        if tally.errors_in_a_row > run.consecutive_error_limit:
            return Verdict(
                Outcome.FAIL,
                f"{name} could not be read {tally.errors_in_a_row} times in a row (consecutive_error_limit "
                f"{run.consecutive_error_limit}): a metrics outage is never a pass; last: {tally.last_error}",
            )
    return None


def final(run: AnalysisRun, tallies: Sequence[Tally], judged: dict[str, Reading] | None = None) -> Verdict:
    """The verdict once every window ran (rules 3 to 5); ``judged``: the rank tests' readings."""
    found = early(run, tallies)
    if found is not None:
        return found
    for tally in tallies:
        if tally.errors_in_a_row:
            return Verdict(
                Outcome.FAIL,
                f"{tally.metric.name} could not be read at the end of the analysis: a metrics outage is never a pass; "
                f"last: {tally.last_error}",
            )
    for reading in (judged or {}).values():
        if reading.outcome is Outcome.FAIL:
            return Verdict(Outcome.FAIL, reading.reason)
    unsure = []
    for tally in tallies:
        conclusive = tally.counts[Outcome.PASS] + tally.counts[Outcome.FAIL]
        if tally.counts[Outcome.INCONCLUSIVE] > conclusive:
            unsure.append(f"{tally.metric.name} ({tally.counts[Outcome.INCONCLUSIVE]} of {sum(tally.counts.values())})")
    unsure += [r.reason for r in (judged or {}).values() if r.outcome is Outcome.INCONCLUSIVE]
    if unsure:
        return Verdict(Outcome.INCONCLUSIVE, "too little data: " + "; ".join(unsure))
    return Verdict(Outcome.PASS, f"{len(tallies)} metric{'s' if len(tallies) != 1 else ''} within bounds")


def rank_verdict(metric: MetricCheck, tally: Tally, p_value: float | None, colors: tuple[str, str]) -> Reading:
    """The Mann-Whitney U judge's reading: worse with ``judge_confidence`` and by more than the
    effect band (medians) fails; fewer than ``JUDGE_MIN_SAMPLES`` figures a color is inconclusive."""
    assert metric.judge_confidence is not None
    own, other = colors
    cand, base = tally.candidate, tally.baseline
    if p_value is None or len(cand) < JUDGE_MIN_SAMPLES or len(base) < JUDGE_MIN_SAMPLES:
        return Reading(
            metric.name,
            Outcome.INCONCLUSIVE,
            None,
            None,
            f"{metric.name} judge: {len(cand)} figures of {own} and {len(base)} of {other}, "
            f"{JUDGE_MIN_SAMPLES} each needed",
        )
    mc, mb = statistics.median(cand), statistics.median(base)
    level = 1 - metric.judge_confidence
    bigger = mc > mb * (1 + metric.judge_effect) if mb > 0 else mc > 0
    figures = f"median {own} {shown(metric, mc)} vs {other} {shown(metric, mb)}, p={p_value:.3g}"
    if p_value < level and bigger:
        why = f"worse with {metric.judge_confidence:.0%} confidence, beyond the {metric.judge_effect:.0%} band"
        return Reading(metric.name, Outcome.FAIL, mc, mb, f"{metric.name} judge: {figures}; {why}")
    return Reading(metric.name, Outcome.PASS, mc, mb, f"{metric.name} judge: {figures}; not worse")
