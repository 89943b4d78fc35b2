"""The settings one deployment runs with, resolved from the config for one environment."""

from __future__ import annotations

from dataclasses import dataclass, field
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
    canary: CanaryPlan | None = None  # deployment_strategy.type canary: its steps; None for blue-green
