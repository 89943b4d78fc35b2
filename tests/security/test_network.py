"""Gate network_policy on the emulator: the namespace's NetworkPolicies (created there, defaulted as
the API server does) with the rendered ones laid over them."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from arxdeploy.config.loader import load
from arxdeploy.domain.security import Status
from arxdeploy.domain.states import Color
from arxdeploy.security.cluster import SERVICES
from arxdeploy.security.network import NETWORK_POLICIES, NetworkSettings, check_network_policy
from arxdeploy.targets.kubernetes import manifests
from arxdeploy.targets.kubernetes.rest import Objects
from arxdeploy.targets.kubernetes.spec import EgressSpec, KubeSpec, spec_from_config
from tests.fixtures.kube import SEED_K8S, Cluster, make_namespace, short_digest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "arxos" / "arx-infra"
RECIPIENT = {"ARXDEPLOY_BACKUP_RECIPIENT": "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"}
DEFAULT_DENY = {"metadata": {"name": "default-deny"}, "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}


@pytest.fixture
def objects(cluster: Cluster) -> Iterator[Objects]:
    made = Objects.from_kubeconfig(kubeconfig=cluster.kubeconfig, context=None, environ={})
    yield made
    made.close()


@pytest.fixture
def namespace(cluster: Cluster, request: pytest.FixtureRequest) -> str:
    name = f"netpol-{short_digest(request.node.nodeid)}"
    make_namespace(cluster.kubeconfig, name)
    return name


def rendered(spec: KubeSpec, namespace: str) -> list[dict[str, Any]]:
    """What a deployment of green applies, in ``namespace``: the color's objects and the shared ones."""
    spec = dataclasses.replace(spec, namespace=namespace)
    return [
        *manifests.color_objects(spec, "staging", Color.GREEN, "1.4.2"),
        *manifests.shared_objects(spec, "staging", live=Color.BLUE, candidate=Color.GREEN, version="1.4.2"),
    ]


def seed_spec(tmp_path: Path) -> KubeSpec:
    path = tmp_path / "deployment_config.yaml"
    path.write_text(SEED_K8S)
    loaded = load(path, {})
    return spec_from_config(loaded.config, base_dir=loaded.base_dir)


def test_on_the_local_target_the_gate_is_not_applicable_and_says_why() -> None:
    result = check_network_policy(target="local")
    assert result.status is Status.NOT_APPLICABLE
    assert result.summary == "the local target has no NetworkPolicies: its processes share the host's network"


def test_the_example_passes_with_its_admin_policies_and_names_them(objects: Objects, namespace: str) -> None:
    for path in sorted((EXAMPLE / "k8s" / "network-policies").glob("*.yaml")):
        objects.create(NETWORK_POLICIES, namespace, yaml.safe_load(path.read_text()))
    loaded = load(EXAMPLE / "deploy" / "deployment_config.yaml", RECIPIENT)
    spec = spec_from_config(loaded.config, base_dir=loaded.base_dir)
    result = check_network_policy(
        target="kubernetes", namespace=namespace, objects=rendered(spec, namespace), reader=objects,
        egress_configured=True,
    )  # fmt: skip
    assert result.status is Status.PASSED, result.findings
    assert result.facts["default_deny"] == ["default-deny-ingress"]
    assert result.facts["ingress_allowed_by"] == {"arxos-green:8080": ["arxos-ingress"]}
    assert result.facts["egress_limited_by"] == {"arxos-green": ["allow-dns-egress", "arxos-egress"]}
    assert "default deny by default-deny-ingress" in result.summary
    assert "arxos-green:8080 allowed by arxos-ingress" in result.summary


def test_without_a_default_deny_the_gate_fails_until_one_exists(
    objects: Objects, namespace: str, tmp_path: Path
) -> None:
    objs = rendered(seed_spec(tmp_path), namespace)
    result = check_network_policy(target="kubernetes", namespace=namespace, objects=objs, reader=objects)
    assert result.status is Status.FAILED
    assert [f.rule for f in result.findings] == ["network.default-deny"]
    assert f"namespace {namespace} has no default-deny policy" in result.summary
    assert result.facts["ingress_allowed_by"] == {"arxos-green:8080": ["arxos-ingress"]}  # the rendered policy
    objects.create(NETWORK_POLICIES, namespace, DEFAULT_DENY)
    result = check_network_policy(target="kubernetes", namespace=namespace, objects=objs, reader=objects)
    assert result.status is Status.PASSED, result.findings
    assert result.facts["default_deny"] == ["default-deny"]
    lenient = NetworkSettings(require_default_deny=False)
    assert (
        check_network_policy(target="kubernetes", namespace=namespace, objects=objs, settings=lenient).blocks is False
    )


def test_a_policy_on_another_port_leaves_the_service_port_closed_and_says_which(
    objects: Objects, namespace: str, tmp_path: Path
) -> None:
    objects.create(NETWORK_POLICIES, namespace, DEFAULT_DENY)
    objs = [o for o in rendered(seed_spec(tmp_path), namespace) if o["kind"] != "NetworkPolicy"]
    other_port = {
        "metadata": {"name": "metrics-only"},
        "spec": {"podSelector": {"matchLabels": {"app": "arxos"}}, "ingress": [{"ports": [{"port": 9090}]}]},
    }
    objects.create(NETWORK_POLICIES, namespace, other_port)
    result = check_network_policy(target="kubernetes", namespace=namespace, objects=objs, reader=objects)
    assert result.status is Status.FAILED
    assert [f.rule for f in result.findings] == ["network.port-not-allowed"]
    assert result.findings[0].message == (
        "no NetworkPolicy selecting the pods of Deployment arxos-green allows ingress to port 8080, which its "
        "Services send traffic to (selecting them: default-deny, metrics-only)"
    )
    # the port by its name, for the pods a set-based selector picks, opens it
    green = {"matchExpressions": [{"key": "color", "operator": "In", "values": ["green"]}]}
    named = {
        "metadata": {"name": "by-name"},
        "spec": {"podSelector": green, "ingress": [{"ports": [{"port": "http"}]}]},
    }
    objects.create(NETWORK_POLICIES, namespace, named)
    result = check_network_policy(target="kubernetes", namespace=namespace, objects=objs, reader=objects)
    assert result.status is Status.PASSED, result.findings
    assert result.facts["ingress_allowed_by"] == {"arxos-green:8080": ["by-name"]}


