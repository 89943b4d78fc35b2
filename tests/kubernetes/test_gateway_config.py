"""``target.kubernetes.traffic_router`` and ``gateway``: what the config accepts and refuses (with the
file, line and key), and what ``arxdeploy k8s render`` then shows."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from arxdeploy.config import load
from arxdeploy.errors import ConfigError
from arxdeploy.targets.kubernetes.manifests import render
from arxdeploy.targets.kubernetes.spec import GATEWAY_ROUTER, SERVICE_ROUTER, GatewaySpec, spec_from_config

CONFIG = """\
service: arxos
target:
  type: kubernetes
  kubernetes:
    image: ghcr.io/arxos/arxos-backend:{version}
EXTRA
environments:
  staging:
    replicas: 2
"""


SEVENTEEN = ", ".join(f"h{i}.example.com" for i in range(17))


def write(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "deployment_config.yaml"
    path.write_text(CONFIG.replace("EXTRA\n", extra))
    return path


def test_the_default_is_the_service_switch(tmp_path: Path) -> None:
    loaded = load(write(tmp_path, ""), {})
    spec = spec_from_config(loaded.config, base_dir=loaded.base_dir)
    assert (spec.traffic_router, spec.gateway, spec.routes_by_gateway) == (SERVICE_ROUTER, None, False)


def test_a_gateway_section_becomes_the_routes_parent_and_matches(tmp_path: Path) -> None:
    extra = (
        "    traffic_router: gateway\n"
        "    gateway: {name: edge, namespace: infra, section_name: https, hostnames: [arxos.example.com], path: /app}\n"
    )
    loaded = load(write(tmp_path, extra), {})
    spec = spec_from_config(loaded.config, base_dir=loaded.base_dir)
    assert spec.traffic_router == GATEWAY_ROUTER
    assert spec.gateway == GatewaySpec(
        name="edge", namespace="infra", section_name="https", hostnames=("arxos.example.com",), path="/app"
    )
    documents = list(yaml.safe_load_all(render(loaded.config, "staging", version="1.0", base_dir=loaded.base_dir)))
    found = {(d["kind"], d["metadata"]["name"]) for d in documents}
    assert {("Service", "arxos-blue"), ("Service", "arxos-green"), ("HTTPRoute", "arxos")} <= found
    assert ("Service", "arxos") not in found  # the route, not a live Service, says what is live
    (route,) = [d for d in documents if d["kind"] == "HTTPRoute"]
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["spec"]["parentRefs"] == [
        {
            "group": "gateway.networking.k8s.io",
            "kind": "Gateway",
            "name": "edge",
            "namespace": "infra",
            "sectionName": "https",
        }
    ]
    assert route["spec"]["hostnames"] == ["arxos.example.com"]
    (rule,) = route["spec"]["rules"]
    assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/app"}}]
    assert [(r["name"], r["port"], r["weight"]) for r in rule["backendRefs"]] == [
        ("arxos-blue", 80, 100),
        ("arxos-green", 80, 0),
    ]


@pytest.mark.parametrize(
    ("extra", "line", "key", "message"),
    [
        (
            "    traffic_router: gateway\n",
            4,
            "target.kubernetes.gateway",
            "is required because traffic_router is gateway",
        ),
        (
            "    gateway: {name: edge}\n",
            6,
            "target.kubernetes.gateway",
            "has no effect while traffic_router is service",
        ),
        ("    traffic_router: istio\n", 6, "target.kubernetes.traffic_router", "'service' or 'gateway'"),
        (
            "    traffic_router: gateway\n    gateway: {name: Edge_1}\n",
            7,
            "target.kubernetes.gateway.name",
            "should match pattern",
        ),
        (
            "    traffic_router: gateway\n    gateway: {name: edge, hostnames: [Bad_Host]}\n",
            7,
            "target.kubernetes.gateway.hostnames[0]",
            "should match pattern",
        ),
        (
            "    traffic_router: gateway\n    gateway: {name: edge, hostnames: [" + SEVENTEEN + "]}\n",
            7,
            "target.kubernetes.gateway.hostnames",
            "has 17 host names; an HTTPRoute takes at most 16",
        ),
        (
            "    traffic_router: gateway\n    gateway: {name: edge, path: app}\n",
            7,
            "target.kubernetes.gateway.path",
            "",
        ),
    ],
)
def test_mistakes_name_the_file_line_and_key(tmp_path: Path, extra: str, line: int, key: str, message: str) -> None:
    path = write(tmp_path, extra)
    with pytest.raises(ConfigError) as caught:
        load(path, {})
    (problem,) = caught.value.problems
    assert (problem.key, problem.line) == (key, line), problem
    assert message in problem.message, problem
    assert problem.file == str(path)
    if "is required" in message:
        assert problem.hint == "add gateway: {name: <your Gateway>} under target.kubernetes"


CANARY = "deployment_strategy:\n  type: canary\n  canary:\n    steps: [{weight: 10}, {pause: 1m}, {weight: 50}]\n"


def test_a_canary_on_the_service_switch_is_refused_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "deployment_config.yaml"
    path.write_text(CONFIG.replace("EXTRA\n", "") + CANARY)
    with pytest.raises(ConfigError) as caught:
        load(path, {})
    (problem,) = caught.value.problems
    assert (problem.key, problem.line) == ("deployment_strategy.type", 10)
    assert "whose weights a Kubernetes Service cannot split" in problem.message
    assert problem.hint is not None and "traffic_router: gateway" in problem.hint
    with_gateway = "    traffic_router: gateway\n    gateway: {name: edge}\n"
    path.write_text(CONFIG.replace("EXTRA\n", with_gateway) + CANARY)
    assert load(path, {}).config.deployment_strategy.type == "canary"
