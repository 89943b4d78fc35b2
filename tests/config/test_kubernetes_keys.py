"""The Kubernetes keys: autoscaling bounds, egress rules, one namespace per environment, and the
keys that are set but have no effect (warnings, not errors)."""

from __future__ import annotations

from pathlib import Path

import pytest

from arxdeploy.config.effects import unused_keys

from .conftest import Write, error_for, load_text

KUBE = """\
service: arxos
target:
  type: kubernetes
  kubernetes:
    namespace: "{namespace}"
environments:
  staging:
    replicas: 2
  production:
    replicas: 3
"""


def kube(namespace: str = "{service}-{environment}", staging: str = "", target: str = "") -> str:
    text = KUBE.replace("{namespace}", namespace).replace("    replicas: 2\n", "    replicas: 2\n" + staging)
    return text.replace("    namespace:", target + "    namespace:")


def test_two_environments_in_one_namespace_is_an_error_naming_both_and_the_line(write: Write) -> None:
    error = error_for(write, kube(namespace="arxos"))
    (problem,) = error.problems
    assert (problem.line, problem.key) == (5, "target.kubernetes.namespace")
    assert problem.message == "puts environments staging and production in one namespace, arxos"
    assert "{environment}" in (problem.hint or "")
    assert error.exit_code == 2


def test_a_namespace_that_kubernetes_would_refuse_is_an_error(write: Write) -> None:
    staging, production = error_for(write, kube(namespace="{environment}-" + "x" * 56)).problems
    assert staging.key == production.key == "target.kubernetes.namespace"
    assert (
        staging.message
        == f"gives environment staging the namespace staging-{'x' * 56}, which is not a valid namespace name"
    )
    assert "gives environment production the namespace production-xxx" in production.message


def test_a_local_target_may_name_its_environments_anything(write: Write) -> None:
    text = kube(namespace="arxos").replace("type: kubernetes", "type: local\n  local: {command: [app]}")
    assert load_text(write, text).config.target.type == "local"


def test_autoscaling_bounds_have_defaults_and_may_not_fall_below_replicas(write: Write) -> None:
    config = load_text(write, kube(staging="    autoscaling: {max_replicas: 5, cpu_utilization: 60}\n")).config
    staging, production = config.environments["staging"], config.environments["production"]
    assert (staging.max_replicas(), staging.autoscaling.cpu_utilization) == (5, 60)
    assert (production.max_replicas(), production.autoscaling.cpu_utilization) == (6, 70)  # twice replicas, 70 %
    (problem,) = error_for(write, kube(staging="    autoscaling: {max_replicas: 1}\n")).problems
    assert (problem.line, problem.key) == (9, "environments.staging.autoscaling.max_replicas")
    assert problem.message == "is lower than replicas (2)"


@pytest.mark.parametrize(
    ("rule", "key", "message"),
    [
        ("{cidr: 10.20.0.1/16}", "environments.staging.egress[0].cidr", "with no host bits set"),
        ("{cidr: 10.20.0.1}", "environments.staging.egress[0].cidr", "needs its prefix length"),
        ("{ports: [5432]}", "environments.staging.egress[0].cidr", "names no destination"),
        ("{cidr: 10.0.0.0/8, namespace: db}", "environments.staging.egress[0].cidr", "names both an address and pods"),
        ("{namespace: Databases}", "environments.staging.egress[0].namespace", "is not a valid name"),
        ("{pods: {app: 'no spaces'}}", "environments.staging.egress[0].pods.app", "is not a Kubernetes label value"),
        ("{pods: {'-app': x}}", "environments.staging.egress[0].pods.-app", "is not a Kubernetes label key"),
        ("{cidr: 10.0.0.0/8, ports: [0]}", "environments.staging.egress[0].ports[0]", "must be at least 1"),
        ("{cidr: 10.0.0.0/8, protocol: ICMP}", "environments.staging.egress[0].protocol", "must be 'TCP', 'UDP' or"),
    ],
)
def test_egress_rules_are_checked(write: Write, rule: str, key: str, message: str) -> None:
    (problem,) = error_for(write, kube(staging=f"    egress: [{rule}]\n")).problems
    assert problem.key == key, problem
    assert message in problem.message, problem
    assert problem.line == 9


def test_egress_rules_that_kubernetes_takes(write: Write) -> None:
    rules = (
        "[{cidr: 10.20.0.0/16, ports: [5432]}, {cidr: 'fd00::/64'}, {namespace: db, pods: {app: pg}}, {pods: {a: b}}]"
    )
    config = load_text(write, kube(staging=f"    egress: {rules}\n")).config
    egress = config.environments["staging"].egress
    assert egress is not None and [r.cidr for r in egress] == ["10.20.0.0/16", "fd00::/64", None, None]
    assert config.environments["production"].egress is None  # unset: egress is not restricted


def warnings_of(write: Write, text: str) -> list[tuple[int | None, str, str]]:
    return [(w.line, w.key, w.message) for w in unused_keys(load_text(write, text))]


def test_keys_without_effect_beside_a_template_folder_are_warned_about_with_their_line(
    write: Write, tmp_path: Path
) -> None:
    for environment in ("staging", "production"):
        (tmp_path / "k8s" / environment).mkdir(parents=True)
    staging = (
        "    resources: {requests: {cpu: 50m}}\n"
        "    autoscaling: {max_replicas: 4}\n"
        "    egress: []\n"
        "    listen: 127.0.0.1:9000\n"
        "    sticky: {header: X-User-Id}\n"
    )
    target = "    manifests: k8s\n    image: ghcr.io/arxos/api:{version}\n    container_port: 8080\n"
    found = warnings_of(write, kube(staging=staging, target=target))
    templates = "has no effect: with target.kubernetes.manifests, the templates in k8s"
    assert found == [
        (6, "target.kubernetes.image", f"{templates}/<environment>/ are applied"),
        (7, "target.kubernetes.container_port", f"{templates}/<environment>/ are applied"),
        (12, "environments.staging.resources", f"{templates}/staging/ are applied"),
        (13, "environments.staging.autoscaling", f"{templates}/staging/ are applied"),
        (14, "environments.staging.egress", f"{templates}/staging/ are applied"),
        (15, "environments.staging.listen", "has no effect on the kubernetes target: the Service takes the traffic"),
        (16, "environments.staging.sticky", "has no effect on the kubernetes target: the Service takes the traffic"),
    ]


def test_the_same_keys_without_a_template_folder_mean_what_they_say(write: Write) -> None:
    staging = "    resources: {requests: {cpu: 50m}}\n    autoscaling: {max_replicas: 4}\n    egress: []\n"
    assert warnings_of(write, kube(staging=staging, target="    image: ghcr.io/arxos/api:{version}\n")) == []


def test_kubernetes_keys_on_the_local_target_are_warned_about(write: Write) -> None:
    text = kube(staging="    resources: {requests: {cpu: 50m}}\n    egress: []\n").replace(
        "type: kubernetes", "type: local\n  local: {command: [app]}"
    )
    assert warnings_of(write, text) == [
        (5, "target.kubernetes", "has no effect: target.type is local"),
        (10, "environments.staging.resources", "has no effect on the local target: it shapes Kubernetes objects"),
        (11, "environments.staging.egress", "has no effect on the local target: it shapes Kubernetes objects"),
    ]
