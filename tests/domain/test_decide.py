"""Every transition of the decision core, as a table."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arxdeploy.domain.decide import Route, next_state, route_for
from arxdeploy.domain.states import STEP_OF, TERMINAL, Kind, Outcome, State

S, O = State, Outcome  # noqa: E741 - short names keep the table readable
PLAIN = Route()
GATED = Route(needs_approval=True)
NO_MONITOR = Route(monitor=False)
WITH_DATA = Route(monitor=False, restore_database=True)  # a restore --with-database, or a rollback asked to
CANARY = Route(canary=True)

TABLE = [
    # happy path
    (S.REQUESTED, O.OK, PLAIN, S.VALIDATING),
    (S.VALIDATING, O.OK, PLAIN, S.BACKING_UP),
    (S.VALIDATING, O.OK, GATED, S.AWAITING_APPROVAL),
    (S.AWAITING_APPROVAL, O.OK, GATED, S.BACKING_UP),
    (S.BACKING_UP, O.OK, PLAIN, S.DEPLOYING),
    (S.DEPLOYING, O.OK, PLAIN, S.VERIFYING),
    (S.VERIFYING, O.OK, PLAIN, S.SWITCHING),
    (S.VERIFYING, O.OK, WITH_DATA, S.RESTORING_DATABASE),
    (S.RESTORING_DATABASE, O.OK, WITH_DATA, S.SWITCHING),
    (S.SWITCHING, O.OK, WITH_DATA, S.FINALIZING),
    (S.SWITCHING, O.OK, PLAIN, S.MONITORING),
    (S.SWITCHING, O.OK, NO_MONITOR, S.FINALIZING),
    (S.MONITORING, O.OK, PLAIN, S.FINALIZING),
    (S.FINALIZING, O.OK, PLAIN, S.SUCCEEDED),
    (S.CLEANING_UP, O.OK, PLAIN, S.FAILED),
    (S.ROLLING_BACK, O.OK, PLAIN, S.ROLLED_BACK),
    # the gate's answers
    (S.AWAITING_APPROVAL, O.REJECTED, GATED, S.REJECTED),
    (S.AWAITING_APPROVAL, O.EXPIRED, GATED, S.EXPIRED),
    (S.AWAITING_APPROVAL, O.FAILED, GATED, S.FAILED),
    (S.AWAITING_APPROVAL, O.INTERRUPTED, GATED, S.FAILED),
    # nothing changed yet: straight to failed
    (S.VALIDATING, O.FAILED, PLAIN, S.FAILED),
    (S.VALIDATING, O.INTERRUPTED, PLAIN, S.FAILED),
    # the new color may exist: clean it up
    (S.BACKING_UP, O.FAILED, PLAIN, S.CLEANING_UP),
    (S.DEPLOYING, O.FAILED, PLAIN, S.CLEANING_UP),
    (S.VERIFYING, O.FAILED, PLAIN, S.CLEANING_UP),
    (S.VERIFYING, O.INTERRUPTED, PLAIN, S.CLEANING_UP),
    (S.DEPLOYING, O.REJECTED, PLAIN, S.CLEANING_UP),
    # the database restore comes before the switch: what was live still is
    (S.RESTORING_DATABASE, O.FAILED, WITH_DATA, S.CLEANING_UP),
    (S.RESTORING_DATABASE, O.INTERRUPTED, WITH_DATA, S.CLEANING_UP),
    # traffic may have moved: send it back
    (S.SWITCHING, O.FAILED, PLAIN, S.ROLLING_BACK),
    (S.SWITCHING, O.INTERRUPTED, PLAIN, S.ROLLING_BACK),
    (S.MONITORING, O.FAILED, PLAIN, S.ROLLING_BACK),
    (S.MONITORING, O.INTERRUPTED, PLAIN, S.ROLLING_BACK),
    (S.FINALIZING, O.FAILED, PLAIN, S.ROLLING_BACK),
    # a canary: its steps between the checks and the switch; traffic is shared, so failures send it back
    (S.VERIFYING, O.OK, CANARY, S.PROGRESSING),
    (S.PROGRESSING, O.OK, CANARY, S.SWITCHING),
    (S.SWITCHING, O.OK, CANARY, S.MONITORING),
    (S.VERIFYING, O.FAILED, CANARY, S.CLEANING_UP),
    (S.PROGRESSING, O.FAILED, CANARY, S.ROLLING_BACK),
    (S.PROGRESSING, O.INTERRUPTED, CANARY, S.ROLLING_BACK),
    (S.PROGRESSING, O.REJECTED, CANARY, S.ROLLING_BACK),
    # undo steps: an interrupted one runs again, a failed one ends the deployment
    (S.CLEANING_UP, O.INTERRUPTED, PLAIN, S.CLEANING_UP),
    (S.CLEANING_UP, O.FAILED, PLAIN, S.FAILED),
    (S.ROLLING_BACK, O.INTERRUPTED, PLAIN, S.ROLLING_BACK),
    (S.ROLLING_BACK, O.FAILED, PLAIN, S.FAILED),
]


@pytest.mark.parametrize(("state", "outcome", "route", "expected"), TABLE)
def test_transition(state: State, outcome: Outcome, route: Route, expected: State) -> None:
    assert next_state(state, outcome, route) is expected


@pytest.mark.parametrize("state", sorted(TERMINAL))
@pytest.mark.parametrize("outcome", list(Outcome))
def test_terminal_states_stay(state: State, outcome: Outcome) -> None:
    assert next_state(state, outcome, PLAIN) is state


def test_every_running_state_has_a_step() -> None:
    running = set(State) - TERMINAL - {State.REQUESTED}
    assert running == set(STEP_OF)


@given(
    route=st.builds(
        Route,
        needs_approval=st.booleans(),
        monitor=st.booleans(),
        restore_database=st.booleans(),
        canary=st.booleans(),
    ),
    outcomes=st.lists(st.sampled_from(list(Outcome)), max_size=40),
)
def test_any_sequence_then_progress_ends_terminal(route: Route, outcomes: list[Outcome]) -> None:
    """Whatever happens, once steps stop being interrupted the deployment ends within a few steps."""
    state = State.REQUESTED
    for outcome in outcomes:
        state = next_state(state, outcome, route)
    for _ in range(12):
        state = next_state(state, Outcome.FAILED, route)
    assert state.terminal


@given(outcomes=st.lists(st.sampled_from([Outcome.OK, Outcome.FAILED, Outcome.INTERRUPTED]), max_size=40))
def test_traffic_never_abandoned_after_switch(outcomes: list[Outcome]) -> None:
    """After the switch, no path reaches `failed` without passing through rolling_back."""
    state, seen = State.REQUESTED, [State.REQUESTED]
    for outcome in outcomes:
        state = next_state(state, outcome, PLAIN)
        seen.append(state)
    if State.SWITCHING in seen and state is State.FAILED:
        assert State.ROLLING_BACK in seen[seen.index(State.SWITCHING) :]


@given(outcomes=st.lists(st.sampled_from(list(Outcome)), max_size=40))
def test_a_canary_never_ends_failed_once_it_shared_traffic_without_rolling_back(outcomes: list[Outcome]) -> None:
    """From the canary's first step on, no path reaches `failed` without passing through rolling_back."""
    state, seen = State.REQUESTED, [State.REQUESTED]
    for outcome in outcomes:
        state = next_state(state, outcome, CANARY)
        seen.append(state)
    if State.PROGRESSING in seen and state is State.FAILED:
        assert State.ROLLING_BACK in seen[seen.index(State.PROGRESSING) :]


def test_only_a_deploy_is_ever_a_canary() -> None:
    for kind in Kind:
        assert route_for(kind, canary=True).canary is (kind is Kind.DEPLOY), kind
    assert next_state(State.VERIFYING, Outcome.OK, PLAIN) is State.SWITCHING  # blue-green never progresses


def test_only_a_restore_or_a_rollback_ever_restores_the_database() -> None:
    for kind in Kind:
        asked = route_for(kind, restore_database=True).restore_database
        assert asked is (kind in (Kind.RESTORE, Kind.ROLLBACK)), kind
        assert route_for(kind).restore_database is False
