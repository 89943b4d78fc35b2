"""The implementations of ``Target`` under contract, each with a way to watch it from outside.

``subject`` runs every test of this folder four times: against the fake, the local target (a
real runtime, real processes: the echo app) and the Kubernetes target (on the session's API
emulator), there once with its default Service switch and once with a Gateway API HTTPRoute.
A subject's ``footprint()`` is what the environment is, read without going through the target;
tests compare it around the calls that must change nothing.
"""

from __future__ import annotations

import contextlib
import copy
import sys
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import pytest
from lightkube import ApiError
from lightkube.resources.core_v1 import Namespace

from arxdeploy.ports import Target
from arxdeploy.targets.kubernetes.manifests import image_for
from arxdeploy.targets.kubernetes.spec import GATEWAY_ROUTER, GatewaySpec, spec_from_config
from arxdeploy.targets.kubernetes.target import KubernetesTarget
from arxdeploy.targets.local.client import LocalTarget, read_runtime
from arxdeploy.testing.clock import ManualClock
from arxdeploy.testing.kube import KubeEmulator
from arxdeploy.testing.kube.resources import RESOURCES
from arxdeploy.testing.target import FakeTarget
from tests.fixtures.kube import Cluster, load_seed, own_namespace
from tests.fixtures.local import ECHO_APP, ENV, Local, answers, local_setup
from tests.support import wait_until

__all__ = ["ENV", "Subject"]


class Subject(Protocol):
    @property
    def target(self) -> Target: ...

    def footprint(self) -> object:
        """The environment as seen from outside the target; equal before and after a read."""
        ...

    def settle(self) -> None:
        """Wait until what was started stops changing on its own (replicas coming up, rollouts)."""
        ...

    def never_starts(self, version: str) -> None:
        """Make ``version`` crash as soon as it starts (the fake and the echo app crash on any
        version named ``*crash*``; the emulator needs telling)."""
        ...

    def set_up(self) -> object:
        """What is set up for the environment besides its colors, read from outside the target:
        the namespace and the objects in it; the runtime's router; the fake's record of it."""
        ...


@dataclass
class FakeSubject:
    target: FakeTarget

    def footprint(self) -> object:
        return copy.deepcopy(self.target.colors.get(ENV, {})), self.target.live.get(ENV)

    def settle(self) -> None:
        pass  # nothing moves on its own in the fake

    def never_starts(self, version: str) -> None:
        assert "crash" in version

    def set_up(self) -> object:
        return ENV in self.target.set_up


@dataclass
class LocalSubject:
    local: Local
    target: LocalTarget

    def footprint(self) -> object:
        """The processes this test started (runtime, replicas) and the runtime's own account, if one runs."""
        pids = sorted(process.pid for process in self.local.processes())
        if read_runtime(self.local.state_dir) is None:
            return pids, None
        return pids, self.local.control("GET", f"/v1/environments/{ENV}").json()

    def settle(self) -> None:
        for color in self.target.inspect(environment=ENV).colors.values():
            for replica in color.replicas:
                wait_until(lambda: answers(replica.url), what=f"{replica.url} to answer")  # noqa: B023 (called at once)

    def never_starts(self, version: str) -> None:
        assert "crash" in version

    def set_up(self) -> object:
        if read_runtime(self.local.state_dir) is None:
            return None
        return self.local.control("GET", f"/v1/environments/{ENV}").json()["listen"]


@dataclass
class KubeSubject:
    kube: KubeEmulator
    target: KubernetesTarget

    @property
    def namespace(self) -> str:
        return self.target.spec.namespace_for(ENV)

    def footprint(self) -> object:
        """The resourceVersion of the namespace and of every object in it: any write changes one."""
        namespace = self.kube.get("namespaces", None, self.namespace)
        found: dict[tuple[str, str], Any] = {("namespaces", self.namespace): namespace and _version(namespace)}
        for resource in RESOURCES:
            if resource.namespaced:
                for obj in self.kube.objects(resource.plural, self.namespace):
                    found[resource.plural, obj["metadata"]["name"]] = _version(obj)
        return found

    def settle(self) -> None:
        """Every rollout complete: the emulator's controller then writes nothing more."""

        def done() -> bool:
            return all(_rolled_out(d) for d in self.kube.objects("deployments", self.namespace))

        wait_until(done, what=f"the rollouts in {self.namespace}")

    def never_starts(self, version: str) -> None:
        self.kube.set_behaviour("crashloop", image=image_for(self.target.spec, version))

    def set_up(self) -> object:
        """Whether the namespace exists, and the objects arxdeploy could have made in it."""
        made = {"configmaps", "services", "networkpolicies", "deployments", "horizontalpodautoscalers", "secrets"}
        made.add("httproutes")  # traffic_router: gateway
        found: set[tuple[str, str]] = set()
        for plural in sorted(made | {"poddisruptionbudgets"}):
            found |= {(plural, o["metadata"]["name"]) for o in self.kube.objects(plural, self.namespace)}
        return self.kube.get("namespaces", None, self.namespace) is not None, sorted(found)


def _version(obj: dict[str, Any]) -> str:
    return str(obj["metadata"]["resourceVersion"])


def _rolled_out(deployment: dict[str, Any]) -> bool:
    status, wanted = deployment.get("status") or {}, deployment["spec"]["replicas"]
    observed = status.get("observedGeneration") == deployment["metadata"]["generation"]
    counts = {status.get(key, 0) for key in ("replicas", "updatedReplicas", "availableReplicas")}
    return observed and counts == {wanted}


@contextlib.contextmanager
def _fake() -> Iterator[Subject]:
    yield FakeSubject(FakeTarget(clock=ManualClock()))


@contextlib.contextmanager
def _local(tmp_path: Path) -> Iterator[Subject]:
    with local_setup(tmp_path, command=(sys.executable, str(ECHO_APP), "--port", "{port}")) as local:
        yield LocalSubject(local, local.target())


@contextlib.contextmanager
def _kubernetes(tmp_path: Path, cluster: Cluster, test_id: str, *, gateway: bool = False) -> Iterator[Subject]:
    kube = cluster.need_emulator()  # the footprint reads resourceVersions from the emulator's store
    seed = load_seed(tmp_path)
    spec = own_namespace(spec_from_config(seed.config, base_dir=seed.base_dir), cluster, test_id)
    if gateway:
        spec = replace(spec, traffic_router=GATEWAY_ROUTER, gateway=GatewaySpec(name="edge"))
    with KubernetesTarget(
        spec=spec,
    ) as target:
        yield KubeSubject(kube, target)
        with contextlib.suppress(ApiError):  # none if nothing was started: lighter for the session's emulator
            target.connection.client.delete(Namespace, spec.namespace_for(ENV))


@pytest.fixture(params=["fake", "local", "kubernetes", "kubernetes-gateway"])
def subject(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Subject]:
    if request.param == "fake":
        made = _fake()
    elif request.param == "local":
        made = _local(tmp_path)
    else:  # the emulator is started once per session, and only when a test needs it
        gateway = request.param == "kubernetes-gateway"
        made = _kubernetes(tmp_path, request.getfixturevalue("cluster"), request.node.nodeid, gateway=gateway)
    with made as subject:
        yield subject
