"""``traffic_router: gateway``: the Kubernetes target switches and splits traffic through a Gateway
API HTTPRoute's backend weights, on the API emulator over real HTTPS; the split is measured at the
emulator's Gateway front door, through real HTTP servers standing in for each color's pods."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest
from lightkube.resources.core_v1 import Service

from arxdeploy.domain.states import Color
from arxdeploy.errors import TargetError, UsageError
from arxdeploy.targets.kubernetes import kinds, manifests
from arxdeploy.targets.kubernetes.diff import diff
from arxdeploy.targets.kubernetes.spec import GATEWAY_ROUTER, GatewaySpec, KubeSpec
from arxdeploy.targets.kubernetes.target import KubernetesTarget
from arxdeploy.testing.kube import KubeEmulator
from tests.fixtures.kube import Cluster
from tests.support import named_servers, wait_until

from .test_target import ENV, ready

ROUTE = kinds.kind_of("HTTPRoute")
GATEWAY = kinds.resource(
    {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "edge"},
        "spec": {"gatewayClassName": "example", "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]},
    }
)
REQUESTS = 1000


@pytest.fixture(scope="module")
def pods() -> Iterator[dict[Color, str]]:
    """One real HTTP server per color, answering with the color's name."""
    with named_servers(color.value for color in Color) as urls:
        yield {Color(name): url for name, url in urls.items()}


@pytest.fixture
def gateway_spec(k8s_spec: KubeSpec) -> KubeSpec:
    return replace(k8s_spec, traffic_router=GATEWAY_ROUTER, gateway=GatewaySpec(name="edge", path="/"))


@pytest.fixture
def target(gateway_spec: KubeSpec) -> Iterator[KubernetesTarget]:
    with KubernetesTarget(spec=gateway_spec) as made:
        yield made


def route(target: KubernetesTarget) -> dict[str, Any]:
    found: dict[str, Any] = target.connection.client.get(
        ROUTE, manifests.route_name(target.spec), namespace=target.spec.namespace_for(ENV)
    ).to_dict()
    return found


def backend_weights(target: KubernetesTarget) -> dict[str, int]:
    return {ref["name"]: ref["weight"] for ref in route(target)["spec"]["rules"][0]["backendRefs"]}


def route_patches(kube: KubeEmulator, target: KubernetesTarget) -> int:
    ns = target.spec.namespace_for(ENV)
    return kube.calls[f"PATCH /apis/gateway.networking.k8s.io/v1/namespaces/{ns}/httproutes/arxos"]


def two_colors(target: KubernetesTarget, cluster: Cluster, pods: dict[Color, str]) -> KubeEmulator:
    """Blue 1.0 live, green 2.0 running; the colors' pods answer at ``pods``; a Gateway ``edge``."""
    kube = cluster.need_emulator()
    ns = target.spec.namespace_for(ENV)
    target.start_color(environment=ENV, color=Color.BLUE, version="1.0", replicas=2)
    ready(target, Color.BLUE, "1.0")
    target.switch(environment=ENV, color=Color.BLUE)
    target.start_color(environment=ENV, color=Color.GREEN, version="2.0", replicas=2)
    ready(target, Color.GREEN, "2.0")
    for color, url in pods.items():
        kube.register_pod_backend(ns, url, selector=f"app=arxos,color={color.value}")
    target.connection.client.create(GATEWAY, namespace=ns)  # what the cluster's admin provides
    wait_until(lambda: _accepted(route(target)), what="the route to be accepted by its Gateway")
    return kube


def _accepted(found: dict[str, Any]) -> bool:
    return any(
        c["type"] == "Accepted" and c["status"] == "True"
        for p in (found.get("status") or {}).get("parents") or []
        for c in p["conditions"]
    )


def measured(kube: KubeEmulator, target: KubernetesTarget, requests: int = REQUESTS) -> Counter[str]:
    """Where ``requests`` requests to the Gateway's front door went, by the color that answered."""
    door = kube.gateway_url(target.spec.namespace_for(ENV), "edge")
    with httpx.Client(base_url=door, timeout=10) as client:
        answers = [client.get("/") for _ in range(requests)]
    assert {a.status_code for a in answers} == {200}
    return Counter(a.text for a in answers)


