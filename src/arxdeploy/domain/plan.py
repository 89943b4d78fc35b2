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
