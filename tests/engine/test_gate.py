"""Approval gates in the engine: asked once, decided by the right people, bound to what was asked."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import timedelta

import pytest

from arxdeploy.domain.approvals import AUTO_APPROVER, DECLARED_IN_CI, ApprovalPolicy, GateStatus, Verdict
from arxdeploy.domain.roles import Role
from arxdeploy.domain.states import Kind, State
from arxdeploy.engine.gate import Approvals
from arxdeploy.errors import ConflictError, RefusedError
from tests.drive import deploy, rollback

from .conftest import PLAN, World

ANA, BO, CY = "ana@example.com", "bo@example.com", "cy@example.com"
POLICY = ApprovalPolicy(required=True, approvers=(ANA, BO, CY), min_approvals=2, timeout=timedelta(minutes=30))
GATED = dataclasses.replace(PLAN, environment="staging", approval=POLICY, config_digest="c0ffee" * 10)


def approvals(world: World) -> Approvals:
    return Approvals(store=world.store, clock=world.clock)


def types(world: World, deployment_id: str) -> list[str]:
    return [e.type for e in world.store.events(deployment_id=deployment_id)]


def asked(world: World, plan=GATED, **kwargs: object):  # type: ignore[no-untyped-def]
    engine = world.engine()
    engine.leases.me = dataclasses.replace(engine.leases.me, email=ANA)
    d, view = deploy(engine, plan=plan, version="v2", wait=False, **kwargs)  # type: ignore[arg-type]
    return engine, d, view


def test_a_gated_deployment_records_its_request_and_changes_nothing(world: World) -> None:
    _, d, view = asked(world)
    assert view.state is State.AWAITING_APPROVAL
    assert d.requested_by == ANA
    request = next(e for e in world.store.events(deployment_id=d.id) if e.type == "approval_requested")
    assert request.data["approvers"] == [ANA, BO, CY]
    assert request.data["min_approvals"] == 2
    assert request.data["version"] == "v2" and request.data["config_digest"] == GATED.config_digest
    assert request.data["changes"][0] == "version: nothing live -> v2"
    assert [c for c in world.target.calls if not c.startswith("inspect")] == []


def test_two_distinct_approvers_let_it_through(world: World) -> None:
    engine, d, _ = asked(world)
    gate = approvals(world).decide(deployment_id=d.id, who=BO, verdict=Verdict.APPROVE, via="server")
    assert gate.status is GateStatus.PENDING and gate.approved_by == (BO,)
    with pytest.raises(ConflictError, match="already approved"):
        approvals(world).decide(deployment_id=d.id, who="BO@example.com", verdict=Verdict.APPROVE, via="server")
    approvals(world).decide(deployment_id=d.id, who=CY, verdict=Verdict.APPROVE, via="server")

    view = engine.resume(plan=GATED, deployment_id=d.id)
    assert view.state is State.SUCCEEDED
    gate_step = next(s for s in view.steps if s.step == "gate")
    assert gate_step.detail == f"approved by {BO}, {CY}"


def test_one_rejection_ends_it(world: World) -> None:
    engine, d, _ = asked(world)
    approvals(world).decide(deployment_id=d.id, who=BO, verdict=Verdict.APPROVE, via="server")
    approvals(world).decide(deployment_id=d.id, who=CY, verdict=Verdict.REJECT, via="server", reason="not on Friday")
    view = engine.resume(plan=GATED, deployment_id=d.id)
    assert view.state is State.REJECTED
    assert view.failure is not None and view.failure.reason == f"rejected by {CY}: not on Friday"
    with pytest.raises(ConflictError, match="not waiting for approval"):
        approvals(world).decide(deployment_id=d.id, who=CY, verdict=Verdict.APPROVE, via="server")


def test_self_approval_and_strangers_are_refused_and_recorded(world: World) -> None:
    _, d, _ = asked(world)
    with pytest.raises(RefusedError, match="may not approve it"):
        approvals(world).decide(deployment_id=d.id, who=ANA, verdict=Verdict.APPROVE, via="server")
    with pytest.raises(RefusedError, match="not an approver"):
        approvals(world).decide(deployment_id=d.id, who="eve@example.com", verdict=Verdict.APPROVE, via="server")
    refused = [e.data for e in world.store.events(deployment_id=d.id) if e.type == "approval_refused"]
    assert [r["who"] for r in refused] == [ANA, "eve@example.com"]
    # The requester may still withdraw it.
    gate = approvals(world).decide(deployment_id=d.id, who=ANA, verdict=Verdict.REJECT, via="cli", reason="oops")
    assert gate.status is GateStatus.REJECTED


def test_a_viewer_token_may_not_decide_and_its_attempt_is_recorded(world: World) -> None:
    _, d, _ = asked(world)
    for verdict in Verdict:
        with pytest.raises(RefusedError, match="viewer token: it may read deployments, not decide"):
            approvals(world).decide(deployment_id=d.id, who=BO, verdict=verdict, via="server", role=Role.VIEWER)
    refused = [e.data["who"] for e in world.store.events(deployment_id=d.id) if e.type == "approval_refused"]
    assert refused == [BO, BO]
    # Approver and admin tokens decide, on the gates whose approvers list names their owner.
    with pytest.raises(RefusedError, match="not an approver"):
        approvals(world).decide(
            deployment_id=d.id, who="root@example.com", verdict=Verdict.REJECT, via="server", role=Role.ADMIN
        )
    approvals(world).decide(deployment_id=d.id, who=BO, verdict=Verdict.APPROVE, via="server", role=Role.APPROVER)
    gate = approvals(world).decide(deployment_id=d.id, who=CY, verdict=Verdict.APPROVE, via="server", role=Role.ADMIN)
    assert gate.status is GateStatus.APPROVED


def test_an_identity_declared_in_ci_is_refused_and_recorded(world: World) -> None:
    _, d, _ = asked(world)
    for verdict in Verdict:
        with pytest.raises(RefusedError, match=r"only declared .* in a CI job"):
            approvals(world).decide(deployment_id=d.id, who=BO, verdict=verdict, via=DECLARED_IN_CI, reason="r")
    gate = approvals(world).gate(deployment_id=d.id)[1]
    assert gate.approvals == () and gate.rejection is None
    assert [r.who for r in gate.refusals] == [BO, BO]


def test_self_approval_when_allowed(world: World) -> None:
    plan = dataclasses.replace(GATED, approval=dataclasses.replace(POLICY, allow_self_approval=True, min_approvals=1))
    engine, d, _ = asked(world, plan)
    approvals(world).decide(deployment_id=d.id, who=ANA, verdict=Verdict.APPROVE, via="cli")
    assert engine.resume(plan=plan, deployment_id=d.id).state is State.SUCCEEDED


def test_nobody_answering_expires_it(world: World) -> None:
    engine, d, _ = asked(world)
    approvals(world).decide(deployment_id=d.id, who=BO, verdict=Verdict.APPROVE, via="server")
    world.clock.advance(timedelta(minutes=31))
    with pytest.raises(ConflictError, match="expired"):
        approvals(world).decide(deployment_id=d.id, who=CY, verdict=Verdict.APPROVE, via="server")
    view = engine.resume(plan=GATED, deployment_id=d.id)
    assert view.state is State.EXPIRED
    assert view.failure is not None and view.failure.reason == "no decision within 30 minutes (1 of 2 approvals)"


def test_an_expired_gate_is_ended_by_the_next_command(world: World) -> None:
    engine, d, _ = asked(world)
    assert engine.recover(plan=GATED) == []  # waiting for people is not abandoned
    world.clock.advance(timedelta(minutes=31))
    assert engine.recover(plan=GATED) == [d.id]
    assert world.store.get(deployment_id=d.id).state is State.EXPIRED


def test_approvals_are_void_when_the_config_changed(world: World) -> None:
    engine, d, _ = asked(world)
    for who in (BO, CY):
        approvals(world).decide(deployment_id=d.id, who=who, verdict=Verdict.APPROVE, via="server")
    changed = dataclasses.replace(GATED, config_digest="beef" * 16)
    view = engine.resume(plan=changed, deployment_id=d.id)
    assert view.state is State.REJECTED
    assert view.failure is not None and "changed since approval was asked" in view.failure.reason
    assert [c for c in world.target.calls if not c.startswith("inspect")] == []


def test_a_new_request_supersedes_one_waiting_for_approval(world: World) -> None:
    engine, first, _ = asked(world)
    second, view = deploy(engine, plan=GATED, version="v3", wait=False)
    assert view.state is State.AWAITING_APPROVAL
    old = world.store.get(deployment_id=first.id)
    assert old.state is State.REJECTED
    reason = [e.data.get("reason") for e in world.store.events(deployment_id=first.id) if e.type == "step"][-1]
    assert reason == f"superseded by deployment {second.id}, requested while this one waited for approval"
    # The approvals of the old one do not carry over.
    assert approvals(world).gate(deployment_id=second.id)[1].approvals == ()


def test_a_waiting_process_that_died_is_resumed_by_another(world: World) -> None:
    _, d, _ = asked(world)
    for who in (BO, CY):
        approvals(world).decide(deployment_id=d.id, who=who, verdict=Verdict.APPROVE, via="server")
    other = world.engine(pid=200)
    assert other.recover(plan=GATED) == []  # approved, but only resume moves it on
    assert other.resume(plan=GATED, deployment_id=d.id).state is State.SUCCEEDED


def test_staging_is_approved_automatically_unless_critical(world: World) -> None:
    auto = dataclasses.replace(GATED, approval=dataclasses.replace(POLICY, auto_approve=True))
    engine = world.engine()
    d, view = deploy(engine, plan=auto, version="v1", wait=False)
    assert view.state is State.SUCCEEDED
    decision = next(e for e in world.store.events(deployment_id=d.id) if e.type == "approval")
    assert (decision.data["who"], decision.data["via"]) == (AUTO_APPROVER, "auto")

    _, view = deploy(engine, plan=auto, version="v2", wait=False, critical=True)
    assert view.state is State.AWAITING_APPROVAL


def test_critical_updates_need_approval_where_others_do_not(world: World) -> None:
    policy = ApprovalPolicy(required_if_critical=True, approvers=(BO,))
    plan = dataclasses.replace(GATED, approval=policy)
    engine = world.engine()
    assert deploy(engine, plan=plan, version="v1", wait=False)[1].state is State.SUCCEEDED
    assert deploy(engine, plan=plan, version="v2", wait=False, critical=True)[1].state is State.AWAITING_APPROVAL


def test_rollbacks_never_wait_for_people(world: World) -> None:
    ungated = dataclasses.replace(GATED, approval=ApprovalPolicy())
    engine = world.engine()
    deploy(engine, plan=ungated, version="v1")
    deploy(engine, plan=ungated, version="v2")
    d, view = rollback(engine, plan=GATED, to_version=None)
    assert d.kind is Kind.ROLLBACK and view.state is State.SUCCEEDED
    assert "approval_requested" not in types(world, d.id)


def test_a_secret_inside_an_address_masks_neither_the_rule_nor_who_asked(world: World) -> None:
    from arxdeploy.redact import RedactingStore, Redactor

    # e.g. `sender: deploy@${MAIL_DOMAIN}`: every value from the environment is a secret.
    world.store = RedactingStore(world.store, Redactor(["example.com"]))  # type: ignore[assignment]
    engine, d, _ = asked(world, dataclasses.replace(GATED, approval=dataclasses.replace(POLICY, min_approvals=1)))
    with pytest.raises(RefusedError, match="may not approve it"):
        approvals(world).decide(deployment_id=d.id, who=ANA, verdict=Verdict.APPROVE, via="server")
    approvals(world).decide(deployment_id=d.id, who=BO, verdict=Verdict.APPROVE, via="server", reason="ok example.com")
    events = world.store.events(deployment_id=d.id)
    decision = next(e for e in events if e.type == "approval")
    assert (decision.data["who"], decision.data["reason"]) == (BO, "ok ***")
    assert (
        engine.resume(
            plan=dataclasses.replace(GATED, approval=dataclasses.replace(POLICY, min_approvals=1)), deployment_id=d.id
        ).state
        is State.SUCCEEDED
    )


def test_a_verdict_that_lands_after_the_gate_moved_on_does_not_count(world: World) -> None:
    from arxdeploy.domain import approvals as rules
    from arxdeploy.domain.approvals import Decision

    plan = dataclasses.replace(GATED, approval=dataclasses.replace(POLICY, min_approvals=1))
    engine, d, _ = asked(world, plan)
    approvals(world).decide(deployment_id=d.id, who=BO, verdict=Verdict.APPROVE, via="server")
    assert engine.resume(plan=plan, deployment_id=d.id).state is State.SUCCEEDED
    # A rejection that read "pending" just before and is written only now:
    request = rules.tally(world.store.events(deployment_id=d.id), world.clock.now()).request
    assert request is not None
    late = Decision(CY, Verdict.REJECT, world.clock.now(), via="server", reason="too late")
    world.store.append(deployment_id=d.id, events=[rules.decided(late, request)])
    gate = rules.tally(world.store.events(deployment_id=d.id), world.clock.now())
    assert gate.status is GateStatus.APPROVED and gate.rejection is None


def test_where_the_server_decides_a_local_verdict_is_refused_and_never_counts(world: World) -> None:
    from arxdeploy.domain import approvals as rules
    from arxdeploy.domain.approvals import Decision

    plan = dataclasses.replace(GATED, approval=dataclasses.replace(POLICY, min_approvals=1, server_only=True))
    _, d, _ = asked(world, plan)
    with pytest.raises(RefusedError, match="go through the arxdeploy server"):
        approvals(world).decide(deployment_id=d.id, who=BO, verdict=Verdict.APPROVE, via="cli")
    # Written straight into the record, it still does not count.
    request = rules.tally(world.store.events(deployment_id=d.id), world.clock.now()).request
    assert request is not None and request.server_only
    forged = Decision(BO, Verdict.APPROVE, world.clock.now(), via="cli")
    world.store.append(deployment_id=d.id, events=[rules.decided(forged, request)])
    assert rules.tally(world.store.events(deployment_id=d.id), world.clock.now()).status is GateStatus.PENDING
    gate = approvals(world).decide(deployment_id=d.id, who=BO, verdict=Verdict.APPROVE, via="server")
    assert gate.status is GateStatus.APPROVED


def test_waiting_says_where_the_gate_stands_once_a_minute(world: World) -> None:
    engine, d, _ = asked(world)
    world.seen.clear()
    assert engine.resume(plan=GATED, deployment_id=d.id).state is State.EXPIRED  # 30 minutes, nobody
    said = [e for e in world.seen if e.type == "progress"]
    assert said[0].data["message"] == "waiting for approval: 0 of 2, 30m00s left"
    assert len(said) == 30  # one at the start, then one a minute: no repeats
    assert all(b.at - a.at >= timedelta(minutes=1) for a, b in itertools.pairwise(said))
