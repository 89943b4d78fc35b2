"""The engine: requests deployments, drives them step by step, recovers abandoned ones.

The decision core (``domain.decide``) says which state comes next; the engine runs the step
for the current state, records the outcome, and repeats until a terminal state. Because the
state is a fold over the log, recovering after a crash is reading the log and treating the
step that was running as interrupted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from arxdeploy.domain import approvals, events
from arxdeploy.domain.approvals import GateStatus
from arxdeploy.domain.decide import Route, next_state
from arxdeploy.domain.events import Deployment, Event, View, fold
from arxdeploy.domain.plan import EnvironmentPlan
from arxdeploy.domain.states import STEP_OF, Color, Kind, Outcome, State
from arxdeploy.engine import gate
from arxdeploy.engine.context import StepContext
from arxdeploy.engine.hooks import emit
from arxdeploy.engine.locks import Leases
from arxdeploy.engine.steps import STEPS
from arxdeploy.engine.watch import Watcher
from arxdeploy.errors import ApprovalError, ArxdeployError, NotFoundError, StepFailed, UsageError
from arxdeploy.ports import Clock, ColorState, HealthProbe, Hook, Store, Target

log = logging.getLogger(__name__)

INTERRUPTED = "interrupted: the process running this deployment stopped before it ended"


@dataclass
class Engine:
    store: Store
    target: Target
    health: HealthProbe
    clock: Clock
    leases: Leases
    new_id: Callable[[datetime], str]
    hooks: Sequence[Hook] = field(default_factory=tuple)

    # --- requests -------------------------------------------------------------------------

    def deploy(
        self,
        *,
        plan: EnvironmentPlan,
        version: str,
        reason: str = "",
        critical: bool = False,
        git_ref: str | None = None,
        git_sha: str | None = None,
        actor: str | None = None,
        run_url: str | None = None,
        wait: bool = True,
    ) -> tuple[Deployment, View]:
        """Run one deployment of ``version`` to the plan's environment, start to end.

        With ``wait=False`` it returns as soon as its gate waits for people, in state
        ``awaiting_approval``; ``resume`` continues it once they decided.
        """
        self.recover(plan=plan)
        d, view = self._request(
            plan,
            version,
            Kind.DEPLOY,
            reason=reason,
            critical=critical,
            git_ref=git_ref,
            git_sha=git_sha,
            actor=actor,
            run_url=run_url,
        )
        if view.state is State.AWAITING_APPROVAL and wait:
            view = self.resume(plan=plan, deployment_id=d.id)
        return d, view

    def resume(self, *, plan: EnvironmentPlan, deployment_id: str) -> View:
        """Wait for the people at a deployment's gate, then run the rest of it."""
        d = self.store.get(deployment_id=deployment_id).deployment
        if (d.service, d.environment) != (plan.service, plan.environment):
            raise UsageError(
                f"deployment {d.id} is for {d.service}/{d.environment}, not {plan.service}/{plan.environment}",
                hint="run `resume` with that service's deployment_config.yaml",
            )
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
        with self.leases.held(service=d.service, environment=d.environment, deployment_id=d.id):
            view = fold(self.store.events(deployment_id=d.id))
            # Anything but the gate means a process that ran it died (the lease was free).
            return self._drive(d, plan, interrupted=view.state is not State.AWAITING_APPROVAL)

    def rollback(self, *, plan: EnvironmentPlan, to_version: str | None, reason: str = "") -> tuple[Deployment, View]:
        """Return the environment to ``to_version`` (default: the previous good version)."""
        self.recover(plan=plan)
        live = self.target.inspect(environment=plan.environment)
        version = to_version or self.previous_good_version(plan, live.live_version)
        if version == live.live_version:
            raise UsageError(f"{plan.service}/{plan.environment} already runs {version}", hint="name another with --to")
        return self._request(plan, version, Kind.ROLLBACK, reason=reason or f"manual rollback to {version}")

    def previous_good_version(self, plan: EnvironmentPlan, live_version: str | None) -> str:
        for summary in self.store.history(service=plan.service, environment=plan.environment, limit=200):
            d = summary.deployment
            if summary.state is State.SUCCEEDED and d.kind is not Kind.STOP and d.version != live_version:
                return d.version
        raise NotFoundError(
            f"no earlier good version of {plan.service}/{plan.environment} to roll back to",
            hint="name one with --to VERSION",
        )

    def _request(
        self,
        plan: EnvironmentPlan,
        version: str,
        kind: Kind,
        *,
        reason: str,
        critical: bool = False,
        git_ref: str | None = None,
        git_sha: str | None = None,
        actor: str | None = None,
        run_url: str | None = None,
    ) -> tuple[Deployment, View]:
        """Record and run a deployment; the caller has recovered abandoned ones first."""
        now = self.clock.now()
        deployment_id = self.new_id(now)
        with self.leases.held(service=plan.service, environment=plan.environment, deployment_id=deployment_id):
            self._supersede(plan, deployment_id)
            state = self.target.inspect(environment=plan.environment)
            new_color = _color_for(state.live_color, version, state.colors)
            deployment = Deployment(
                id=deployment_id,
                service=plan.service,
                environment=plan.environment,
                version=version,
                previous_version=state.live_version,
                new_color=new_color,
                old_color=state.live_color,
                created_at=now,
                kind=kind,
                requested_by=self.leases.me.person,
                reason=reason,
                git_ref=git_ref,
                git_sha=git_sha,
                actor=actor,
                run_url=run_url,
                critical=critical,
                # Rollbacks return to a version that already passed: they never wait for people.
                route=Route(
                    needs_approval=kind is Kind.DEPLOY and plan.approval.needs_gate(critical=critical),
                    monitor=kind is Kind.DEPLOY,
                ),
            )
            first = events.entered(State.REQUESTED, now)
            self.store.create(deployment=deployment, events=[first])
            self._emit(deployment, first)
            return deployment, self._drive(deployment, plan)

    def stop(self, *, plan: EnvironmentPlan, reason: str = "") -> tuple[Deployment, View]:
        """Take the environment off the air, recorded so that nothing restores it."""
        self.recover(plan=plan)
        now = self.clock.now()
        deployment_id = self.new_id(now)
        with self.leases.held(service=plan.service, environment=plan.environment, deployment_id=deployment_id):
            self._supersede(plan, deployment_id)
            state = self.target.inspect(environment=plan.environment)
            d = Deployment(
                id=deployment_id,
                service=plan.service,
                environment=plan.environment,
                version="",
                previous_version=state.live_version,
                new_color=state.live_color or Color.BLUE,
                old_color=state.live_color,
                created_at=now,
                kind=Kind.STOP,
                requested_by=self.leases.me.person,
                reason=reason or "stopped by hand",
            )
            first = events.entered(State.REQUESTED, now)
            self.store.create(deployment=d, events=[first])
            self._emit(d, first)
            try:
                self.target.switch(environment=plan.environment, color=None)
                self._append(d, [events.switched(None, None, self.clock.now())])
                for color in state.colors:
                    self.target.stop_color(environment=plan.environment, color=color, drain_timeout=plan.drain_timeout)
            except ArxdeployError as exc:
                self._finish_stop(d, now, Outcome.FAILED, exc.message)
            else:
                self._finish_stop(
                    d, now, Outcome.OK, f"stopped {', '.join(c.value for c in state.colors) or 'nothing'}"
                )
            return d, fold(self.store.events(deployment_id=d.id))

    def _finish_stop(self, d: Deployment, started: datetime, outcome: Outcome, detail: str) -> None:
        key = "detail" if outcome is Outcome.OK else "reason"
        end = State.SUCCEEDED if outcome is Outcome.OK else State.FAILED
        now = self.clock.now()
        self._append(
            d, [events.step_ended("stop", outcome.value, started, now, **{key: detail}), events.entered(end, now)]
        )

    # --- recovery -------------------------------------------------------------------------

    def recover(self, *, plan: EnvironmentPlan) -> list[str]:
        """Finish deployments of this environment whose process died; returns their ids.

        Raises LockedError when one of them is still being run by a live process.
        """
        recovered = []
        for summary in self.store.unfinished(service=plan.service, environment=plan.environment):
            d = summary.deployment
            if summary.state is State.AWAITING_APPROVAL:
                if self._parked(d):
                    continue  # waits for people, not for a process: not abandoned
                with self.leases.held(service=d.service, environment=d.environment, deployment_id=d.id):
                    self._drive(d, plan)  # rejected or expired: record how it ended
                recovered.append(d.id)
                continue
            with self.leases.held(service=d.service, environment=d.environment, deployment_id=d.id):
                self._drive(d, plan, interrupted=True)
            recovered.append(d.id)
        return recovered

    def _parked(self, d: Deployment) -> bool:
        status = approvals.tally(self.store.events(deployment_id=d.id), self.clock.now()).status
        return status in (GateStatus.NOT_ASKED, GateStatus.PENDING, GateStatus.APPROVED)

    def _supersede(self, plan: EnvironmentPlan, by: str) -> None:
        """A new request replaces deployments still waiting for approval: theirs would be stale."""
        for summary in self.store.unfinished(service=plan.service, environment=plan.environment):
            if summary.state is State.AWAITING_APPROVAL:
                view = fold(self.store.events(deployment_id=summary.deployment.id))
                reason = f"superseded by deployment {by}, requested while this one waited for approval"
                self._conclude(summary.deployment, view, Outcome.REJECTED, {"reason": reason})

    def restore(self, *, plan: EnvironmentPlan) -> str | None:
        """Bring the environment back to its recorded live version if the target lost it.

        Returns what was done, or None when the target already matches the record.
        """
        live = self.store.live(service=plan.service, environment=plan.environment)
        if live is None or live.color is None or live.version is None:
            return None
        state = self.target.inspect(environment=plan.environment)
        running = state.colors.get(live.color)
        if state.live_color is live.color and running is not None and running.version == live.version:
            return None
        with self.leases.held(
            service=plan.service, environment=plan.environment, deployment_id=f"restore-{live.deployment_id}"
        ):
            self.target.start_color(
                environment=plan.environment, color=live.color, version=live.version, replicas=plan.replicas
            )
            watcher = Watcher(self.target, self.health, self.clock, plan.checks, plan.environment)
            watcher.ready(live.color, deadline=plan.rollback_timeout, progress=lambda m: log.info("restore: %s", m))
            self.target.switch(environment=plan.environment, color=live.color)
        return f"restored {live.version} on {live.color.value}"

    # --- the loop -------------------------------------------------------------------------

    def _drive(self, d: Deployment, plan: EnvironmentPlan, *, interrupted: bool = False) -> View:
        view = fold(self.store.events(deployment_id=d.id))
        if interrupted and not view.state.terminal and d.kind is Kind.STOP:
            self._finish_stop(d, view.entered_at or self.clock.now(), Outcome.INTERRUPTED, INTERRUPTED)
            return fold(self.store.events(deployment_id=d.id))
        if interrupted and not view.state.terminal:
            self._conclude(d, view, Outcome.INTERRUPTED, {"reason": INTERRUPTED})
            view = fold(self.store.events(deployment_id=d.id))
        while not view.state.terminal:
            if view.state is State.REQUESTED:
                self._append(d, [events.entered(State.VALIDATING, self.clock.now())])
            elif view.state is State.AWAITING_APPROVAL:
                log_now = self.store.events(deployment_id=d.id)
                decided = gate.run_gate(d, plan, log_now, self.clock.now(), lambda batch: self._append(d, batch))
                if decided is None:
                    return fold(self.store.events(deployment_id=d.id))  # parked: people decide
                self._conclude(d, view, *decided)
            else:
                outcome, data = self._run_step(d, plan, view.state)
                self._conclude(d, view, outcome, data)
            view = fold(self.store.events(deployment_id=d.id))
        return view

    def _run_step(self, d: Deployment, plan: EnvironmentPlan, state: State) -> tuple[Outcome, dict[str, object]]:
        step = STEP_OF[state]
        ctx = StepContext(
            deployment=d,
            plan=plan,
            target=self.target,
            health=self.health,
            clock=self.clock,
            record=lambda event: self._append(d, [event]),
            progress=lambda message: self._emit(d, Event("progress", self.clock.now(), {"message": message})),
        )
        try:
            return Outcome.OK, {"detail": STEPS[step](ctx)}
        except StepFailed as exc:
            return Outcome.FAILED, {"reason": exc.message, "check": exc.check, "answer": exc.answer}
        except ApprovalError as exc:
            return Outcome.REJECTED, {"reason": exc.message}
        except ArxdeployError as exc:
            return Outcome.FAILED, {"reason": exc.message}
        except Exception as exc:
            log.exception("step %s of %s failed unexpectedly", step, d.id)
            return Outcome.FAILED, {"reason": f"internal error in {step.value}: {type(exc).__name__}: {exc}"}

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


def _color_for(live: Color | None, version: str, colors: dict[Color, ColorState]) -> Color:
    if live is None:
        # Nothing live: reuse a color already running this version (a warm restore), else blue.
        return next((color for color, state in colors.items() if state.version == version), Color.BLUE)
    return live.other
