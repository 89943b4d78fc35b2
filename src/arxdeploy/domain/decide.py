"""The decision core: given the state and what just happened, the next state.

Pure and total: every (state, outcome) pair has an answer, so a random sequence of
failures always reaches a terminal state.
"""

from __future__ import annotations

from dataclasses import dataclass

from arxdeploy.domain.states import Outcome, State

# Before traffic moves nothing live has changed: failures clean up the new color.
_PRE_SWITCH_CHANGING = frozenset({State.BACKING_UP, State.DEPLOYING, State.VERIFYING})
# From the switch on, traffic may be on the new color: failures send it back.
_POST_SWITCH = frozenset({State.SWITCHING, State.MONITORING, State.FINALIZING})


@dataclass(frozen=True)
class Route:
    """The shape of one deployment's path, fixed when it is requested."""

    needs_approval: bool = False
    monitor: bool = True  # manual rollbacks skip the monitoring window


_HAPPY: dict[State, State] = {
    State.VALIDATING: State.BACKING_UP,
    State.BACKING_UP: State.DEPLOYING,
    State.DEPLOYING: State.VERIFYING,
    State.VERIFYING: State.SWITCHING,
    State.MONITORING: State.FINALIZING,
    State.FINALIZING: State.SUCCEEDED,
    State.CLEANING_UP: State.FAILED,
    State.ROLLING_BACK: State.ROLLED_BACK,
}


def next_state(state: State, outcome: Outcome, route: Route) -> State:
    """The state a deployment enters after ``outcome`` in ``state``."""
    if state.terminal:
        return state
    if state is State.REQUESTED:
        return State.VALIDATING
    if outcome is Outcome.OK:
        if state is State.VALIDATING and route.needs_approval:
            return State.AWAITING_APPROVAL
        if state is State.AWAITING_APPROVAL:
            return State.BACKING_UP
        if state is State.SWITCHING:
            return State.MONITORING if route.monitor else State.FINALIZING
        return _HAPPY[state]
    if state is State.AWAITING_APPROVAL and outcome in (Outcome.REJECTED, Outcome.EXPIRED):
        return State.REJECTED if outcome is Outcome.REJECTED else State.EXPIRED
    # A failure, an interruption, or an answer that makes no sense in this state.
    if state in (State.VALIDATING, State.AWAITING_APPROVAL):
        return State.FAILED
    if state in _PRE_SWITCH_CHANGING:
        return State.CLEANING_UP
    if state in _POST_SWITCH:
        return State.ROLLING_BACK
    if state in (State.CLEANING_UP, State.ROLLING_BACK):
        # An interrupted undo is run again (it is idempotent); a failed one ends the deployment.
        return state if outcome is Outcome.INTERRUPTED else State.FAILED
    raise AssertionError(f"unhandled state {state}")  # pragma: no cover
