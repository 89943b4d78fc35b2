"""What a step needs: the deployment, its plan, the ports, and a way to report progress."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from arxdeploy.domain.events import Deployment, Event
from arxdeploy.domain.plan import EnvironmentPlan
from arxdeploy.engine.locks import Lease
from arxdeploy.engine.watch import Watcher
from arxdeploy.ports import Backups, Clock, HealthProbe, Metrics, SecurityGates, Target


@dataclass(frozen=True)
class StepContext:
    deployment: Deployment
    plan: EnvironmentPlan
    target: Target  # the seam: retries transient errors, confirms the lease before changes
    backups: Backups
    health: HealthProbe
    clock: Clock
    record: Callable[[Event], None]  # appended to the deployment's log
    progress: Callable[[str], None]  # shown to people, not stored
    lease: Lease | None = None
    undoing: bool = False
    recorded: Callable[[], Sequence[Event]] = tuple  # the deployment's log so far
    security: SecurityGates | None = None  # the security step's gates; None: none configured
    metrics: Metrics | None = None  # metric analysis (None: nothing can be measured)

    @property
    def watcher(self) -> Watcher:
        return Watcher(
            self.target,
            self.health,
            self.clock,
            self.plan.checks,
            self.deployment.environment,
            checkpoint=self._checkpoint,
        )

    def _checkpoint(self) -> None:
        if self.lease is not None:
            self.lease.check(undoing=self.undoing)
