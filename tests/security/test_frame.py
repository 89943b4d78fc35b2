"""The frame: the runner runs the gates in order with what each asks for, and the engine's
``security`` step runs them after validating, before anything changes, recording each result."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from arxdeploy.domain import security_events
from arxdeploy.domain.decide import Route, next_state
from arxdeploy.domain.events import fold
from arxdeploy.domain.security import Finding, GateResult, Severity, Status
from arxdeploy.domain.states import Color, Outcome, State
from arxdeploy.security.runner import Gates, lazy
from arxdeploy.testing.backups import MemoryBackups
from arxdeploy.testing.clock import ManualClock
from arxdeploy.testing.store import MemoryStore
from arxdeploy.testing.target import FakeHealth, FakeTarget
from tests.drive import deploy, rollback
from tests.engine.conftest import PLAN, Killed, World
from tests.security.evidence import config, trivy_report, write

REPO = "registry.example.com/shop/web"
CLOCK = ManualClock(datetime(2026, 12, 5, tzinfo=UTC))


def gates(tmp_path: Path, security: dict[str, Any] | None = None, *, name: str = "production", **kw: Any) -> Gates:
    return Gates(
        config=config(security=security or {}, name=name),
        base_dir=tmp_path,
        environ={"PATH": ""},
        clock=kw.pop("clock", CLOCK),
        image_of=lambda version: f"{REPO}:{version}",
        **kw,
    )


# --- the runner -------------------------------------------------------------------------------


def test_the_available_gates_run_in_order_and_say_what_does_not_apply(tmp_path: Path) -> None:
    results = gates(tmp_path).run(environment="production", version="1.4.0")
    by_gate = {r.gate: r for r in results}
    order = [r.gate for r in results]
    assert order.index("vulnerabilities") < order.index("tls")  # as runner.ORDER says
    assert by_gate["vulnerabilities"].status is Status.WARNING  # no report, not required
    assert by_gate["tls"].status is Status.NOT_APPLICABLE  # no url


def test_a_gate_turned_off_is_skipped_and_says_how(tmp_path: Path) -> None:
    results = gates(tmp_path, {"tls": {"enabled": False}}).run(environment="production", version="1")
    tls = next(r for r in results if r.gate == "tls")
    assert (tls.status, tls.summary) == (Status.SKIPPED, "turned off (security.tls.enabled: false)")


def test_a_gate_gets_only_what_it_names_and_later_gates_get_the_digest(tmp_path: Path) -> None:
    seen: dict[str, Any] = {}
    made: list[str] = []

    def pin(*, image: str, version: str) -> GateResult:
        return GateResult("image_digest", Status.PASSED, "pinned", facts={"digest": "sha256:" + "f" * 64})

    def after(*, digest: str | None, today: date, objects: list[str]) -> tuple[GateResult, ...]:
        seen.update(digest=digest, today=today, objects=objects)
        return (GateResult("one", Status.PASSED, "a"), GateResult("two", Status.WARNING, "b"))

    def broken(*, config: object) -> GateResult:
        raise RuntimeError("the scanner's database is locked")

    extra = {"objects": lazy(lambda: made.append("made") or ["Deployment/web"])}
    on = {"image_digest": {"enabled": True}}  # the cluster gates are off unless turned on
    frame = gates(tmp_path, on, extra=extra, gates=[("image_digest", pin), ("after", after), ("broken", broken)])
    results = frame.run(environment="production", version="1.4.0")
    assert [(r.gate, r.status) for r in results] == [
        ("image_digest", Status.PASSED),
        ("one", Status.PASSED),
        ("two", Status.WARNING),
        ("broken", Status.FAILED),
    ]
    assert seen == {"digest": "sha256:" + "f" * 64, "today": date(2026, 12, 5), "objects": ["Deployment/web"]}
    assert made == ["made"]
    assert results[-1].summary == "could not run: RuntimeError: the scanner's database is locked"

    given = "sha256:" + "a" * 64  # `security check --digest`: the digest the reports must be of, whatever pin finds
    frame.run(environment="production", version="1.4.0", digest=given)
    assert seen["digest"] == given


def test_an_unknown_environment_is_refused_with_the_known_ones(tmp_path: Path) -> None:
    from arxdeploy.errors import NotFoundError

    with pytest.raises(NotFoundError, match="known: production"):
        gates(tmp_path).run(environment="prod", version="1")


def test_results_go_through_the_record_and_back(tmp_path: Path) -> None:
    many = tuple(Finding(f"CVE-{i}", "x", Severity.HIGH) for i in range(60))
    result = GateResult("vulnerabilities", Status.FAILED, "60 found", many, {"when": date(2026, 1, 2)})
    event = security_events.recorded(result, CLOCK.now())
    back = security_events.from_data(event.data)
    assert (back.gate, back.status, back.summary) == ("vulnerabilities", Status.FAILED, "60 found")
    assert len(back.findings) == security_events.KEPT_FINDINGS and back.facts["findings_total"] == 60
    assert back.facts["when"] == "2026-01-02"


# --- the decision core -------------------------------------------------------------------------


SECURED = Route(security=True)


@pytest.mark.parametrize(
    ("state", "outcome", "route", "expected"),
    [
        (State.VALIDATING, Outcome.OK, SECURED, State.CHECKING_SECURITY),
        (State.CHECKING_SECURITY, Outcome.OK, SECURED, State.BACKING_UP),
        (State.CHECKING_SECURITY, Outcome.OK, Route(security=True, needs_approval=True), State.AWAITING_APPROVAL),
        (State.CHECKING_SECURITY, Outcome.OK, Route(security=True, reconcile_first=True), State.RECONCILING),
        (State.CHECKING_SECURITY, Outcome.FAILED, SECURED, State.FAILED),  # nothing changed yet
        (State.CHECKING_SECURITY, Outcome.INTERRUPTED, SECURED, State.FAILED),
        (State.VALIDATING, Outcome.OK, Route(), State.BACKING_UP),  # no gates configured
    ],
)
def test_the_security_state_sits_after_validating_and_before_everything_else(
    state: State, outcome: Outcome, route: Route, expected: State
) -> None:
    assert next_state(state, outcome, route) is expected


# --- the engine's step ---------------------------------------------------------------------------


@pytest.fixture
def world() -> World:
    clock = ManualClock()
    target = FakeTarget(clock=clock)
    return World(
        clock=clock, target=target, health=FakeHealth(target), store=MemoryStore(), backups=MemoryBackups(clock)
    )


def _steps(view: Any) -> list[str]:
    return [s.step for s in view.steps]


def test_a_failed_gate_fails_the_deploy_with_nothing_changed(world: World, tmp_path: Path) -> None:
    engine = world.engine()
    deploy(engine, plan=PLAN, version="v1")
    saved = set(world.backups.saved)
    write(
        tmp_path,
        "scan.json",
        trivy_report([("CVE-2026-0001", "openssl", "3.0.2", "critical", "3.0.3")], image=f"{REPO}:v2"),
    )
    engine.security = gates(
        tmp_path, {"vulnerabilities": {"reports": ["scan.json"]}}, clock=world.clock, name="staging"
    )
    d, view = deploy(engine, plan=PLAN, version="v2")
    assert view.state is State.FAILED
    assert _steps(view) == ["validate", "security"]
    assert view.failure is not None and view.failure.step == "security"
    assert view.failure.reason.startswith("vulnerabilities: 1 vulnerability at high or above")
    assert view.failure.check == "security gate vulnerabilities"
    state = world.target.inspect(environment="staging")
    assert (state.live_color, state.live_version, set(state.colors)) == (Color.BLUE, "v1", {Color.BLUE})
    assert set(world.backups.saved) == saved  # not even a backup
    recorded = security_events.results(world.store.events(deployment_id=d.id))
    # the cluster gates (image_digest, secrets, network_policy, compliance) are off unless turned on
    assert [(r.gate, r.status) for r in recorded if r.status is not Status.SKIPPED] == [
        ("vulnerabilities", Status.FAILED),
        ("tls", Status.NOT_APPLICABLE),
    ]
    assert next(r for r in recorded if r.gate == "vulnerabilities").findings[0].rule == "CVE-2026-0001"


def test_passing_gates_are_recorded_and_the_deploy_goes_on(world: World, tmp_path: Path) -> None:
    engine = world.engine()
    write(tmp_path, "scan.json", trivy_report([("CVE-2026-0003", "curl", "7", "medium", None)], image=f"{REPO}:v1"))
    engine.security = gates(
        tmp_path, {"vulnerabilities": {"reports": ["scan.json"]}}, clock=world.clock, name="staging"
    )
    d, view = deploy(engine, plan=PLAN, version="v1")
    assert view.state is State.SUCCEEDED
    assert _steps(view)[:3] == ["validate", "security", "backup"]
    # the four cluster gates are off unless turned on, and say so
    assert view.steps[1].detail == "6 security gates: 4 skipped, 1 passed, 1 not applicable"
    assert [e.type for e in world.store.events(deployment_id=d.id)].count("security") == 6


def test_going_back_to_a_version_does_not_wait_on_the_gates(world: World, tmp_path: Path) -> None:
    engine = world.engine()
    deploy(engine, plan=PLAN, version="v1")
    deploy(engine, plan=PLAN, version="v2")
    engine.security = gates(tmp_path, {"vulnerabilities": {"required": True}}, clock=world.clock, name="staging")
    _, view = rollback(engine, plan=PLAN)
    assert view.state is State.SUCCEEDED and "security" not in _steps(view)


def test_a_deployment_killed_in_the_security_step_is_recovered_as_failed(world: World, tmp_path: Path) -> None:
    engine = world.engine(pid=100, kill_at="checking_security")
    engine.security = gates(tmp_path, clock=world.clock, name="staging")
    with pytest.raises(Killed):
        deploy(engine, plan=PLAN, version="v1")
    after = world.engine(pid=200)
    after.security = gates(tmp_path, clock=world.clock, name="staging")
    assert after.recover(plan=PLAN) == ["d0001"]
    view = fold(world.store.events(deployment_id="d0001"))
    assert view.state is State.FAILED and view.checks_security
    assert world.target.inspect(environment="staging").colors == {}


class ResolvedImage:
    """Gates of which only image_digest ran: it resolved the version's tag to ``digest``."""

    def __init__(self, digest: str) -> None:
        self.digest = digest

    def check(self, *, deployment: Any) -> list[GateResult]:
        facts = {"digest": self.digest, "pinned": {f"{REPO}:{deployment.version}": f"{REPO}@{self.digest}"}}
        return [GateResult(security_events.IMAGE_DIGEST, Status.PASSED, f"{REPO} is {self.digest}", facts=facts)]

    def prepare(self, *, deployment: Any, results: Any) -> None:
        pass


