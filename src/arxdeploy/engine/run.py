"""The engine: takes requests, drives deployments step by step, recovers abandoned ones.

Every change to what runs enters through ``submit`` (a deploy, rollback, restore, reconcile or
stop, as one ``Request``) and becomes a recorded deployment. The decision core
(``domain.decide``) says which state comes next; the engine runs the step for the current
state, records the outcome, and repeats until a terminal state. Because the state is a fold
over the log, recovering after a crash is reading the log and treating the step that was
running as interrupted. Recovery runs once per command, here, before anything else.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from arxdeploy.domain import approvals, events
from arxdeploy.domain.approvals import GateStatus
from arxdeploy.domain.decide import next_state, route_for
from arxdeploy.domain.events import Deployment, Event, View, fold
from arxdeploy.domain.plan import EnvironmentPlan
from arxdeploy.domain.request import Request
from arxdeploy.domain.states import STEP_OF, Color, Kind, Outcome, State
from arxdeploy.engine import gate
from arxdeploy.engine.context import StepContext
from arxdeploy.engine.drift import drift
from arxdeploy.engine.hooks import emit
from arxdeploy.engine.locks import Lease, Leases
from arxdeploy.engine.seam import TargetSeam
from arxdeploy.engine.steps import STEPS
from arxdeploy.errors import (
    ApprovalError,
    ArxdeployError,
    LeaseLostError,
    NotFoundError,
    StepFailed,
    UsageError,
)
from arxdeploy.ports import (
    Backups,
    Clock,
    ColorState,
    EnvironmentState,
    HealthProbe,
    Hook,
    LiveRelease,
    Metrics,
    SecurityGates,
    Store,
    Target,
)

log = logging.getLogger(__name__)

INTERRUPTED = "interrupted: the process running this deployment stopped before it ended"
_UNDOING = frozenset({State.CLEANING_UP, State.ROLLING_BACK})


@dataclass(frozen=True)
class Submitted:
    """What came of a request: the deployment it became, or why there was nothing to do."""

    deployment: Deployment | None
    view: View | None
    notes: tuple[str, ...] = ()  # deployments recovered first; why nothing was done


@dataclass
class Engine:
    store: Store
    target: Target
    health: HealthProbe
    clock: Clock
    leases: Leases
    new_id: Callable[[datetime], str]
    backups: Backups
    hooks: Sequence[Hook] = field(default_factory=tuple)
    # The digest of the config and the files it names as they are now (re-read): approvals are
    # void if it changed while they were given. None: the plan's digest is taken as current.
    content_now: Callable[[], str] | None = None
    # The security step's gates; None: a deploy goes from validating straight on.
    security: SecurityGates | None = None
    metrics: Metrics | None = None  # where metric analysis reads its figures

    # --- requests -------------------------------------------------------------------------

    def submit(self, *, plan: EnvironmentPlan, request: Request, wait: bool = True) -> Submitted:
        """Recover what killed processes left, then record and run ``request`` start to end.

        With ``wait=False`` a deploy returns as soon as its gate waits for people, in state
        ``awaiting_approval``; ``resume`` continues it once they decided.
        """
        if request.environment != plan.environment:
            raise UsageError(f"the request is for {request.environment}, the plan for {plan.environment}")
        notes = tuple(f"recovered interrupted deployment {i}" for i in self.recover(plan=plan))
        now = self.clock.now()
        deployment_id = self.new_id(now)
        with self.leases.held(service=plan.service, environment=plan.environment, deployment_id=deployment_id) as lease:
            seam = self._seam(lease)
            state = seam.inspect(environment=plan.environment)
            recorded = self.store.live(service=plan.service, environment=plan.environment)
            nothing = _nothing_to_do(plan, request, state, recorded)
            if nothing:
                return Submitted(None, None, (*notes, nothing))
            d = self._deployment(plan, request, deployment_id, now, state, recorded)
            self._supersede(plan, deployment_id)
            first = [events.requested(now, d.route)]
            found = drift(recorded, state)
            if found and not d.route.reconcile_first and request.kind is not Kind.RECONCILE:
                first.append(Event("warning", now, {"message": f"{found.message}; going on from what runs"}))
            self.store.create(deployment=d, events=first)
            for event in first:
                self._emit(d, event)
            view = self._drive(d, plan, lease)
        if view.state is State.AWAITING_APPROVAL and wait:
            view = self._wait_and_drive(d, plan)
        return Submitted(d, view, notes)

    def resume(self, *, plan: EnvironmentPlan, deployment_id: str) -> View:
        """Wait for the people at a deployment's gate, then run the rest of it."""
        d = self.store.get(deployment_id=deployment_id).deployment
        if (d.service, d.environment) != (plan.service, plan.environment):
            raise UsageError(
                f"deployment {d.id} is for {d.service}/{d.environment}, not {plan.service}/{plan.environment}",
                hint="run `resume` with that service's deployment_config.yaml",
            )
        self.recover(plan=plan)
        return self._wait_and_drive(d, plan)

    def _wait_and_drive(self, d: Deployment, plan: EnvironmentPlan) -> View:
        shown: tuple[tuple[str, ...], datetime] | None = None  # who had approved, and when it was said
        while True:
            events_now = self.store.events(deployment_id=d.id)
            view = fold(events_now)
            now = self.clock.now()
            tally = approvals.tally(events_now, now)
            if view.state is not State.AWAITING_APPROVAL or tally.status is not GateStatus.PENDING:
                break
            # Say where the gate stands when someone approves, and otherwise once a minute.
            if shown is None or shown[0] != tally.approved_by or now - shown[1] >= gate.PROGRESS_EVERY:
                self._emit(d, Event("progress", now, {"message": gate.waiting_line(tally, now)}))
                shown = (tally.approved_by, now)
            self.clock.sleep(gate.POLL_SECONDS)
        if view.state.terminal:
            return view
        with self.leases.held(service=d.service, environment=d.environment, deployment_id=d.id) as lease:
            view = fold(self.store.events(deployment_id=d.id))
            # Anything but the gate means a process that ran it died (the lease was free).
            return self._drive(d, plan, lease, interrupted=view.state is not State.AWAITING_APPROVAL)

    def previous_good_version(self, plan: EnvironmentPlan, live_version: str | None) -> str:
        for summary in self.store.history(service=plan.service, environment=plan.environment, limit=200):
            d = summary.deployment
            if summary.state is State.SUCCEEDED and d.kind is not Kind.STOP and d.version != live_version:
                return d.version
        raise NotFoundError(
            f"no earlier good version of {plan.service}/{plan.environment} to roll back to",
            hint="name one with --to VERSION",
        )

    def _deployment(
        self,
        plan: EnvironmentPlan,
        request: Request,
        deployment_id: str,
        now: datetime,
        state: EnvironmentState,
        recorded: LiveRelease | None,
    ) -> Deployment:
        """The facts of the deployment, fixed now, under the lease, from what the target runs."""
        kind = request.kind
        version = self._version(plan, request, state, recorded)
        # A deploy that finds nothing live although the record says a version is brings that
        # version back first: the new one then has a warm color to return to.
        reconcile_first = (
            kind is Kind.DEPLOY
            and state.live_color is None
            and recorded is not None
            and recorded.color is not None
            and recorded.version is not None
        )
        old_color: Color | None
        if reconcile_first:
            assert recorded is not None and recorded.color is not None
            old_color, previous_version = recorded.color, recorded.version
            new_color = recorded.color.other
        else:
            old_color, previous_version = state.live_color, state.live_version
            new_color = _color_for(kind, state, version, recorded)
        return Deployment(
            id=deployment_id,
            service=plan.service,
            environment=plan.environment,
            version=version,
            previous_version=previous_version,
            new_color=new_color,
            old_color=old_color,
            created_at=now,
            kind=kind,
            requested_by=self.leases.me.person,
            reason=request.reason or _default_reason(kind, version),
            git_ref=request.git_ref,
            git_sha=request.git_sha,
            actor=request.actor,
            run_url=request.run_url,
            from_backup=request.backup,
            critical=request.critical,
            route=route_for(
                kind,
                needs_approval=plan.approval.needs_gate(critical=request.critical),
                reconcile_first=reconcile_first,
                restore_database=_restores_database(plan, request),
                security=self.security is not None,
                canary=plan.canary is not None,
            ),
        )

    def _version(
        self, plan: EnvironmentPlan, request: Request, state: EnvironmentState, recorded: LiveRelease | None
    ) -> str:
        kind = request.kind
        if kind is Kind.STOP:
            return ""
        if kind is Kind.RECONCILE:
            assert recorded is not None and recorded.version is not None  # _nothing_to_do said so
            return recorded.version
        if kind is Kind.ROLLBACK:
            version = request.version or self.previous_good_version(plan, state.live_version)
            if version == state.live_version:
                raise UsageError(
                    f"{plan.service}/{plan.environment} already runs {version}", hint="name another with --to"
                )
            return version
        if not request.version:
            raise UsageError(f"a {kind.value} needs a version")
        if kind is Kind.RESTORE and not request.backup:
            raise UsageError("a restore needs the backup it returns to", hint="arxdeploy backup restore ID")
        return request.version

    def _supersede(self, plan: EnvironmentPlan, by: str) -> None:
        """A new request replaces deployments still waiting for approval: theirs would be stale."""
        for summary in self.store.unfinished(service=plan.service, environment=plan.environment):
            if summary.state is State.AWAITING_APPROVAL:
                view = fold(self.store.events(deployment_id=summary.deployment.id))
                reason = f"superseded by deployment {by}, requested while this one waited for approval"
                self._conclude(summary.deployment, view, Outcome.REJECTED, {"reason": reason})

    # --- recovery -------------------------------------------------------------------------

    def recover(self, *, plan: EnvironmentPlan) -> list[str]:
        """Finish deployments of this environment whose process died; returns their ids.

        Raises LockedError when one of them is still being run by a live process.
        """
        recovered = []
        for summary in self.store.unfinished(service=plan.service, environment=plan.environment):
            d = summary.deployment
            waiting = summary.state is State.AWAITING_APPROVAL
            if waiting and self._parked(d):
                continue  # waits for people, not for a process: not abandoned
            with self.leases.held(service=d.service, environment=d.environment, deployment_id=d.id) as lease:
                # A gate that was rejected or expired only records how it ended.
                self._drive(d, plan, lease, interrupted=not waiting)
            recovered.append(d.id)
        return recovered

    def _parked(self, d: Deployment) -> bool:
        status = approvals.tally(self.store.events(deployment_id=d.id), self.clock.now()).status
        return status in (GateStatus.NOT_ASKED, GateStatus.PENDING, GateStatus.APPROVED)

    # --- the loop -------------------------------------------------------------------------

    def _drive(self, d: Deployment, plan: EnvironmentPlan, lease: Lease, *, interrupted: bool = False) -> View:
        view = fold(self.store.events(deployment_id=d.id))
        d = events.as_recorded(d, view)
        if interrupted and not view.state.terminal:
            self._conclude(d, view, Outcome.INTERRUPTED, {"reason": INTERRUPTED})
            view = fold(self.store.events(deployment_id=d.id))
        while not view.state.terminal:
            lease.check(undoing=True)  # someone else took the lease: they own it now
            if view.state is State.AWAITING_APPROVAL:
                log_now = self.store.events(deployment_id=d.id)
                decided = gate.run_gate(
                    d, plan, log_now, self.clock.now(), lambda batch: self._append(d, batch), self.content_now
                )
                if decided is None:
                    return fold(self.store.events(deployment_id=d.id))  # parked: people decide
                self._conclude(d, view, *decided)
            elif view.state is State.REQUESTED:
                self._conclude(d, view, Outcome.OK, {})
            else:
                outcome, data = self._run_step(d, plan, view.state, lease)
                self._conclude(d, view, outcome, data)
            view = fold(self.store.events(deployment_id=d.id))
        # Ended by another process that took the lease over: it is not this process's outcome.
        lease.check(undoing=True)
        return view

    def _run_step(
        self, d: Deployment, plan: EnvironmentPlan, state: State, lease: Lease
    ) -> tuple[Outcome, dict[str, object]]:
        step = STEP_OF[state]
        undoing = state in _UNDOING

        def progress(message: str) -> None:
            self._emit(d, Event("progress", self.clock.now(), {"message": message}))

        ctx = StepContext(
            deployment=d,
            plan=plan,
            target=self._seam(lease, undoing=undoing, progress=progress),
            backups=self.backups,
            health=self.health,
            clock=self.clock,
            record=lambda event: self._append(d, [event]),
            recorded=lambda: self.store.events(deployment_id=d.id),
            progress=progress,
            lease=lease,
            undoing=undoing,
            security=self.security,
            metrics=self.metrics,
        )
        try:
            return Outcome.OK, {"detail": STEPS[step](ctx)}
        except LeaseLostError as exc:
            if exc.taken:
                raise  # the process that took the lease owns the deployment: record nothing more
            return Outcome.FAILED, {"reason": exc.message}
        except StepFailed as exc:
            return Outcome.FAILED, {"reason": exc.message, "check": exc.check, "answer": exc.answer}
        except ApprovalError as exc:
            return Outcome.REJECTED, {"reason": exc.message}
        except ArxdeployError as exc:
            return Outcome.FAILED, {"reason": exc.message}
        except Exception as exc:
            log.exception("step %s of %s failed unexpectedly", step, d.id)
            return Outcome.FAILED, {"reason": f"internal error in {step.value}: {type(exc).__name__}: {exc}"}

    def _seam(
        self, lease: Lease | None, *, undoing: bool = False, progress: Callable[[str], None] | None = None
    ) -> TargetSeam:
        return TargetSeam(
            self.target, self.clock, lease=lease, undoing=undoing, progress=progress or (lambda message: None)
        )

    def _conclude(self, d: Deployment, view: View, outcome: Outcome, data: dict[str, object]) -> None:
        now = self.clock.now()
        step = STEP_OF.get(view.state)
        following = next_state(view.state, outcome, d.route)
        batch: list[Event] = []
        if step is not None:
            clean = {k: v for k, v in data.items() if v is not None}
            batch.append(events.step_ended(step.value, outcome.value, view.entered_at or now, now, **clean))
        batch.append(events.entered(following, now))
        self._append(d, batch)

    def _append(self, d: Deployment, batch: list[Event]) -> None:
        self.store.append(deployment_id=d.id, events=batch)
        for event in batch:
            self._emit(d, event)

    def _emit(self, d: Deployment, event: Event) -> None:
        emit(self.hooks, d, [event])


