"""The engine drives ``KubernetesTarget`` through whole deployments on the emulator.

Health checks are the real ``HttpHealthProbe`` carrying what the API server's proxy needs
(``probe_auth``, ``probe_verify``), as the bootstrap wires it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.apps_v1 import Deployment
from lightkube.resources.core_v1 import Namespace, Secret

from arxdeploy.backup.stored import StoredBackups
from arxdeploy.domain.events import Event
from arxdeploy.domain.states import Color, State
from arxdeploy.engine.run import Engine
from arxdeploy.errors import TransientTargetError
from arxdeploy.targets.kubernetes import kinds
from arxdeploy.targets.kubernetes.target import KubernetesTarget
from tests.drive import deploy, rollback
from tests.fixtures.kube import Cluster
from tests.kubernetes.engines import engine_on, quick_plan, serve_app

ENV = "staging"
BAD_IMAGE = "ghcr.io/arxos/arxos-backend:{}"
NETWORK_POLICY = kinds.kind_of("NetworkPolicy")

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("ARXDEPLOY_TEST_KUBECONFIG")), reason="needs the emulator's service proxy backends"
)


PLAN = quick_plan(replicas=2)


@pytest.fixture
def engine(
    target: KubernetesTarget, cluster: Cluster, app_url: str, tmp_path: Path, backups: StoredBackups
) -> Iterator[Engine]:
    serve_app(cluster.need_emulator(), target, app_url)
    made, health = engine_on(target, tmp_path, backups=backups)
    yield made
    health.close()


def test_deploy_then_blue_green_then_a_crash_loop_fails_fast(
    engine: Engine, target: KubernetesTarget, cluster: Cluster
) -> None:
    first, view = deploy(engine, plan=PLAN, version="1.0")
    assert view.state is State.SUCCEEDED, view.failure
    assert first.new_color is Color.BLUE
    assert target.inspect(environment=ENV).live_version == "1.0"

    second, view = deploy(engine, plan=PLAN, version="1.1")
    assert view.state is State.SUCCEEDED, view.failure
    state = target.inspect(environment=ENV)
    assert (state.live_color, state.live_version) == (Color.GREEN, "1.1")
    assert list(state.colors) == [Color.GREEN]  # blue retired
    assert [
        name for name in engine.backups.target_part(backup_id=second.id).files if name.startswith("deployment-")
    ] == ["deployment-arxos-blue.yaml"]

    cluster.need_emulator().set_behaviour("crashloop", image=BAD_IMAGE.format("1.2"))
    _third, view = deploy(engine, plan=PLAN, version="1.2")
    assert view.state is State.FAILED
    assert view.failure is not None
    # Failed fast, on the crash loop, not at the progress deadline, naming it and its events.
    assert view.failure.reason.startswith("blue (1.2) cannot run: CrashLoopBackOff: pod arxos-blue-")
    assert "events: BackOff: Back-off restarting failed container arxos" in view.failure.reason
    state = target.inspect(environment=ENV)
    assert (state.live_color, state.live_version) == (Color.GREEN, "1.1")
    assert list(state.colors) == [Color.GREEN]  # the failed color was cleaned up


def test_rollback_without_a_warm_color_restores_what_ran_from_the_backup(
    engine: Engine, target: KubernetesTarget, cluster: Cluster
) -> None:
    deploy(engine, plan=PLAN, version="1.0")
    deploy(engine, plan=PLAN, version="1.1")  # blue (1.0) retired: scale_down_delay is 0
    assert list(target.inspect(environment=ENV).colors) == [Color.GREEN]

    # The config changed since 1.0 ran: a rollback must bring back what ran, not what it says now.
    moved = KubernetesTarget(spec=replace(target.spec, image="registry.example/moved:{version}"))
    with moved:
        back, view = rollback(replace(engine, target=moved), plan=PLAN, to_version=None)
    assert view.state is State.SUCCEEDED, view.failure
    assert back.version == "1.0"
    blue = target.connection.client.get(Deployment, "arxos-blue", namespace=target.spec.namespace_for(ENV))
    assert blue.spec is not None and blue.spec.template.spec is not None
    assert blue.spec.template.spec.containers[0].image == BAD_IMAGE.format("1.0")  # the backup's, not "moved"
    state = target.inspect(environment=ENV)
    assert (state.live_color, state.live_version) == (Color.BLUE, "1.0")


def test_api_503s_during_monitoring_are_retried_and_a_failed_round_is_not_a_rollback(
    engine: Engine, cluster: Cluster
) -> None:
    kube = cluster.need_emulator()
    deploy(engine, plan=PLAN, version="1.0")
    pods = f"/api/v1/namespaces/{engine.target.spec.namespace_for(ENV)}/pods"  # type: ignore[attr-defined]

    said: list[str] = []

    def outage(d: object, event: Event) -> None:
        if event.type == "progress":
            said.append(str(event.data["message"]))
        if event.type == "state" and event.data["state"] == "monitoring":
            # Each round lists the pods; the first round gets every attempt refused (a failed
            # round, 1 of 3), the next one a single 503 that its retry gets past.
            kube.inject_fault(503, times=TransientTargetError.retry_attempts + 1, method="GET", path=pods)

    plan = replace(PLAN, monitoring_duration=timedelta(seconds=6))
    _, view = deploy(replace(engine, hooks=[outage]), plan=plan, version="1.1")

    assert view.state is State.SUCCEEDED, view.failure
    assert kube.pending_faults() == 0
    assert any(m.startswith("monitoring: 1/3 failed rounds") for m in said), said
    assert sum("503" in m and "trying again" in m for m in said) == TransientTargetError.retry_attempts
    state = engine.target.inspect(environment=ENV)
    assert (state.live_color, state.live_version) == (Color.GREEN, "1.1")


def namespace_contents(cluster: Cluster, ns: str) -> tuple[bool, list[tuple[str, str]]]:
    kube = cluster.need_emulator()
    kinds = ("configmaps", "secrets", "services", "networkpolicies", "deployments", "horizontalpodautoscalers")
    found = sorted((plural, o["metadata"]["name"]) for plural in kinds for o in kube.objects(plural, ns))
    return kube.get("namespaces", None, ns) is not None, found


def test_a_failed_first_deploy_removes_what_it_created_down_to_the_namespace(
    engine: Engine, target: KubernetesTarget, cluster: Cluster
) -> None:
    ns = target.spec.namespace_for(ENV)
    cluster.need_emulator().set_behaviour("crashloop", image=BAD_IMAGE.format("1.0-crash"))
    assert namespace_contents(cluster, ns) == (False, [])
    _, view = deploy(engine, plan=PLAN, version="1.0-crash")
    assert view.state is State.FAILED
    cleanup = view.steps[-1]
    assert cleanup.step == "cleanup"
    assert cleanup.detail == (
        "blue (1.0-crash) removed; also removed what it set up: Service arxos, Service arxos-preview, "
        f"NetworkPolicy arxos-ingress, Namespace {ns}"
    )
    assert namespace_contents(cluster, ns) == (False, [])


def test_a_failed_first_deploy_keeps_the_namespace_and_every_object_that_was_there_before(
    engine: Engine, target: KubernetesTarget, cluster: Cluster
) -> None:
    ns = target.spec.namespace_for(ENV)
    client = target.connection.client
    cluster.need_emulator().set_behaviour("crashloop", image=BAD_IMAGE.format("1.0-crash"))
    # An admin made the namespace, a Secret the app reads and the ingress policy beforehand.
    client.create(Namespace(metadata=ObjectMeta(name=ns)))
    client.create(Secret(metadata=ObjectMeta(name="arxos-db", namespace=ns), stringData={"password": "x"}))
    policy = {"podSelector": {"matchLabels": {"app": "arxos"}}, "policyTypes": ["Ingress"]}
    client.create(NETWORK_POLICY({"metadata": {"name": "arxos-ingress", "namespace": ns}, "spec": policy}))
    before = namespace_contents(cluster, ns)
    _, view = deploy(engine, plan=PLAN, version="1.0-crash")
    assert view.state is State.FAILED
    assert view.steps[-1].detail == (
        "blue (1.0-crash) removed; also removed what it set up: Service arxos, Service arxos-preview"
    )
    assert namespace_contents(cluster, ns) == before