def test_approvals_bind_to_the_image_digest_the_security_step_recorded(world: World) -> None:
    """The approval request names the content and the resolved image: the approvals let that
    image run (what ``prepare`` pins), and they stand while neither changes."""
    from dataclasses import replace
    from datetime import timedelta

    from arxdeploy.domain.approvals import ApprovalPolicy, Verdict
    from arxdeploy.engine.gate import Approvals

    policy = ApprovalPolicy(required=True, approvers=("bo@example.com",), timeout=timedelta(minutes=30))
    plan = replace(PLAN, approval=policy, config_digest="c0ffee" * 10)
    engine = world.engine()
    engine.security = ResolvedImage("sha256:" + "ab" * 32)
    d, view = deploy(engine, plan=plan, version="v1", wait=False)
    assert view.state is State.AWAITING_APPROVAL
    asked = next(e for e in world.store.events(deployment_id=d.id) if e.type == "approval_requested")
    bound = security_events.bind_image(plan.config_digest, "sha256:" + "ab" * 32)
    assert asked.data["config_digest"] == bound != plan.config_digest
    Approvals(store=world.store, clock=world.clock).decide(
        deployment_id=d.id, who="bo@example.com", verdict=Verdict.APPROVE, via="server"
    )
    engine.content_now = lambda: plan.config_digest  # the config and its files are as they were asked
    assert engine.resume(plan=plan, deployment_id=d.id).state is State.SUCCEEDED
    # Without a resolved image (the gate off, or not on this target) the content alone is bound.
    engine.security = None
    d2, _ = deploy(engine, plan=replace(plan, approval=policy), version="v2", wait=False)
    asked = next(e for e in world.store.events(deployment_id=d2.id) if e.type == "approval_requested")
    assert asked.data["config_digest"] == plan.config_digest
