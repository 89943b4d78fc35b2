"""An engine over the Kubernetes target as the bootstrap wires one, for the tests that drive
whole deployments on the emulator: the real HTTP checks with the target's own access (the API
server's proxy, its CA and credentials), an in-memory record, leases of one runner."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

from arxdeploy.clock import SystemClock
from arxdeploy.domain.plan import CheckPolicy, EnvironmentPlan
from arxdeploy.engine.locks import Identity, Leases
from arxdeploy.engine.run import Engine
from arxdeploy.health import Access, HttpHealthProbe
from arxdeploy.ports import Backups
from arxdeploy.targets.kubernetes.target import KubernetesTarget
from arxdeploy.testing.backups import MemoryBackups
from arxdeploy.testing.kube import KubeEmulator
from arxdeploy.testing.store import MemoryStore

ENV = "staging"


def quick_plan(*, replicas: int, monitoring: float = 0.5) -> EnvironmentPlan:
    """``arxos`` in staging with fast rounds: no delays, checks every 0.1 s, 20 s deadlines."""
    return EnvironmentPlan(
        service="arxos",
        environment=ENV,
        replicas=replicas,
        monitoring_duration=timedelta(seconds=monitoring),
        rollback_timeout=timedelta(seconds=20),
        traffic_switch_delay=timedelta(0),
        scale_down_delay=timedelta(0),
        checks=CheckPolicy(
            interval=timedelta(seconds=0.1),
            timeout=timedelta(seconds=2),
            success_threshold=2,
            failure_threshold=3,
            progress_deadline=timedelta(seconds=20),
        ),
    )


def serve_app(kube: KubeEmulator, target: KubernetesTarget, app_url: str) -> None:
    """The live and preview Services of the environment answer as the app at ``app_url``."""
    ns = target.spec.namespace_for(ENV)
    for service in ("arxos", "arxos-preview"):
        kube.register_service_backend(ns, service, app_url)


def engine_on(
    target: KubernetesTarget, tmp_path: Path, *, backups: Backups | None = None
) -> tuple[Engine, HttpHealthProbe]:
    """An engine as the bootstrap wires one; close the probe when done."""
    health = HttpHealthProbe(
        endpoints=["/health"],
        cwd=tmp_path,
        environ={},
        access=lambda: Access(verify=target.probe_verify(), auth=target.probe_auth(), proxy=target.probe_proxy()),
    )
    clock, store = SystemClock(), MemoryStore()
    leases = Leases(
        store=store, clock=clock, me=Identity(user="ana", host="ci-1", pid=os.getpid()), is_alive=lambda _: True
    )
    engine = Engine(
        store=store,
        target=target,
        health=health,
        clock=clock,
        leases=leases,
        new_id=lambda now: f"d{time.time_ns()}",
        backups=backups or MemoryBackups(clock),
    )
    return engine, health
