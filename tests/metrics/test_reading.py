"""``record_metrics.read``: a deployment's log to observations, purely (no store, no server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from arxdeploy.api.record_metrics import Observation, read
from arxdeploy.domain.events import Deployment, Event, entered, step_ended, switched
from arxdeploy.domain.states import Color, Kind, State

T0 = datetime(2026, 12, 5, 6, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def deployment(kind: Kind = Kind.DEPLOY) -> Deployment:
    return Deployment("d1", "shop", "production", "v2", "v1", Color.GREEN, Color.BLUE, T0, kind=kind)


def by_family(observations: tuple[Observation, ...]) -> dict[str, list[tuple[tuple[str, ...], float]]]:
    found: dict[str, list[tuple[tuple[str, ...], float]]] = {}
    for o in observations:
        found.setdefault(o.family, []).append((o.labels, o.value))
    return found


def test_a_canary_that_failed_at_its_second_step() -> None:
    log = [
        entered(State.REQUESTED, at(0)),
        Event("approval_requested", at(1)),
        step_ended("gate", "ok", at(1), at(601)),  # ten minutes for people
        step_ended("deploy", "ok", at(601), at(611)),
        switched(Color.GREEN, "v2", at(612)),
        Event("canary_step", at(612), {"weight": 10}),
        Event("analysis", at(700), {"verdict": "pass", "phase": "canary"}),
        Event("canary_step", at(701), {"weight": 50}),
        Event("analysis", at(800), {"verdict": "fail", "phase": "canary"}),
        entered(State("monitoring"), at(800)),
        Event("state", at(800), {"state": "a_state_of_a_newer_version"}),  # read past, not a failure
        step_ended("monitor", "failed", at(612), at(801)),
        Event("aborted", at(801)),
        switched(Color.BLUE, "v1", at(804)),
        step_ended("rollback", "ok", at(801), at(806)),
        entered(State.ROLLED_BACK, at(806)),
    ]
    reading = read(deployment(), log)
    found = by_family(reading.observations)
    assert found["approval_wait"] == [(("approved",), 600)]
    assert found["step_duration"] == [(("deploy", "ok"), 10), (("monitor", "failed"), 189), (("rollback", "ok"), 5)]
    assert found["restore"] == [((), 3)]  # the failure's end to traffic back
    assert found["analysis"] == [(("pass", "canary"), 1), (("fail", "canary"), 1)]
    assert found["finished"] == [(("deploy", "rolled_back"), 1)]
    assert found["deployment_duration"] == [(("deploy", "rolled_back"), 806 - 600)]  # the gate left out
    assert found["rollback"] == [(("automatic",), 1)]
    assert reading.canary_weight == 0
    assert not reading.undo_failed
    # Each observation names the event that made it: a scrape counts only those past what it saw.
    assert [o.index for o in reading.observations] == sorted(o.index for o in reading.observations)


def test_a_manual_rollback_counts_as_one_and_a_failure_before_traffic_moved_restores_nothing() -> None:
    manual = read(deployment(Kind.ROLLBACK), [entered(State.REQUESTED, at(0)), entered(State.SUCCEEDED, at(30))])
    assert by_family(manual.observations)["rollback"] == [(("manual",), 1)]
    early = read(
        deployment(),
        [
            entered(State.REQUESTED, at(0)),
            step_ended("verify", "failed", at(0), at(20)),
            step_ended("cleanup", "failed", at(20), at(25)),
            entered(State.FAILED, at(25)),
        ],
    )
    assert "restore" not in by_family(early.observations)
    assert early.undo_failed
    assert early.canary_weight is None
