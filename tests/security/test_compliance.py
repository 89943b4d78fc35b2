"""Gate compliance: checkov's Kubernetes checks (the real checkov, in its own environment) on what a
deployment applies: the objects of ``arxdeploy init --target kubernetes`` and of the example pass
with arxdeploy's reasoned skips only; a broken object fails by check; a skip in the config needs a
reason and shows it."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from arxdeploy.config.loader import load
from arxdeploy.domain import security_events
from arxdeploy.domain.security import Status
from arxdeploy.scaffold import scaffold
from arxdeploy.security.compliance import RENDERED, ComplianceSettings, check_compliance, checkov_command
from arxdeploy.targets.kubernetes import manifests
from arxdeploy.targets.kubernetes.spec import pin, spec_from_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "arxos" / "arx-infra" / "deploy" / "deployment_config.yaml"
RECIPIENT = {"ARXDEPLOY_BACKUP_RECIPIENT": "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"}
# the hardening is checked, not assumed: probes, limits, privilege, capabilities, seccomp, root
HARDENING = {"CKV_K8S_8", "CKV_K8S_9", "CKV_K8S_11", "CKV_K8S_13", "CKV_K8S_20", "CKV_K8S_22", "CKV_K8S_23"}

pytestmark = pytest.mark.skipif(checkov_command() is None, reason="checkov: scripts/install-test-deps.sh")


def rendered(config: Path, environ: dict[str, str]) -> list[dict[str, Any]]:
    loaded = load(config, environ)
    spec = spec_from_config(loaded.config, base_dir=loaded.base_dir)
    return [o for env in ("staging", "production") for o in manifests.objects(spec, env, version="1.4.2")]


def init_objects(tmp_path: Path) -> list[dict[str, Any]]:
    scaffold(directory=tmp_path, target="kubernetes", service="arxos", image="ghcr.io/acme/arxos")
    return rendered(tmp_path / "deployment_config.yaml", RECIPIENT)


@pytest.mark.parametrize("source", ["init", "example"])
def test_init_and_the_example_pass_with_arxdeploys_reasoned_skips_only(source: str, tmp_path: Path) -> None:
    objects = init_objects(tmp_path) if source == "init" else rendered(EXAMPLE, RECIPIENT)
    result = check_compliance(target="kubernetes", objects=objects)
    assert result.status is Status.PASSED, [f"{f.rule} {f.message}" for f in result.findings if not f.allowed]
    assert set(result.facts["allowed"]) <= set(RENDERED)
    assert all(f.allowed == RENDERED[f.rule] for f in result.findings)
    assert set(result.facts["passed"]) >= HARDENING
    assert result.summary.startswith(f"{len(result.facts['passed'])} checkov checks passed, ")
    assert "skipped with a reason (CKV_K8S_40, CKV_K8S_43)" in result.summary


def test_a_pinned_digest_passes_the_digest_check(tmp_path: Path) -> None:
    scaffold(directory=tmp_path, target="kubernetes", service="arxos", image="ghcr.io/acme/arxos")
    loaded = load(tmp_path / "deployment_config.yaml", RECIPIENT)
    spec = spec_from_config(loaded.config, base_dir=loaded.base_dir)
    (image,) = {
        c["image"]
        for o in manifests.objects(spec, "staging", version="1.4.2")
        if o["kind"] == "Deployment"
        for c in manifests.pod_spec_of(o)["containers"]
    }
    spec = pin(spec, image, f"ghcr.io/acme/arxos@sha256:{'5' * 64}")
    result = check_compliance(target="kubernetes", objects=manifests.objects(spec, "staging", version="1.4.2"))
    assert result.status is Status.PASSED
    assert "CKV_K8S_43" in result.facts["passed"]
    assert result.facts["allowed"] == ["CKV_K8S_40"]


def test_a_privileged_root_container_fails_by_check_until_the_config_skips_it_with_a_reason(tmp_path: Path) -> None:
    objects = init_objects(tmp_path)
    broken = copy.deepcopy(objects)
    (deployment, *_) = [o for o in broken if o["kind"] == "Deployment"]
    container = manifests.pod_spec_of(deployment)["containers"][0]
    container["securityContext"] = {"privileged": True, "allowPrivilegeEscalation": True}
    result = check_compliance(target="kubernetes", objects=broken)
    assert result.status is Status.FAILED
    blocking = {f.rule: f for f in result.findings if f.allowed is None}
    assert {"CKV_K8S_16", "CKV_K8S_20"} <= set(blocking)  # privileged; allowPrivilegeEscalation
    name = deployment["metadata"]["name"]
    assert blocking["CKV_K8S_16"].message == f"Container should not be privileged (Deployment {name})"
    skip = {check: "a test of skipping: the node agent needs the host" for check in result.facts["failed"]}
    allowed = check_compliance(target="kubernetes", objects=broken, settings=ComplianceSettings(skip=skip))
    assert allowed.status is Status.PASSED
    assert {f.allowed for f in allowed.findings if f.rule == "CKV_K8S_16"} == {skip["CKV_K8S_16"]}


def test_on_the_local_target_there_is_nothing_to_check() -> None:
    result = check_compliance(target="local", objects=[])
    assert result.status is Status.NOT_APPLICABLE
    assert result.summary == "the local target applies no Kubernetes objects"


def test_without_checkov_the_gate_fails_saying_how_to_install_it(tmp_path: Path) -> None:
    result = check_compliance(target="kubernetes", objects=[{"kind": "ConfigMap"}], checkov=tmp_path / "nothing")
    assert result.status is Status.FAILED
    assert result.summary == "checkov is not installed, so the rendered objects were not checked"
    assert "pip install 'checkov==3.3.30'" in result.facts["hint"]
    assert security_events.line(result) == f"compliance FAILED: {result.summary} ({result.facts['hint']})"


def test_as_the_step_runs_it_the_objects_of_the_version_are_checked(
    cluster: Any, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    from arxdeploy.security import compliance
    from arxdeploy.targets.kubernetes.target import KubernetesTarget
    from tests.fixtures.kube import on_cluster

    loaded, spec = on_cluster(tmp_path, cluster, request.node.nodeid)
    with KubernetesTarget(spec=spec) as target:
        result = compliance.check(config=loaded.config, environment="staging", version="1.0", target=target)
    assert result.status is Status.PASSED, [f.message for f in result.findings if not f.allowed]
    assert result.facts["allowed"] == ["CKV_K8S_40", "CKV_K8S_43"]
