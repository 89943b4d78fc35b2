"""The decision core: given the state and what just happened, the next state.

Pure and total: every (state, outcome) pair has an answer, so a random sequence of
failures always reaches a terminal state. Each kind of deployment has its route:

    deploy     validating → [reconciling] → [awaiting_approval] → backing_up → deploying
               → verifying → switching → monitoring → finalizing → succeeded
    rollback,  validating → backing_up → deploying → verifying → [restoring_database]
    restore,     → switching → finalizing → succeeded
    reconcile                           (back to a version that ran before: no gate, no window;
                                         the database only when asked, never on a reconcile)
    stop       validating → backing_up → stopping → succeeded
    canary     a deploy whose strategy is a canary: verifying → progressing (the canary's steps:
               weights, pauses, analyses) → switching → monitoring → finalizing; a failure while
               progressing sends the traffic back (rolling_back), as after a switch
"""

from __future__ import annotations

from dataclasses import dataclass

from arxdeploy.domain.states import Kind, Outcome, State

# Before traffic moves nothing live has changed: failures clean up the new color.
_PRE_SWITCH_CHANGING = frozenset(
    {State.RECONCILING, State.BACKING_UP, State.DEPLOYING, State.VERIFYING, State.RESTORING_DATABASE}
)
# From the switch on, traffic may be on the new color: failures send it back.
_POST_SWITCH = frozenset({State.SWITCHING, State.MONITORING, State.FINALIZING})
# A canary's new color takes a share of the traffic before the switch: failures send it back too.
_SHARING = frozenset({State.PROGRESSING})
# Undo steps and the stop: idempotent, so an interrupted one runs again.
_RERUN_WHEN_INTERRUPTED = frozenset({State.CLEANING_UP, State.ROLLING_BACK, State.STOPPING})


@dataclass(frozen=True)
class Route:
    """The shape of one deployment's path, fixed when it is requested (``route_for``)."""

    needs_approval: bool = False
    monitor: bool = True  # rollbacks, restores and reconciles skip the monitoring window
    reconcile_first: bool = False  # nothing was live although the record says so: bring it back first
    stop: bool = False  # take the environment off the air instead of starting a version
    # A restore or rollback puts the database back from a dump too, between the checks and the
    # switch (``backup restore --with-database``; a rollback where the environment asks for it).
    restore_database: bool = False
    # A deploy whose strategy is a canary: between the checks and the switch, the new color takes
    # a growing share of the traffic (``progressing``), step by step.
    canary: bool = False


def route_for(
    kind: Kind,
    *,
    needs_approval: bool = False,
    reconcile_first: bool = False,
    restore_database: bool = False,
    canary: bool = False,
) -> Route:
    if kind is Kind.STOP:
        return Route(monitor=False, stop=True)
    if kind is Kind.DEPLOY:
        return Route(needs_approval=needs_approval, reconcile_first=reconcile_first, canary=canary)
    # Back to a version that already ran and passed: it never waits for people. Its data only
    # comes back when asked; a reconcile brings back what the record says runs, never data.
    return Route(monitor=False, restore_database=restore_database and kind in (Kind.RESTORE, Kind.ROLLBACK))


def next_state(state: State, outcome: Outcome, route: Route) -> State:
    """The state a deployment enters after ``outcome`` in ``state``."""
    if state.terminal:
        return state
    if outcome is Outcome.OK:
        return _after_success(state, route)
    if state is State.AWAITING_APPROVAL and outcome in (Outcome.REJECTED, Outcome.EXPIRED):
        return State.REJECTED if outcome is Outcome.REJECTED else State.EXPIRED
    # A failure, an interruption, or an answer that makes no sense in this state.
    if state in (State.REQUESTED, State.VALIDATING, State.AWAITING_APPROVAL):
        return State.FAILED
    if route.stop and state is State.BACKING_UP:
        return State.FAILED  # a stop changed nothing before it stops
    if state in _PRE_SWITCH_CHANGING:
        return State.CLEANING_UP
    if state in _POST_SWITCH or state in _SHARING:
        return State.ROLLING_BACK
    if state in _RERUN_WHEN_INTERRUPTED:
        # An interrupted undo (or stop) is run again; a failed one ends the deployment.
        return state if outcome is Outcome.INTERRUPTED else State.FAILED
    raise AssertionError(f"unhandled state {state}")  # pragma: no cover


def _after_success(state: State, route: Route) -> State:
    if state is State.REQUESTED:
        return State.VALIDATING
    if state is State.VALIDATING and route.reconcile_first:
        return State.RECONCILING
    if state in (State.VALIDATING, State.RECONCILING):
        return State.AWAITING_APPROVAL if route.needs_approval else State.BACKING_UP
    if state is State.BACKING_UP:
        return State.STOPPING if route.stop else State.DEPLOYING
    if state is State.VERIFYING and route.canary:
        return State.PROGRESSING
    if state is State.VERIFYING:
        return State.RESTORING_DATABASE if route.restore_database else State.SWITCHING
    if state is State.SWITCHING:
        return State.MONITORING if route.monitor else State.FINALIZING
    return _HAPPY[state]


_HAPPY: dict[State, State] = {
    State.AWAITING_APPROVAL: State.BACKING_UP,
    State.DEPLOYING: State.VERIFYING,
    State.RESTORING_DATABASE: State.SWITCHING,
    State.PROGRESSING: State.SWITCHING,
    State.MONITORING: State.FINALIZING,
    State.FINALIZING: State.SUCCEEDED,
    State.STOPPING: State.SUCCEEDED,
    State.CLEANING_UP: State.FAILED,
    State.ROLLING_BACK: State.ROLLED_BACK,
}
