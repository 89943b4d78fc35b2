"""The settings one deployment runs with, resolved from the config for one environment."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta

from arxdeploy.domain.approvals import ApprovalPolicy


@dataclass(frozen=True)
class CheckPolicy:
    interval: timedelta = timedelta(seconds=2)
    timeout: timedelta = timedelta(seconds=2)
    success_threshold: int = 2
    failure_threshold: int = 3
    progress_deadline: timedelta = timedelta(minutes=5)


@dataclass(frozen=True)
class MetricCheck:
    """One named metric of the ``analysis`` section: where it is read, and what it must be.

    ``provider`` is ``router`` (the local router's own counts; ``measure`` says which figure),
    ``prometheus`` (``query``, PromQL with placeholders) or ``http`` (``url``, and ``path`` to
    the number in its JSON answer). Bounds are absolute (``max``, ``min``) or relative to the
    baseline color over the same window (``max_ratio``: at most that many times the
    baseline's figure, plus ``allowance``). ``judge_confidence``: also compare the two colors'
    samples with a Mann-Whitney U test at that confidence level; the candidate fails when it is
    worse with that confidence and its median is more than ``judge_effect`` above the baseline's.
    """

    name: str
    provider: str  # router | prometheus | http
    measure: str = "error_rate"  # router: error_rate | p50 | p90 | p95 | p99 | mean_latency | rate
    query: str = ""  # prometheus
    url: str = ""  # http
    path: str = ""  # http: dotted path to the number in the JSON answer
    headers: tuple[tuple[str, str], ...] = ()  # http: sent with every request (may hold secrets)
    max: float | None = None
    min: float | None = None
    max_ratio: float | None = None
    allowance: float = 0.0
    judge_confidence: float | None = None
    judge_effect: float = 0.1
    failure_limit: int | None = None  # this metric's own, instead of the phase's

    @property
    def relative(self) -> bool:
        """Whether it needs the baseline color's figure."""
        return self.max_ratio is not None or self.judge_confidence is not None


@dataclass(frozen=True)
class SyntheticLoad:
    """Requests sent to the candidate during its analysis, marked ``X-Arxdeploy-Synthetic``."""

    rate: float  # requests per second
    paths: tuple[str, ...] = ("/",)
    duration: timedelta | None = None  # None: as long as the analysis runs


@dataclass(frozen=True)
class AnalysisRun:
    """The analysis of one phase (``verify``, ``monitor``, ``canary``): which metrics, how
    often, and what failing, missing data and provider errors lead to."""

    metrics: tuple[MetricCheck, ...]
    interval: timedelta = timedelta(seconds=30)
    count: int = 3  # measurements of every metric
    failure_limit: int = 0  # failed measurements tolerated; one more fails the analysis
    inconclusive: str = "fail"  # pause | fail | pass: too few samples, no traffic
    consecutive_error_limit: int = 2  # provider errors in a row tolerated; one more fails
    min_requests: int = 20  # router provider: fewer requests in a window is inconclusive
    load: SyntheticLoad | None = None


@dataclass(frozen=True)
class AnalysisPlan:
    """Where analysis runs for one environment; None: not in that phase."""

    verify: AnalysisRun | None = None
    monitor: AnalysisRun | None = None
    canary: AnalysisRun | None = None
    metrics: tuple[MetricCheck, ...] = ()  # every metric of the section, by name, for canary steps

    def run_for(self, phase: str, names: Sequence[str] | None = None) -> AnalysisRun | None:
        """The run settings of ``phase``, restricted to ``names`` when given (a canary step's
        list); a canary step's names may be any metric of the section, with the canary's
        settings (or the defaults)."""
        run: AnalysisRun | None = getattr(self, phase, None)
        if names is None:
            return run if run is not None and run.metrics else None
        known = {m.name: m for m in self.metrics}
        chosen = tuple(known[n] for n in names if n in known)
        if not chosen:
            return None
        return replace(run, metrics=chosen) if run is not None else AnalysisRun(metrics=chosen)


@dataclass(frozen=True)
class CanaryStep:
    """One step of a canary: exactly one of a weight, a pause or an analysis."""

    weight: int | None = None  # the new color's share of new requests, 0 to 100
    pause: timedelta | None = None  # wait this long (a promote ends it early, an abort fails it)
    until_approved: bool = False  # wait for a person: `arxdeploy promote` or `abort`
    analysis: tuple[str, ...] | None = None  # judge the new color against the old on these metrics

    @property
    def kind(self) -> str:
        if self.weight is not None:
            return "weight"
        return "analysis" if self.analysis is not None else "pause"

    def describe(self) -> str:
        if self.weight is not None:
            return f"weight {self.weight}%"
        if self.analysis is not None:
            return f"analysis of {', '.join(self.analysis) or 'every metric'}"
        if self.until_approved:
            return "pause until a person promotes"
        assert self.pause is not None
        return f"pause {self.pause.total_seconds():g}s"


@dataclass(frozen=True)
class CanaryPlan:
    """A canary's steps, in order; after the last one the new color takes all the traffic (the switch)."""

    steps: tuple[CanaryStep, ...]


@dataclass(frozen=True)
class EnvironmentPlan:
    service: str
    environment: str
    replicas: int
    monitoring_duration: timedelta
    rollback_timeout: timedelta
    traffic_switch_delay: timedelta
    scale_down_delay: timedelta
    checks: CheckPolicy
    approval: ApprovalPolicy = field(default_factory=ApprovalPolicy)
    config_digest: str = ""  # approvals are bound to it
    drain_timeout: timedelta = timedelta(seconds=30)
    database: bool = False  # backups hold a dump of the database (backup.database)
    restore_database_on_rollback: bool = False  # rollbacks restore it too (the environment asks)
    analysis: AnalysisPlan = field(default_factory=AnalysisPlan)  # metric analysis per phase
    canary: CanaryPlan | None = None  # deployment_strategy.type canary: its steps; None for blue-green