def test_a_first_start_makes_a_service_per_color_and_a_route_taking_no_traffic(target: KubernetesTarget) -> None:
    target.start_color(environment=ENV, color=Color.BLUE, version="1.0", replicas=2)
    client, ns = target.connection.client, target.spec.namespace_for(ENV)
    services = {s.metadata.name: s.spec.selector for s in client.list(Service, namespace=ns)}
    assert services == {
        "arxos-blue": {"app": "arxos", "color": "blue"},
        "arxos-green": {"app": "arxos", "color": "green"},
        "arxos-preview": {"app": "arxos", "color": "blue"},
    }  # no live Service: the route says what is live
    made = route(target)
    assert made["metadata"]["annotations"][manifests.LIVE_ANNOTATION] == "none"
    assert made["spec"]["parentRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "edge"}]
    assert made["spec"]["rules"][0]["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
    assert backend_weights(target) == {"arxos-blue": 0, "arxos-green": 0}
    state = ready(target, Color.BLUE, "1.0")
    assert state.live_color is None and state.live_url is None
    assert target.weights(environment=ENV) == {}


def test_switch_is_one_guarded_route_patch_and_again_a_no_op(target: KubernetesTarget, cluster: Cluster) -> None:
    kube = cluster.need_emulator()
    target.start_color(environment=ENV, color=Color.BLUE, version="1.0", replicas=2)
    ready(target, Color.BLUE, "1.0")
    before = route_patches(kube, target)
    target.switch(environment=ENV, color=Color.BLUE)
    target.switch(environment=ENV, color=Color.BLUE)
    assert route_patches(kube, target) == before + 1
    assert backend_weights(target) == {"arxos-blue": 100, "arxos-green": 0}
    state = target.inspect(environment=ENV)
    assert (state.live_color, state.live_version) == (Color.BLUE, "1.0")
    ns = target.spec.namespace_for(ENV)
    assert state.live_url == f"{target.connection.server}/api/v1/namespaces/{ns}/services/arxos-blue:http/proxy"
    assert target.weights(environment=ENV) == {Color.BLUE: 100}
    target.switch(environment=ENV, color=None)
    assert backend_weights(target) == {"arxos-blue": 0, "arxos-green": 0}
    assert target.inspect(environment=ENV).live_color is None


@pytest.mark.parametrize("weight", [10, 50, 90])
def test_set_weight_splits_requests_at_the_gateway_as_asked(
    target: KubernetesTarget, cluster: Cluster, pods: dict[Color, str], weight: int
) -> None:
    kube = two_colors(target, cluster, pods)
    assert measured(kube, target, 100) == Counter(blue=100)
    target.set_weight(environment=ENV, color=Color.GREEN, weight=weight)
    assert backend_weights(target) == {"arxos-blue": 100 - weight, "arxos-green": weight}
    assert target.weights(environment=ENV) == {Color.BLUE: 100 - weight, Color.GREEN: weight}
    assert target.inspect(environment=ENV).live_color is Color.BLUE  # a split does not change what is live
    counted = measured(kube, target)
    share = 100 * counted["green"] / REQUESTS
    assert abs(share - weight) <= 3, counted


def test_weight_zero_ends_the_split_and_a_switch_moves_everything(
    target: KubernetesTarget, cluster: Cluster, pods: dict[Color, str]
) -> None:
    kube = two_colors(target, cluster, pods)
    target.set_weight(environment=ENV, color=Color.GREEN, weight=30)
    target.set_weight(environment=ENV, color=Color.GREEN, weight=0)
    assert measured(kube, target, 200) == Counter(blue=200)
    target.set_weight(environment=ENV, color=Color.GREEN, weight=30)
    target.switch(environment=ENV, color=Color.GREEN)
    assert backend_weights(target) == {"arxos-blue": 0, "arxos-green": 100}
    assert measured(kube, target, 200) == Counter(green=200)
    assert target.inspect(environment=ENV).live_color is Color.GREEN


def test_set_weight_again_writes_nothing(target: KubernetesTarget, cluster: Cluster, pods: dict[Color, str]) -> None:
    kube = two_colors(target, cluster, pods)
    target.set_weight(environment=ENV, color=Color.GREEN, weight=25)
    before = route_patches(kube, target)
    target.set_weight(environment=ENV, color=Color.GREEN, weight=25)
    assert route_patches(kube, target) == before


def test_refusals_name_the_color_and_change_nothing(
    target: KubernetesTarget, cluster: Cluster, pods: dict[Color, str]
) -> None:
    target.start_color(environment=ENV, color=Color.BLUE, version="1.0", replicas=2)
    ready(target, Color.BLUE, "1.0")
    version = route(target)["metadata"]["resourceVersion"]
    with pytest.raises(TargetError, match=f"nothing is live in {ENV}"):
        target.set_weight(environment=ENV, color=Color.BLUE, weight=10)
    with pytest.raises(TargetError, match=f"{ENV}/green has no running replica"):
        target.set_weight(environment=ENV, color=Color.GREEN, weight=10)
    target.switch(environment=ENV, color=Color.BLUE)
    version = route(target)["metadata"]["resourceVersion"]
    with pytest.raises(TargetError, match=f"blue is live in {ENV}"):
        target.set_weight(environment=ENV, color=Color.BLUE, weight=10)
    for bad in (101, -1, True):
        with pytest.raises(UsageError, match="is not a percentage"):
            target.set_weight(environment=ENV, color=Color.GREEN, weight=bad)
    assert route(target)["metadata"]["resourceVersion"] == version


def test_a_write_in_between_is_read_again_not_overwritten(
    target: KubernetesTarget, cluster: Cluster, pods: dict[Color, str]
) -> None:
    """The route changes between the target's read and its patch: the patch carries the
    resourceVersion it read, the API server answers 409, and the target reads and decides again."""
    kube = two_colors(target, cluster, pods)
    ns = target.spec.namespace_for(ENV)
    client = target.connection.client
    real_patch = client.patch
    interfered: list[int] = []

    def someone_else_first(*args: Any, **kwargs: Any) -> Any:
        if args[0] is ROUTE and not interfered:  # another writer labels the route meanwhile
            interfered.append(1)
            other = {"metadata": {"labels": {"team": "edge"}}}
            real_patch(ROUTE, "arxos", other, namespace=ns, patch_type=kwargs["patch_type"])
        return real_patch(*args, **kwargs)

    before = route_patches(kube, target)
    client.patch = someone_else_first  # type: ignore[method-assign]
    try:
        target.set_weight(environment=ENV, color=Color.GREEN, weight=20)
    finally:
        client.patch = real_patch  # type: ignore[method-assign]
    assert route_patches(kube, target) == before + 3  # the other writer's, the refused one, the retry
    found = route(target)
    assert found["metadata"]["labels"]["team"] == "edge"  # the other write stands
    assert backend_weights(target) == {"arxos-blue": 80, "arxos-green": 20}


def test_reads_change_nothing(target: KubernetesTarget, cluster: Cluster, pods: dict[Color, str]) -> None:
    kube = two_colors(target, cluster, pods)
    target.set_weight(environment=ENV, color=Color.GREEN, weight=10)
    version = route(target)["metadata"]["resourceVersion"]
    writes = sum(n for call, n in kube.calls.items() if not call.startswith("GET "))
    target.inspect(environment=ENV)
    target.weights(environment=ENV)
    exported = target.export(environment=ENV)
    assert sum(n for call, n in kube.calls.items() if not call.startswith("GET ")) == writes
    assert route(target)["metadata"]["resourceVersion"] == version
    assert "HTTPRoute/arxos" in exported.facts["objects"]
    assert "httproute-arxos.yaml" in exported.files


def test_stopping_the_weighted_color_takes_its_weight_away_first(
    target: KubernetesTarget, cluster: Cluster, pods: dict[Color, str]
) -> None:
    kube = two_colors(target, cluster, pods)
    target.set_weight(environment=ENV, color=Color.GREEN, weight=40)
    target.stop_color(environment=ENV, color=Color.GREEN, drain_timeout=timedelta(seconds=1))
    assert backend_weights(target) == {"arxos-blue": 100, "arxos-green": 0}
    assert measured(kube, target, 100) == Counter(blue=100)
    assert Color.GREEN not in target.inspect(environment=ENV).colors


def test_a_failed_first_start_removes_the_route_and_the_color_services(target: KubernetesTarget) -> None:
    before = target.export(environment=ENV).facts
    target.start_color(environment=ENV, color=Color.BLUE, version="1.0", replicas=2)
    target.stop_color(environment=ENV, color=Color.BLUE, drain_timeout=timedelta(seconds=1))
    removed = target.remove_created(environment=ENV, before=before)
    assert {"HTTPRoute arxos", "Service arxos-blue", "Service arxos-green", "Service arxos-preview"} <= set(removed)


def test_without_a_gateway_a_split_is_refused_with_the_way_to_get_one(k8s_spec: KubeSpec) -> None:
    with KubernetesTarget(spec=k8s_spec) as plain:
        plain.start_color(environment=ENV, color=Color.BLUE, version="1.0", replicas=2)
        ready(plain, Color.BLUE, "1.0")
        plain.switch(environment=ENV, color=Color.BLUE)
        plain.set_weight(environment=ENV, color=Color.GREEN, weight=0)  # no split to end: a no-op
        with pytest.raises(UsageError, match="a Kubernetes Service sends every request") as refused:
            plain.set_weight(environment=ENV, color=Color.GREEN, weight=10)
        assert refused.value.hint is not None and "traffic_router: gateway" in refused.value.hint
        assert plain.weights(environment=ENV) == {Color.BLUE: 100}


def test_k8s_diff_shows_the_route_new_once_and_then_leaves_its_weights_alone(target: KubernetesTarget) -> None:
    first = diff(target, environment=ENV, version="1.0", replicas=2)
    assert "+ new object: HTTPRoute arxos" in first
    assert "+ new object: Service arxos-blue" in first and "+ new object: Service arxos-green" in first
    assert "Service arxos\n" not in first  # no live Service with a Gateway
    target.start_color(environment=ENV, color=Color.BLUE, version="1.0", replicas=2)
    ready(target, Color.BLUE, "1.0")
    target.switch(environment=ENV, color=Color.BLUE)
    second = diff(target, environment=ENV, version="2.0", replicas=2)
    assert "= unchanged: HTTPRoute arxos (its weights are the switch's alone)" in second
    assert "= unchanged: Service arxos-blue" in second
    assert "+ new object: Deployment arxos-green" in second  # the next color


def test_a_route_its_gateway_refused_takes_no_traffic_from_a_switch(gateway_spec: KubeSpec, cluster: Cluster) -> None:
    """A sectionName that names no listener: the Gateway's controller sets Accepted=False."""
    wrong = replace(gateway_spec, gateway=GatewaySpec(name="edge", section_name="https"))
    with KubernetesTarget(spec=wrong) as target:
        target.start_color(environment=ENV, color=Color.BLUE, version="1.0", replicas=2)
        ready(target, Color.BLUE, "1.0")
        target.connection.client.create(GATEWAY, namespace=target.spec.namespace_for(ENV))

        def refused() -> bool:
            parents = (route(target).get("status") or {}).get("parents") or []
            return any(c["type"] == "Accepted" and c["status"] == "False" for p in parents for c in p["conditions"])

        wait_until(refused, what="the Gateway's controller to refuse the route")
        with pytest.raises(TargetError, match="does not accept the HTTPRoute arxos of staging") as caught:
            target.switch(environment=ENV, color=Color.BLUE)
        assert "NoMatchingParent" in caught.value.message
        assert backend_weights(target) == {"arxos-blue": 0, "arxos-green": 0}
        target.switch(environment=ENV, color=None)  # taking traffic away is never refused
