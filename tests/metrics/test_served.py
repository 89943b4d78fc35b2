"""What `arxdeploy server` serves at /metrics about the deployments in its record: durations,
steps, rollbacks and time to restore, approval waits, the newest deployment, environment health;
counted once each, from the record, whatever process ran the deployment."""

from __future__ import annotations

from datetime import timedelta

import pytest
from prometheus_client import generate_latest

from arxdeploy.api.metrics import Metrics
from arxdeploy.domain.events import fold
from arxdeploy.domain.states import State
from arxdeploy.errors import StoreError
from arxdeploy.testing.target import FakeTarget
from tests.api.conftest import World
from tests.metrics.scrape import Samples, parse, value, values

SERVICE = "demo-api"


def scrape(world: World) -> Samples:
    answer = world.client.get("/metrics")
    assert answer.status_code == 200
    return parse(answer.text)


def settled(world: World) -> Samples:
    """/metrics once what the record holds is counted: a new series is served at 0 on the
    scrape that finds its first value, which the next scrape counts."""
    scrape(world)
    return scrape(world)


def fake(world: World) -> FakeTarget:
    target = world.engine.target
    assert isinstance(target, FakeTarget)
    return target


def test_a_rollback_is_counted_with_its_durations_and_time_to_restore(world: World) -> None:
    good = world.deploy_staging("v1")
    bad = world.deploy_staging_failed("v2-fails-after-35s")  # passes its checks, fails while monitored
    assert world.app.store.get(deployment_id=bad.id).state is State.ROLLED_BACK
    samples = settled(world)

    staging = {"service": SERVICE, "environment": "staging"}
    finished = "arxdeploy_deployments_finished_total"
    assert value(samples, finished, **staging, kind="deploy", outcome="succeeded") == 1
    assert value(samples, finished, **staging, kind="deploy", outcome="rolled_back") == 1
    assert value(samples, finished, **staging, kind="deploy", outcome="failed") == 0  # exists for `increase`
    assert value(samples, "arxdeploy_rollbacks_total", **staging, trigger="automatic") == 1
    assert value(samples, "arxdeploy_rollbacks_total", **staging, trigger="manual") == 0

    # Durations are the record's: from the request to the final state, step by step.
    for d, outcome in ((good, "succeeded"), (bad, "rolled_back")):
        view = fold(world.app.store.events(deployment_id=d.id))
        assert view.finished_at is not None
        total = (view.finished_at - d.created_at).total_seconds()
        labels = {**staging, "kind": "deploy", "outcome": outcome}
        assert value(samples, "arxdeploy_deployment_duration_seconds_sum", **labels) == total
        assert value(samples, "arxdeploy_deployment_duration_seconds_count", **labels) == 1
    monitor = {**staging, "step": "monitor"}
    assert value(samples, "arxdeploy_step_duration_seconds_count", **monitor, outcome="ok") == 1
    assert value(samples, "arxdeploy_step_duration_seconds_count", **monitor, outcome="failed") == 1
    (failed_run,) = [s for s in fold(world.app.store.events(deployment_id=bad.id)).steps if s.outcome == "failed"]
    assert value(samples, "arxdeploy_step_duration_seconds_sum", **monitor, outcome="failed") == failed_run.seconds
    assert failed_run.seconds > 0

    # Time to restore: from the failed step's end to the `switched` event that put traffic back.
    events = world.app.store.events(deployment_id=bad.id)
    back = [e for e in events if e.type == "switched" and e.at >= failed_run.ended]
    assert back and back[0].data["version"] == "v1"
    restore = (back[0].at - failed_run.ended).total_seconds()
    assert value(samples, "arxdeploy_time_to_restore_seconds_count", **staging) == 1
    assert value(samples, "arxdeploy_time_to_restore_seconds_sum", **staging) == restore

    # The newest deployment, with its version: one series per environment.
    (last,) = values(samples, "arxdeploy_last_deployment_info", **staging)
    assert last[0] | {"deployment": bad.id} == {**staging, "deployment": bad.id, "version": "v2-fails-after-35s",
                                                "kind": "deploy", "state": "rolled_back"}  # fmt: skip

    # Scraped again: nothing is counted twice.
    again = scrape(world)
    assert value(again, finished, **staging, kind="deploy", outcome="rolled_back") == 1
    assert value(again, "arxdeploy_time_to_restore_seconds_count", **staging) == 1
    assert value(again, "arxdeploy_step_duration_seconds_count", **monitor, outcome="ok") == 1


