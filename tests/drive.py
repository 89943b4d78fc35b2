"""Requests as the CLI sends them, for tests that drive an engine directly."""

from __future__ import annotations

from arxdeploy.domain.events import Deployment, View
from arxdeploy.domain.plan import EnvironmentPlan
from arxdeploy.domain.request import Request
from arxdeploy.domain.states import Kind
from arxdeploy.engine.run import Engine, Submitted


def ran(done: Submitted) -> tuple[Deployment, View]:
    assert done.deployment is not None and done.view is not None, done.notes
    return done.deployment, done.view


def deploy(
    engine: Engine, *, plan: EnvironmentPlan, version: str, wait: bool = True, **fields: object
) -> tuple[Deployment, View]:
    request = Request(plan.environment, Kind.DEPLOY, version=version, **fields)  # type: ignore[arg-type]
    return ran(engine.submit(plan=plan, request=request, wait=wait))


def rollback(
    engine: Engine, *, plan: EnvironmentPlan, to_version: str | None = None, reason: str = ""
) -> tuple[Deployment, View]:
    request = Request(plan.environment, Kind.ROLLBACK, version=to_version, reason=reason)
    return ran(engine.submit(plan=plan, request=request))


def stop(engine: Engine, *, plan: EnvironmentPlan) -> Submitted:
    return engine.submit(plan=plan, request=Request(plan.environment, Kind.STOP))


def reconcile(engine: Engine, *, plan: EnvironmentPlan) -> Submitted:
    return engine.submit(plan=plan, request=Request(plan.environment, Kind.RECONCILE))


def restore(
    engine: Engine, *, plan: EnvironmentPlan, backup: str, version: str, with_database: bool = False
) -> tuple[Deployment, View]:
    request = Request(plan.environment, Kind.RESTORE, version=version, backup=backup, with_database=with_database)
    return ran(engine.submit(plan=plan, request=request))