def _nothing_to_do(
    plan: EnvironmentPlan, request: Request, state: EnvironmentState, recorded: LiveRelease | None
) -> str | None:
    """Why the request has nothing to act on (and so records nothing), or None."""
    env = plan.environment
    if request.kind is Kind.STOP and state.live_color is None and not state.colors:
        return f"nothing runs in {env}: nothing to stop"
    if request.kind is Kind.RECONCILE:
        found = drift(recorded, state)
        if found is None:
            return f"{env} runs what the record says is live: nothing to reconcile"
        if found.recorded_version is None:
            raise UsageError(f"{found.message}: reconcile has no version to bring back", hint=found.fix)
    return None


def _restores_database(plan: EnvironmentPlan, request: Request) -> bool:
    """Whether the deployment puts the database back too: a restore when asked; a rollback when
    the environment asks for it (``restore_database_on_rollback``); nothing else, ever."""
    if request.with_database:
        if request.kind is not Kind.RESTORE:
            raise UsageError(f"a {request.kind.value} never restores the database; only `backup restore` can")
        if not plan.database:
            raise UsageError(
                "no database to restore: backup.database is not in the config",
                hint="add backup.database with its backup_script and restore_script",
            )
        return True
    return request.kind is Kind.ROLLBACK and plan.database and plan.restore_database_on_rollback


def _color_for(kind: Kind, state: EnvironmentState, version: str, recorded: LiveRelease | None) -> Color:
    live = state.live_color
    if kind is Kind.STOP:
        return live or Color.BLUE
    if live is not None:
        return live.other
    # Nothing live: the color the record says ran it, else one already running it (warm), else blue.
    if kind is Kind.RECONCILE and recorded is not None and recorded.color is not None:
        return recorded.color
    return _running(state.colors, version) or Color.BLUE


def _running(colors: dict[Color, ColorState], version: str) -> Color | None:
    return next((color for color, state in colors.items() if state.version == version), None)


def _default_reason(kind: Kind, version: str) -> str:
    return {
        Kind.ROLLBACK: f"manual rollback to {version}",
        Kind.RECONCILE: f"reconcile: back to {version}, the live version in the record",
        Kind.STOP: "stopped by hand",
    }.get(kind, "")