def test_the_wait_at_the_approval_gate_is_measured_and_left_out_of_the_duration(world: World) -> None:
    d = world.request_production("v1")
    world.clock.advance(timedelta(minutes=20))  # the gate expires at 30
    production = {"service": SERVICE, "environment": "production"}
    waiting = scrape(world)
    assert value(waiting, "arxdeploy_approval_oldest_wait_seconds", **production) == 20 * 60
    assert value(waiting, "arxdeploy_approval_oldest_wait_seconds", service=SERVICE, environment="staging") == 0
    assert values(waiting, "arxdeploy_approval_wait_seconds_count") == []  # not decided yet

    for approver in ("bo@example.com", "cy@example.com"):
        answer = world.post(f"/api/v1/approvals/{d.id}/approve", approver, json={"reason": "fine"})
        assert answer.status_code == 200, answer.text
    view = world.engine.resume(plan=world.app.plan("production"), deployment_id=d.id)
    assert view.state is State.SUCCEEDED
    samples = settled(world)

    assert value(samples, "arxdeploy_approval_oldest_wait_seconds", **production) == 0
    assert value(samples, "arxdeploy_approval_wait_seconds_count", **production, outcome="approved") == 1
    assert value(samples, "arxdeploy_approval_wait_seconds_sum", **production, outcome="approved") == 20 * 60
    assert value(samples, "arxdeploy_approval_wait_seconds_bucket", **production, outcome="approved", le="600.0") == 0
    assert value(samples, "arxdeploy_approval_wait_seconds_bucket", **production, outcome="approved", le="1800.0") == 1
    assert values(samples, "arxdeploy_step_duration_seconds_count", step="gate") == []  # it is the wait above
    events = world.app.store.events(deployment_id=d.id)
    view = fold(events)
    assert view.finished_at is not None
    worked = (view.finished_at - d.created_at).total_seconds() - 20 * 60
    labels = {**production, "kind": "deploy", "outcome": "succeeded"}
    assert value(samples, "arxdeploy_deployment_duration_seconds_sum", **labels) == worked


def test_a_rejected_gate_is_a_wait_with_its_outcome(world: World) -> None:
    d = world.request_production("v1")
    world.clock.advance(timedelta(minutes=3))
    answer = world.post(f"/api/v1/approvals/{d.id}/reject", "bo@example.com", json={"reason": "not today"})
    assert answer.status_code == 200, answer.text
    assert world.engine.resume(plan=world.app.plan("production"), deployment_id=d.id).state is State.REJECTED
    samples = settled(world)
    production = {"service": SERVICE, "environment": "production"}
    assert value(samples, "arxdeploy_approval_wait_seconds_sum", **production, outcome="rejected") == 180
    assert value(samples, "arxdeploy_deployments_finished_total", **production, kind="deploy", outcome="rejected") == 1


def test_what_finished_before_the_server_started_is_not_counted(world: World) -> None:
    world.deploy_staging("v1")
    fake(world).fail_on["switch"] = 1
    world.deploy_staging_failed("v2")
    # A server started now (a second Metrics over the same record, as after a restart).
    restarted = parse(generate_latest(Metrics(world.app).registry).decode())
    staging = {"service": SERVICE, "environment": "staging"}
    assert value(restarted, "arxdeploy_deployments_finished_total", **staging, kind="deploy", outcome="succeeded") == 0
    assert value(restarted, "arxdeploy_rollbacks_total", **staging, trigger="automatic") == 0
    assert values(restarted, "arxdeploy_deployment_duration_seconds_count") == []
    # The gauges say what the record says now, restart or not.
    (last,) = values(restarted, "arxdeploy_last_deployment_info", **staging)
    assert last[0]["version"] == "v2" and last[0]["state"] == "rolled_back"
    # The server that ran all along counted both.
    samples = settled(world)
    assert value(samples, "arxdeploy_deployments_finished_total", **staging, kind="deploy", outcome="succeeded") == 1
    assert value(samples, "arxdeploy_rollbacks_total", **staging, trigger="automatic") == 1