def test_egress_must_be_limited_where_the_environment_lists_it(
    objects: Objects, namespace: str, tmp_path: Path
) -> None:
    objects.create(NETWORK_POLICIES, namespace, DEFAULT_DENY)
    spec = seed_spec(tmp_path)
    unlimited = rendered(spec, namespace)
    result = check_network_policy(
        target="kubernetes", namespace=namespace, objects=unlimited, reader=objects, egress_configured=True
    )
    assert [f.rule for f in result.findings] == ["network.egress-unlimited"]
    assert (
        result.findings[0].message
        == "the pods of Deployment arxos-green may connect anywhere: no policy limits its egress"
    )
    # the environment's egress list renders arxos-egress
    env = dataclasses.replace(spec.environments["staging"], egress=(EgressSpec(cidr="10.20.0.0/16", ports=(5432,)),))
    limited = rendered(dataclasses.replace(spec, environments={**spec.environments, "staging": env}), namespace)
    result = check_network_policy(
        target="kubernetes", namespace=namespace, objects=limited, reader=objects, egress_configured=True
    )
    assert result.status is Status.PASSED, result.findings
    assert result.facts["egress_limited_by"] == {"arxos-green": ["arxos-egress"]}
    # a policy in the namespace that lets the pods reach anything undoes the limit, and is named
    everything = [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]
    anywhere = {"metadata": {"name": "open-egress"}, "spec": {"podSelector": {}, "egress": everything}}
    objects.create(NETWORK_POLICIES, namespace, anywhere)
    result = check_network_policy(
        target="kubernetes", namespace=namespace, objects=limited, reader=objects, egress_configured=True
    )
    assert result.status is Status.FAILED
    assert result.findings[0].message == (
        "the pods of Deployment arxos-green may connect anywhere: open-egress allows egress anywhere"
    )


def test_the_emulator_defaults_policy_types_and_protocols_as_the_api_server(objects: Objects, namespace: str) -> None:
    body = {
        "metadata": {"name": "defaults"},
        "spec": {"podSelector": {}, "ingress": [{"ports": [{"port": 80}]}], "egress": [{"ports": [{"port": 53}]}]},
    }
    made = objects.create(NETWORK_POLICIES, namespace, body)
    assert made["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert made["spec"]["ingress"][0]["ports"] == [{"port": 80, "protocol": "TCP"}]
    only_ingress = objects.create(NETWORK_POLICIES, namespace, {"metadata": {"name": "i"}, "spec": {"podSelector": {}}})
    assert only_ingress["spec"]["policyTypes"] == ["Ingress"]


def test_as_the_step_runs_it_the_candidate_is_the_color_the_live_service_does_not_select(
    cluster: Cluster, objects: Objects, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from arxdeploy.security import network
    from arxdeploy.targets.kubernetes.target import KubernetesTarget
    from tests.fixtures.kube import on_cluster

    loaded, spec = on_cluster(tmp_path, cluster, request.node.nodeid)
    namespace = spec.namespace_for("staging")
    make_namespace(cluster.kubeconfig, namespace)
    with KubernetesTarget(spec=spec) as target:
        result = network.check(config=loaded.config, environment="staging", version="1.0", target=target)
        assert [f.rule for f in result.findings] == ["network.default-deny"]
        assert result.facts["ingress_allowed_by"] == {"arxos-blue:8080": ["arxos-ingress"]}  # nothing live: blue
        objects.create(NETWORK_POLICIES, namespace, DEFAULT_DENY)
        live = manifests.service(spec, "staging", name="arxos", color=Color.BLUE)
        objects.create(
            SERVICES, namespace, {**live, "metadata": {"name": "arxos", "labels": live["metadata"]["labels"]}}
        )
        result = network.check(config=loaded.config, environment="staging", version="1.1", target=target)
        assert result.status is Status.PASSED, result.findings
        assert result.facts["ingress_allowed_by"] == {"arxos-green:8080": ["arxos-ingress"]}


def test_a_port_range_opens_the_port_and_another_protocol_does_not(tmp_path: Path) -> None:
    objs = [o for o in rendered(seed_spec(tmp_path), "ns") if o["kind"] != "NetworkPolicy"]

    def policy(ports: list[dict[str, Any]]) -> dict[str, Any]:
        spec = {"podSelector": {"matchLabels": {"app": "arxos"}}, "ingress": [{"ports": ports}]}
        return {"kind": "NetworkPolicy", "metadata": {"name": "range"}, "spec": spec}

    lenient = NetworkSettings(require_default_deny=False)
    in_range = check_network_policy(
        target="kubernetes",
        namespace="ns",
        objects=[*objs, policy([{"port": 8000, "endPort": 8100}])],
        settings=lenient,
    )
    assert in_range.status is Status.PASSED, in_range.findings
    udp = check_network_policy(
        target="kubernetes",
        namespace="ns",
        objects=[*objs, policy([{"port": 8080, "protocol": "UDP"}])],
        settings=lenient,
    )
    assert [f.rule for f in udp.findings] == ["network.port-not-allowed"]
