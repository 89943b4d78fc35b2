"""Gateway API HTTPRoutes in the emulator: their schema as the CRD gives it, the status a gateway
controller writes, and a front door that splits requests by the backendRefs' weights."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from arxdeploy.testing.kube import KubeEmulator
from tests.kube_emulator.conftest import (
    DEPLOYMENTS,
    SERVICES,
    deployment,
    kubectl,
    needs_kubectl,
    rollout_done,
    wait_for,
)
from tests.support import named_servers

ROUTES = "/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes"
GATEWAYS = "/apis/gateway.networking.k8s.io/v1/namespaces/default/gateways"
MERGE = {"Content-Type": "application/merge-patch+json"}


@pytest.fixture
def named_backends() -> Iterator[dict[str, str]]:
    with named_servers(("blue", "green")) as urls:
        yield urls


def gateway(name: str = "edge", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {"name": name},
        "spec": {
            "gatewayClassName": "example",
            "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}],
            **spec,
        },
    }


def route(blue: int, green: int, name: str = "web", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name},
        "spec": {
            "parentRefs": [{"name": "edge"}],
            "rules": [
                {
                    "backendRefs": [
                        {"name": "web-blue", "port": 80, "weight": blue},
                        {"name": "web-green", "port": 80, "weight": green},
                    ]
                }
            ],
            **spec,
        },
    }


def service(name: str, color: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": "web", "color": color}, "ports": [{"name": "http", "port": 80}]},
    }


def _accepted(obj: dict[str, Any]) -> bool:
    return any(
        c["type"] == "Accepted" and c["status"] == "True"
        for p in (obj.get("status") or {}).get("parents") or []
        for c in p["conditions"]
    )


def _two_colors(kube: KubeEmulator, api: httpx.Client, backends: dict[str, str]) -> None:
    for color in ("blue", "green"):
        labels = {"app": "web", "color": color}
        assert api.post(DEPLOYMENTS, json=deployment(f"web-{color}", replicas=1, labels=labels)).status_code == 201
        assert api.post(SERVICES, json=service(f"web-{color}", color)).status_code == 201
        kube.register_pod_backend("default", backends[color], selector=f"app=web,color={color}")
    for color in ("blue", "green"):
        wait_for(api, f"{DEPLOYMENTS}/web-{color}", rollout_done)


def _split(kube: KubeEmulator, requests: int) -> Counter[str]:
    with httpx.Client(base_url=kube.gateway_url("default", "edge"), timeout=10) as client:
        return Counter(client.get("/").text for _ in range(requests))


def test_defaults_are_those_of_the_crd(api: httpx.Client) -> None:
    body = route(1, 1)
    body["spec"].pop("rules")
    body["spec"]["rules"] = [{"backendRefs": [{"name": "web-blue", "port": 80}]}]
    made = api.post(ROUTES, json=body).json()
    assert made["spec"]["parentRefs"] == [{"name": "edge", "group": "gateway.networking.k8s.io", "kind": "Gateway"}]
    rule = made["spec"]["rules"][0]
    assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
    assert rule["backendRefs"] == [{"name": "web-blue", "port": 80, "group": "", "kind": "Service", "weight": 1}]
    assert made["metadata"]["generation"] == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda b: b["spec"]["rules"][0]["backendRefs"][0].update(weight=1_000_001),
            "spec.rules[0].backendRefs[0].weight: Invalid value: 1000001: spec.rules[0].backendRefs[0].weight "
            "in body should be less than or equal to 1000000",
        ),
        (
            lambda b: b["spec"]["rules"][0]["backendRefs"][1].update(weight=-1),
            "spec.rules[0].backendRefs[1].weight: Invalid value: -1: spec.rules[0].backendRefs[1].weight "
            "in body should be greater than or equal to 0",
        ),
        (
            lambda b: b["spec"]["rules"][0]["backendRefs"][0].pop("port"),
            'spec.rules[0].backendRefs[0]: Invalid value: "object": Must have port for Service reference',
        ),
        (lambda b: b["spec"]["parentRefs"][0].pop("name"), "spec.parentRefs[0].name: Required value"),
        (
            lambda b: b["spec"]["rules"][0].update(backendRefs=[{"name": f"s{i}", "port": 80} for i in range(17)]),
            "spec.rules[0].backendRefs: Too many: 17: must have at most 16 items",
        ),
        (lambda b: b.pop("spec"), "spec: Required value"),
    ],
)
def test_the_schema_refuses_what_the_crd_refuses(api: httpx.Client, change: Any, message: str) -> None:
    body = route(1, 1)
    change(body)
    response = api.post(ROUTES, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["message"] == f'HTTPRoute.gateway.networking.k8s.io "web" is invalid: {message}'
    assert api.get(f"{ROUTES}/web").status_code == 404


def test_weights_update_with_a_resource_version_guard(api: httpx.Client) -> None:
    made = api.post(ROUTES, json=route(100, 0)).json()
    stale = made["metadata"]["resourceVersion"]
    patch = {"metadata": {"resourceVersion": stale}, "spec": {"rules": route(90, 10)["spec"]["rules"]}}
    assert api.patch(f"{ROUTES}/web", json=patch, headers=MERGE).status_code == 200
    again = api.patch(f"{ROUTES}/web", json=patch, headers=MERGE)
    assert again.status_code == 409  # the second write was based on a stale read
    weights = [r["weight"] for r in api.get(f"{ROUTES}/web").json()["spec"]["rules"][0]["backendRefs"]]
    assert weights == [90, 10]


def test_status_says_accepted_once_the_gateway_exists_and_refs_resolve(api: httpx.Client) -> None:
    api.post(ROUTES, json=route(1, 1))
    # no Gateway: no controller owns the parent, so nobody writes status
    assert not (api.get(f"{ROUTES}/web").json().get("status") or {}).get("parents")
    assert api.post(GATEWAYS, json=gateway()).status_code == 201
    made = wait_for(api, f"{ROUTES}/web", _accepted)
    resolved = next(c for c in made["status"]["parents"][0]["conditions"] if c["type"] == "ResolvedRefs")
    assert (resolved["status"], resolved["reason"]) == ("False", "BackendNotFound")
    api.post(SERVICES, json=service("web-blue", "blue"))
    api.post(SERVICES, json=service("web-green", "green"))

    def resolved_now(obj: dict[str, Any]) -> bool:
        conditions = obj["status"]["parents"][0]["conditions"]
        return any(c["type"] == "ResolvedRefs" and c["status"] == "True" for c in conditions)

    wait_for(api, f"{ROUTES}/web", resolved_now)
    edge = wait_for(api, f"{GATEWAYS}/edge", lambda g: (g.get("status") or {}).get("listeners"))
    assert edge["status"]["listeners"][0]["attachedRoutes"] == 1
    assert edge["status"]["addresses"] == [{"type": "IPAddress", "value": "127.0.0.1"}]


def test_a_section_name_that_names_no_listener_is_not_accepted(api: httpx.Client) -> None:
    api.post(GATEWAYS, json=gateway())
    body = route(1, 1)
    body["spec"]["parentRefs"] = [{"name": "edge", "sectionName": "https"}]
    api.post(ROUTES, json=body)

    def has_status(obj: dict[str, Any]) -> bool:
        return bool((obj.get("status") or {}).get("parents"))

    made = wait_for(api, f"{ROUTES}/web", has_status)
    found = next(c for c in made["status"]["parents"][0]["conditions"] if c["type"] == "Accepted")
    assert (found["status"], found["reason"]) == ("False", "NoMatchingParent")


@pytest.mark.parametrize(("blue", "green"), [(90, 10), (50, 50), (1, 3)])
def test_the_front_door_splits_by_weight(
    kube: KubeEmulator, api: httpx.Client, named_backends: dict[str, str], blue: int, green: int
) -> None:
    _two_colors(kube, api, named_backends)
    api.post(GATEWAYS, json=gateway())
    api.post(ROUTES, json=route(blue, green))
    wait_for(api, f"{ROUTES}/web", _accepted)
    counted = _split(kube, 400)
    share = 100 * counted["green"] / 400
    assert abs(share - 100 * green / (blue + green)) <= 3, counted
    assert counted["blue"] + counted["green"] == 400


def test_weight_zero_takes_nothing_and_a_switch_moves_everything(
    kube: KubeEmulator, api: httpx.Client, named_backends: dict[str, str]
) -> None:
    _two_colors(kube, api, named_backends)
    api.post(GATEWAYS, json=gateway())
    api.post(ROUTES, json=route(100, 0))
    wait_for(api, f"{ROUTES}/web", _accepted)
    assert _split(kube, 50) == Counter(blue=50)
    api.patch(f"{ROUTES}/web", json={"spec": {"rules": route(0, 100)["spec"]["rules"]}}, headers=MERGE)
    assert _split(kube, 50) == Counter(green=50)  # the front door reads the route as it is now
    api.patch(f"{ROUTES}/web", json={"spec": {"rules": route(0, 0)["spec"]["rules"]}}, headers=MERGE)
    with httpx.Client(base_url=kube.gateway_url("default", "edge"), timeout=10) as client:
        assert client.get("/").status_code == 500  # no backend takes traffic


def test_hostnames_and_paths_choose_the_route(
    kube: KubeEmulator, api: httpx.Client, named_backends: dict[str, str]
) -> None:
    _two_colors(kube, api, named_backends)
    api.post(GATEWAYS, json=gateway())
    api.post(ROUTES, json=route(100, 0, name="web", hostnames=["web.example.com"]))
    narrow = route(0, 100, name="api", hostnames=["web.example.com"])
    narrow["spec"]["rules"][0]["matches"] = [{"path": {"type": "PathPrefix", "value": "/api"}}]
    api.post(ROUTES, json=narrow)
    wait_for(api, f"{ROUTES}/web", _accepted)
    wait_for(api, f"{ROUTES}/api", _accepted)
    with httpx.Client(
        base_url=kube.gateway_url("default", "edge"), timeout=10, headers={"Host": "web.example.com"}
    ) as client:
        assert client.get("/").text == "blue"
        assert client.get("/api/x").text == "green"  # the longer prefix wins
        assert client.get("/apix").text == "blue"  # prefixes match whole segments
        assert client.get("/", headers={"Host": "other.example.com"}).status_code == 404


def test_a_backend_without_ready_pods_answers_503(
    kube: KubeEmulator, api: httpx.Client, named_backends: dict[str, str]
) -> None:
    api.post(SERVICES, json=service("web-blue", "blue"))
    api.post(SERVICES, json=service("web-green", "green"))
    api.post(GATEWAYS, json=gateway())
    api.post(ROUTES, json=route(100, 0))
    wait_for(api, f"{ROUTES}/web", _accepted)
    with httpx.Client(base_url=kube.gateway_url("default", "edge"), timeout=10) as client:
        assert client.get("/").status_code == 503


def test_a_strategic_merge_patch_is_refused_as_for_any_custom_resource(api: httpx.Client) -> None:
    api.post(ROUTES, json=route(100, 0))
    strategic = {"Content-Type": "application/strategic-merge-patch+json"}
    refused = api.patch(f"{ROUTES}/web", json={"metadata": {"labels": {"a": "b"}}}, headers=strategic)
    assert refused.status_code == 415
    assert refused.json()["reason"] == "UnsupportedMediaType"
    assert "application/merge-patch+json" in refused.json()["message"]


@needs_kubectl
def test_kubectl_applies_lists_and_patches_routes_as_on_a_cluster(kube: KubeEmulator) -> None:
    body = route(90, 10)
    body["metadata"]["namespace"] = "default"
    assert "created" in kubectl(kube.kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump(body))
    body["spec"]["rules"][0]["backendRefs"][0]["weight"] = 50
    assert "configured" in kubectl(kube.kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump(body))
    path = "jsonpath={.spec.rules[0].backendRefs[*].weight}"
    assert kubectl(kube.kubeconfig, "get", "httproute", "web", "-o", path) == "50 10"
    body["spec"]["rules"][0]["backendRefs"][0]["weight"] = 2_000_000
    refused = kubectl(kube.kubeconfig, "apply", "-f", "-", stdin=yaml.safe_dump(body), ok=False)
    assert "weight in body should be less than or equal to 1000000" in refused
    # kubectl patch's default is a strategic merge, which a custom resource does not take
    refused = kubectl(kube.kubeconfig, "patch", "httproute", "web", "-p", '{"metadata":{"labels":{"a":"b"}}}', ok=False)
    assert "application/strategic-merge-patch+json is not supported" in refused
    assert "patched" in kubectl(kube.kubeconfig, "patch", "httproute", "web", "--type=merge", "-p", '{"metadata":{}}')