def unhealthy(samples: Samples, environment: str) -> set[str]:
    found = values(samples, "arxdeploy_environment_unhealthy", service=SERVICE, environment=environment)
    assert {labels["reason"] for labels, _ in found} == {"stalled", "undo_failed", "no_traffic"}
    return {labels["reason"] for labels, v in found if v == 1}


def test_a_failed_rollback_makes_the_environment_unhealthy_until_a_deployment_succeeds(world: World) -> None:
    world.deploy_staging("v1")
    fake(world).fail_on["switch"] = 2  # the switch fails, then the rollback's own switch too
    d = world.deploy_staging_failed("v2")
    assert world.app.store.get(deployment_id=d.id).state is State.FAILED
    samples = settled(world)
    assert unhealthy(samples, "staging") == {"undo_failed"}
    assert unhealthy(samples, "production") == set()
    staging = {"service": SERVICE, "environment": "staging"}
    assert value(samples, "arxdeploy_deployments_finished_total", **staging, kind="deploy", outcome="failed") == 1
    assert value(samples, "arxdeploy_step_duration_seconds_count", **staging, step="rollback", outcome="failed") == 1

    world.deploy_staging("v3")
    assert unhealthy(scrape(world), "staging") == set()


def test_an_environment_where_nothing_takes_traffic_is_unhealthy(world: World) -> None:
    world.deploy_staging_failed("v1-crash")  # the first deployment: nothing was live, nothing is
    assert world.app.store.live(service=SERVICE, environment="staging") is None
    assert unhealthy(scrape(world), "staging") == {"no_traffic"}
    assert unhealthy(scrape(world), "production") == set()  # never deployed: nothing to say
    world.deploy_staging("v1")
    assert unhealthy(scrape(world), "staging") == set()


def test_a_new_series_is_served_at_zero_before_its_first_value(world: World) -> None:
    # Prometheus's increase() and rate() need a sample before a change to see it.
    staging = {"service": SERVICE, "environment": "staging", "kind": "deploy", "outcome": "succeeded"}
    scrape(world)  # the series made at start (finished, rollbacks) are served at 0
    world.deploy_staging("v1")
    first = scrape(world)
    assert value(first, "arxdeploy_deployments_finished_total", **staging) == 1  # served at 0 before
    assert value(first, "arxdeploy_deployment_duration_seconds_count", **staging) == 0  # new: 0 first
    second = scrape(world)
    assert value(second, "arxdeploy_deployment_duration_seconds_count", **staging) == 1
    assert value(second, "arxdeploy_deployments_finished_total", **staging) == 1


def test_a_record_unreadable_at_the_start_is_started_by_the_first_scrape_that_reads_it(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    world.deploy_staging("v1")

    def unreachable(**_: object) -> None:
        raise StoreError("the record is not reachable")

    with monkeypatch.context() as patch:
        patch.setattr(world.app.store, "history", unreachable)
        restarted = Metrics(world.app)  # the server starts all the same
    assert "deployment metrics of staging start at the first scrape" in caplog.text

    def finished() -> float:
        samples = parse(generate_latest(restarted.registry).decode())
        labels = {"service": SERVICE, "environment": "staging", "kind": "deploy", "outcome": "succeeded"}
        return value(samples, "arxdeploy_deployments_finished_total", **labels)

    assert finished() == 0  # v1 finished before: the first scrape's read is the start
    world.deploy_staging("v2")
    assert finished() == 1
