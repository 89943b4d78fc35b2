"""Builders shared by the store tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from arxdeploy.domain.decide import Route
from arxdeploy.domain.events import Deployment
from arxdeploy.domain.states import Color, Kind
from arxdeploy.ports import LockHolder

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def deployment(
    id: str,
    *,
    service: str = "shop",
    environment: str = "production",
    version: str = "v2",
    created: float = 0,
    new_color: Color = Color.GREEN,
    old_color: Color | None = Color.BLUE,
    kind: Kind = Kind.DEPLOY,
) -> Deployment:
    return Deployment(
        id=id,
        service=service,
        environment=environment,
        version=version,
        previous_version="v1",
        new_color=new_color,
        old_color=old_color,
        created_at=at(created),
        kind=kind,
        requested_by="ana@laptop",
        reason="release",
        git_ref="main",
        git_sha="0123abcd",
        actor="ana-gh",
        run_url="https://github.com/arxos/shop/actions/runs/42",
        critical=False,
        route=Route(),
    )


def holder(deployment_id: str, *, acquired: float, ttl: float = 60, pid: int = 4242) -> LockHolder:
    return LockHolder(
        deployment_id=deployment_id,
        owner="ana@laptop",
        host="laptop",
        pid=pid,
        acquired_at=at(acquired),
        expires_at=at(acquired + ttl),
    )
