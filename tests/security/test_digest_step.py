"""The cluster gates in the security runner, turned on: a real registry, the emulator, checkov.

The runner hands each gate what its ``check`` names (the wiring's ``target``, ``loaded`` and
``snapshot`` among them) and the digest the image_digest gate resolved to the gates after it."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from arxdeploy.clock import SystemClock
from arxdeploy.config.snapshot import take
from arxdeploy.domain.security import Status
from arxdeploy.security.compliance import checkov_command
from arxdeploy.security.network import NETWORK_POLICIES
from arxdeploy.security.runner import Gates
from arxdeploy.targets.kubernetes import manifests
from arxdeploy.targets.kubernetes.rest import SECRETS, Objects
from arxdeploy.targets.kubernetes.target import KubernetesTarget
from arxdeploy.testing.registry import RegistryServer, oci_registry
from tests.fixtures.kube import SEED_K8S, Cluster, make_namespace, on_cluster

ON = """\
security:
  image_digest: {{enabled: true, pull_secret: registry-login, insecure_registries: ['{host}']}}
  secrets: {{enabled: true}}
  network_policy: {{enabled: true}}
  compliance: {{enabled: true}}
"""


@pytest.fixture(scope="module")
def registry() -> Iterator[RegistryServer]:
    with oci_registry() as server:
        yield server


@pytest.mark.skipif(checkov_command() is None, reason="checkov: scripts/install-test-deps.sh")
def test_the_runner_runs_the_cluster_gates_in_order_and_prepares_the_target_with_the_digest(
    registry: RegistryServer, cluster: Cluster, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    pushed = registry.push("arxos/backend", "3.0", content=b"three")
    text = SEED_K8S.replace("ghcr.io/arxos/arxos-backend", f"{registry.host}/arxos/backend") + ON.format(
        host=registry.host
    )
    loaded, spec = on_cluster(tmp_path, cluster, request.node.nodeid, text)
    namespace = spec.namespace_for("staging")
    make_namespace(cluster.kubeconfig, namespace)
    objects = Objects.from_kubeconfig(kubeconfig=cluster.kubeconfig, context=None, environ={})
    login = base64.b64encode(json.dumps(registry.docker_config()).encode()).decode()
    secret = {"metadata": {"name": "registry-login"}, "type": "kubernetes.io/dockerconfigjson"}
    objects.create(SECRETS, namespace, {**secret, "data": {".dockerconfigjson": login}})
    with KubernetesTarget(spec=spec) as target:

        def gates() -> Gates:
            return Gates(
                config=loaded.config, base_dir=loaded.base_dir, environ={"PATH": ""}, clock=SystemClock(),
                image_of=lambda version: manifests.image_for(target.spec, version),
                extra={"loaded": loaded, "snapshot": take(loaded), "target": target},
            )  # fmt: skip

        results = {r.gate: r for r in gates().run(environment="staging", version="3.0")}
        assert list(results) == ["image_digest", "vulnerabilities", "secrets", "network_policy", "tls", "compliance"]
        assert results["image_digest"].status is Status.PASSED, results["image_digest"]
        assert results["image_digest"].facts["digest"] == pushed
        assert results["secrets"].status is Status.PASSED, results["secrets"].findings
        assert results["compliance"].status is Status.PASSED, results["compliance"].findings
        assert results["compliance"].facts["allowed"] == ["CKV_K8S_40"]  # the digest is pinned: CKV_K8S_43 passes
        assert [f.rule for f in results["network_policy"].findings] == ["network.default-deny"]
        # the gates changed nothing; before the deploy step starts the color, the runner pins
        assert target.spec.pinned == {}
        gates().prepare(deployment=None, results=list(results.values()))  # type: ignore[arg-type]
        (deployment,) = [o for o in manifests.color_objects(target.spec, "staging", manifests.Color.BLUE, "3.0")
                         if o["kind"] == "Deployment"]  # fmt: skip
        assert manifests.pod_spec_of(deployment)["containers"][0]["image"] == f"{registry.host}/arxos/backend@{pushed}"
        deny: dict[str, Any] = {"metadata": {"name": "default-deny"}, "spec": {"podSelector": {}}}
        objects.create(NETWORK_POLICIES, namespace, deny)
        again = {r.gate: r for r in gates().run(environment="staging", version="3.0")}
        assert again["network_policy"].status is Status.PASSED, again["network_policy"].findings
        assert again["network_policy"].facts["default_deny"] == ["default-deny"]
    objects.close()


def test_a_deployment_resumed_by_another_process_runs_the_digest_recorded_before_the_approvals(
    tmp_path: Path,
) -> None:
    """The engine's deploy step asks the gates to prepare the target from the record: the process
    that resumes after the approvals never ran the gates, and still runs the approved digest."""
    import dataclasses
    from datetime import timedelta
    from types import SimpleNamespace

    from arxdeploy.domain.approvals import ApprovalPolicy, Verdict
    from arxdeploy.domain.security import GateResult
    from arxdeploy.domain.states import State
    from arxdeploy.engine.gate import Approvals
    from arxdeploy.targets.kubernetes.spec import EnvSpec, KubeSpec
    from arxdeploy.testing.backups import MemoryBackups
    from arxdeploy.testing.clock import ManualClock
    from arxdeploy.testing.store import MemoryStore
    from arxdeploy.testing.target import FakeHealth, FakeTarget
    from tests.drive import deploy
    from tests.engine.conftest import PLAN, World
    from tests.security.evidence import config

    digest = "sha256:" + "ab" * 32
    ran: list[str] = []

    def resolved(*, image: str) -> GateResult:  # the registry's answer, as the gate gives it
        ran.append(image)
        facts = {"digest": digest, "image": image, "pinned": {image: f"reg.example.com/demo-api@{digest}"}}
        return GateResult("image_digest", Status.PASSED, f"{image} is {digest}", facts=facts)

    def gates_of(holder: Any, clock: ManualClock) -> Gates:
        return Gates(
            config=config(security={"image_digest": {"enabled": True}}, name="staging"), base_dir=tmp_path,
            environ={}, clock=clock, image_of=lambda version: f"reg.example.com/demo-api:{version}",
            extra={"target": holder}, gates=[("image_digest", resolved)],
        )  # fmt: skip

    def fresh() -> Any:  # a process's Kubernetes target, its spec from the config alone
        return SimpleNamespace(spec=KubeSpec(service="demo-api", environments={"staging": EnvSpec(replicas=2)},
                                             image="reg.example.com/demo-api:{version}"))  # fmt: skip

    clock = ManualClock()
    target = FakeTarget(clock=clock)
    world = World(clock, target, FakeHealth(target), MemoryStore(), MemoryBackups(clock))
    policy = ApprovalPolicy(required=True, approvers=("bo@example.com",), timeout=timedelta(minutes=30))
    plan = dataclasses.replace(PLAN, approval=policy)
    asking = world.engine(pid=100)
    asking.security = gates_of(fresh(), clock)
    d, view = deploy(asking, plan=plan, version="v2", wait=False)
    assert view.state is State.AWAITING_APPROVAL and ran == ["reg.example.com/demo-api:v2"]
    Approvals(store=world.store, clock=clock).decide(
        deployment_id=d.id, who="bo@example.com", verdict=Verdict.APPROVE, via="server"
    )
    resuming, holder = world.engine(pid=200), fresh()
    resuming.security = gates_of(holder, clock)
    done = resuming.resume(plan=plan, deployment_id=d.id)
    assert done.state is State.SUCCEEDED
    assert ran == ["reg.example.com/demo-api:v2"]  # the gates did not run again
    assert holder.spec.pinned == {"reg.example.com/demo-api:v2": f"reg.example.com/demo-api@{digest}"}
    assert manifests.image_for(holder.spec, "v2") == f"reg.example.com/demo-api@{digest}"
