"""The CLI on a Kubernetes target: render offline, and the wiring to a cluster (the emulator)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from arxdeploy.cli.main import cli
from arxdeploy.config import load
from arxdeploy.domain.states import Color
from arxdeploy.targets.kubernetes.spec import spec_from_config
from arxdeploy.targets.kubernetes.target import KubernetesTarget
from arxdeploy.testing.kube import KubeEmulator
from tests.fixtures.kube import SEED_K8S

from .test_manifests import READS_CONFIG


def write(tmp_path: Path, kubeconfig: Path | None = None) -> Path:
    text = SEED_K8S
    if kubeconfig:
        text = text.replace("    container_port: 8080", f"    container_port: 8080\n    kubeconfig: {kubeconfig}")
    path = tmp_path / "deployment_config.yaml"
    path.write_text(text)
    return path


def test_k8s_render_prints_the_objects_of_one_color(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["-c", str(write(tmp_path)), "k8s", "render", "--env", "production", "--version", "1.2.0"]
    )
    assert result.exit_code == 0, result.output
    objects = [o for o in yaml.safe_load_all(result.stdout) if o]
    deployments = [o for o in objects if o["kind"] == "Deployment"]
    assert deployments and all(d["metadata"]["namespace"] == "arxos-production" for d in deployments)
    assert {d["spec"]["replicas"] for d in deployments} == {3}
    assert any(c["image"].endswith(":1.2.0") for d in deployments for c in d["spec"]["template"]["spec"]["containers"])


def test_status_reaches_the_cluster_through_the_bootstrap(tmp_path: Path) -> None:
    with KubeEmulator() as kube:
        config = write(tmp_path, kube.kubeconfig)
        result = CliRunner().invoke(cli, ["-c", str(config), "status", "--json"])
        assert result.exit_code == 0, result.output
        rows = json.loads(result.stdout)["environments"]
        assert [(r["environment"], r["health"]["status"]) for r in rows] == [
            ("staging", "not deployed"),
            ("production", "not deployed"),
        ]
        logs = CliRunner().invoke(cli, ["-c", str(config), "logs", "--env", "staging"])
        assert (logs.exit_code, logs.stdout) == (0, "")  # no pod: nothing to show


FAST = """\
deployment_strategy:
  blue_green: {traffic_switch_delay: 0, scale_down_delay: 0}
health_checks:
  endpoints: [/health]
  interval: 100ms
  success_threshold: 2
  failure_threshold: 3
  progress_deadline: 20s
"""


def test_deploy_and_rollback_through_the_cli(tmp_path: Path, app_url: str) -> None:
    with KubeEmulator(ready_delay=0.1) as kube:
        for service in ("arxos", "arxos-preview"):
            kube.register_service_backend("arxos-staging", service, app_url)
        config = write(tmp_path, kube.kubeconfig)
        text = config.read_text().replace("monitoring_duration: 5m", "monitoring_duration: 500ms")
        config.write_text(text.split("health_checks:")[0] + FAST)

        def run(*args: str) -> dict:
            result = CliRunner().invoke(cli, ["-c", str(config), *args, "--json"])
            assert result.stdout, result.output
            return json.loads(result.stdout)

        first = run("deploy", "--env", "staging", "--version", "1.0")
        assert (first["state"], first["new_color"]) == ("succeeded", "blue"), first
        second = run("deploy", "--env", "staging", "--version", "1.1")
        assert (second["state"], second["new_color"]) == ("succeeded", "green"), second
        back = run("rollback", "--env", "staging")
        assert (back["state"], back["version"], back["new_color"]) == ("succeeded", "1.0", "blue"), back
        selector = kube.get("services", "arxos-staging", "arxos")["spec"]["selector"]
        assert selector["color"] == "blue"
        backups = CliRunner().invoke(cli, ["-c", str(config), "backup", "list", "--json"])
        assert [(b["deployment_id"], b["live_version"]) for b in json.loads(backups.stdout)] == [
            (back["id"], "1.1"),
            (second["id"], "1.0"),
            (first["id"], None),
        ]
        verified = CliRunner().invoke(cli, ["-c", str(config), "backup", "verify", second["id"], "--json"])
        assert verified.exit_code == 0 and json.loads(verified.stdout)["intact"] is True, verified.output
        [row] = [r for r in run("status")["environments"] if r["environment"] == "staging"]
        assert (row["live_version"], row["health"]["status"]) == ("1.0", "healthy")


def test_k8s_diff_exits_1_when_something_would_change_and_0_when_nothing_would(tmp_path: Path, app_url: str) -> None:
    with KubeEmulator(ready_delay=0.1) as kube:
        config = write(tmp_path, kube.kubeconfig)
        diff = ["-c", str(config), "k8s", "diff", "--env", "staging", "--version", "1.0"]
        result = CliRunner().invoke(cli, diff)
        assert result.exit_code == 1, result.output  # as `kubectl diff`: differences found
        assert "+ new object" in result.stdout and "arxos-blue" in result.stdout
        assert kube.objects("deployments", "arxos-staging") == []  # a diff writes nothing

        for service in ("arxos", "arxos-preview"):
            kube.register_service_backend("arxos-staging", service, app_url)
        text = config.read_text().replace("monitoring_duration: 5m", "monitoring_duration: 500ms")
        config.write_text(text.split("health_checks:")[0] + FAST)
        deployed = CliRunner().invoke(cli, ["-c", str(config), "deploy", "--env", "staging", "--version", "1.0"])
        assert deployed.exit_code == 0, deployed.output
        # 1.0 is live on blue: the next color (green) would be new ...
        assert CliRunner().invoke(cli, diff).exit_code == 1
        # ... and usage errors are 2: no version, an unknown environment, one Kubernetes cannot carry
        for wrong in (diff[:-2], [*diff[:4], "qa", *diff[5:]], [*diff[:-1], "1.0+build5"]):
            result = CliRunner().invoke(cli, wrong)
            assert result.exit_code == 2, (wrong, result.output)


def test_k8s_diff_exits_0_when_nothing_would_change(tmp_path: Path) -> None:
    with KubeEmulator() as kube:
        config = write(tmp_path, kube.kubeconfig)
        loaded = load(config, {})
        spec = spec_from_config(loaded.config, base_dir=loaded.base_dir)
        with KubernetesTarget(spec=spec, state_dir=tmp_path / "state") as target:  # blue started, as a deploy would
            target.start_color(environment="staging", color=Color.BLUE, version="1.0", replicas=2)
        result = CliRunner().invoke(cli, ["-c", str(config), "k8s", "diff", "--env", "staging", "--version", "1.0"])
        assert (result.exit_code, result.stdout) == (0, "")


def test_k8s_diff_on_a_local_target_says_what_to_do(tmp_path: Path) -> None:
    config = tmp_path / "deployment_config.yaml"
    config.write_text(
        "service: demo\ntarget:\n  type: local\n  local:\n    command: [app]\n"
        "environments:\n  staging:\n    replicas: 1\n"
    )
    result = CliRunner().invoke(cli, ["-c", str(config), "k8s", "diff", "--env", "staging", "--version", "1"])
    assert result.exit_code == 2
    assert "compares with a cluster" in result.stderr and "target.type: kubernetes" in result.stderr


WRITTEN = ("namespaces", "deployments", "services", "configmaps", "horizontalpodautoscalers", "networkpolicies")


def test_status_of_a_runner_with_a_stale_record_changes_nothing_in_the_cluster(tmp_path: Path, app_url: str) -> None:
    """Runner A deployed 1.0; runner B, with its own record, deployed 1.1 since. A's `status`
    reports the drift and must not put 1.0 back (it once did)."""
    with KubeEmulator(ready_delay=0.1) as kube:
        for service in ("arxos", "arxos-preview"):
            kube.register_service_backend("arxos-staging", service, app_url)
        configs = []
        for runner in ("a", "b"):
            (tmp_path / runner).mkdir()
            config = write(tmp_path / runner, kube.kubeconfig)
            text = config.read_text().replace("monitoring_duration: 5m", "monitoring_duration: 500ms")
            config.write_text(text.split("health_checks:")[0] + FAST)
            configs.append(config)
        a, b = configs

        def run(config: Path, *args: str) -> dict:
            result = CliRunner().invoke(cli, ["-c", str(config), *args, "--json"])
            assert result.stdout, result.output
            return json.loads(result.stdout)

        assert run(a, "deploy", "--env", "staging", "--version", "1.0")["state"] == "succeeded"
        assert run(b, "deploy", "--env", "staging", "--version", "1.1")["state"] == "succeeded"

        def versions() -> dict[tuple[str, str, str], str]:
            return {
                (kind, o["metadata"].get("namespace", ""), o["metadata"]["name"]): o["metadata"]["resourceVersion"]
                for kind in WRITTEN
                for o in kube.objects(kind)
            }

        before = versions()
        kube.reset_calls()
        row = next(r for r in run(a, "status")["environments"] if r["environment"] == "staging")

        assert versions() == before
        writes = [call for call in kube.calls if not call.startswith("GET ")]
        assert writes == []
        assert (row["live_version"], row["live_color"]) == ("1.1", "green")
        assert row["recorded"] == {"version": "1.0", "color": "blue"}
        assert (
            row["drift"]["message"]
            == "the record says 1.0 on blue is live in staging, but the target runs 1.1 on green"
        )
        assert row["drift"]["fix"] == "arxdeploy reconcile --env staging"


GATED = """\
approval_gates:
  enabled: true
  required_for: [staging]
  approvers: [ops@arxos.com, dev@arxos.com]
"""


@pytest.mark.parametrize("version", ["1.2.0+build5", "release/1.2", "x" * 64])
def test_a_version_kubernetes_cannot_carry_is_refused_before_anything_happens(tmp_path: Path, version: str) -> None:
    with KubeEmulator() as kube:
        config = write(tmp_path, kube.kubeconfig)
        config.write_text(config.read_text() + GATED)
        kube.reset_calls()
        for args in (
            ["deploy", "--env", "staging", "--version", version, "--no-wait"],
            ["rollback", "--env", "staging", "--to", version],
            ["k8s", "render", "--env", "staging", "--version", version],
            ["k8s", "diff", "--env", "staging", "--version", version],
        ):
            result = CliRunner().invoke(cli, ["-c", str(config), *args])
            assert result.exit_code == 2, (args, result.output)
            assert f"version {version!r} cannot be deployed to Kubernetes" in result.stderr
            assert "hint: use letters, digits" in result.stderr
        assert not kube.calls  # not one request reached the cluster
        history = CliRunner().invoke(cli, ["-c", str(config), "history", "--json"])
        assert json.loads(history.stdout) == []  # nothing recorded
        approvals = CliRunner().invoke(cli, ["-c", str(config), "approvals", "--json"])
        assert json.loads(approvals.stdout) == []  # nobody was asked


def test_validate_warns_about_keys_without_effect_and_exits_0(tmp_path: Path) -> None:
    folder = tmp_path / "k8s"
    for environment in ("staging", "production"):
        (folder / environment).mkdir(parents=True)
        (folder / environment / "app.yaml").write_text(READS_CONFIG)
    config = write(tmp_path)
    config.write_text(
        config.read_text().replace("    container_port: 8080\n", "    container_port: 8080\n    manifests: k8s\n")
    )

    result = CliRunner().invoke(cli, ["-c", str(config), "validate"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{config}: valid (arxos; environments: staging, production)\n"
    warned = result.stderr.splitlines()
    assert warned[0] == (
        f"warning: {config}:5: target.kubernetes.image: has no effect: with target.kubernetes.manifests, "
        "the templates in k8s/<environment>/ are applied (the image is the one in the Deployment template)"
    )
    assert [line.split(": ")[2] for line in warned] == [
        "target.kubernetes.image",
        "target.kubernetes.container_port",
        "environments.staging.resources",
        "environments.production.resources",
    ]

    as_json = CliRunner().invoke(cli, ["-c", str(config), "validate", "--json"])
    assert as_json.exit_code == 0
    report = json.loads(as_json.stdout)
    assert report["valid"] is True
    assert [(w["line"], w["key"]) for w in report["warnings"]] == [
        (5, "target.kubernetes.image"),
        (6, "target.kubernetes.container_port"),
        (13, "environments.staging.resources"),
        (18, "environments.production.resources"),
    ]
    assert all(w["file"] == str(config) and w["hint"] for w in report["warnings"])

    # inside GitHub Actions each is an annotation too; with --json, stdout stays one JSON object
    actions = {"GITHUB_ACTIONS": "true"}
    annotated = CliRunner().invoke(cli, ["-c", str(config), "validate"], env=actions)
    assert annotated.exit_code == 0
    assert sum(line.startswith("::warning title=arxdeploy::") for line in annotated.stdout.splitlines()) == 4
    as_json = CliRunner().invoke(cli, ["-c", str(config), "validate", "--json"], env=actions)
    assert len(json.loads(as_json.stdout)["warnings"]) == 4


def test_validate_refuses_templates_that_could_never_deploy(tmp_path: Path) -> None:
    folder = tmp_path / "k8s"
    (folder / "staging").mkdir(parents=True)
    (folder / "production").mkdir(parents=True)
    (folder / "staging" / "app.yaml").write_text(READS_CONFIG.replace("name: http, ", "name: web, "))
    config = write(tmp_path)
    config.write_text(config.read_text().replace("    container_port: 8080\n", "    manifests: k8s\n"))
    result = CliRunner().invoke(cli, ["-c", str(config), "validate"])
    assert result.exit_code == 2
    assert (
        f"{config}:6: target.kubernetes.manifests: the Deployment in {folder}/staging has no container port named http"
        in result.stderr
    )
    assert f"{config}:6: target.kubernetes.manifests: {folder}/production holds no *.yaml templates" in result.stderr


def test_logs_show_the_live_colors_pods_and_with_all_colors_the_candidates_too(tmp_path: Path, app_url: str) -> None:
    with KubeEmulator(ready_delay=0.1) as kube:
        for service in ("arxos", "arxos-preview"):
            kube.register_service_backend("arxos-staging", service, app_url)
        config = write(tmp_path, kube.kubeconfig)
        text = config.read_text().replace("monitoring_duration: 5m", "monitoring_duration: 500ms")
        config.write_text(text.split("health_checks:")[0] + FAST)
        deployed = CliRunner().invoke(cli, ["-c", str(config), "deploy", "--env", "staging", "--version", "1.0"])
        assert deployed.exit_code == 0, deployed.output
        loaded = load(config, {})
        with KubernetesTarget(spec=spec_from_config(loaded.config, base_dir=tmp_path), state_dir=tmp_path) as target:
            target.start_color(environment="staging", color=Color.GREEN, version="1.1", replicas=2)  # a candidate
        blue = sorted(p["metadata"]["name"] for p in kube.objects("pods", "arxos-staging", "color=blue"))

        def logs(*args: str) -> str:
            result = CliRunner().invoke(cli, ["-c", str(config), "logs", "--env", "staging", *args])
            assert result.exit_code == 0, result.output
            return result.stdout

        image = "ghcr.io/arxos/arxos-backend"
        assert logs() == "".join(
            f"==> pod/{name} container arxos (blue, 1.0) <==\nstarting {image}:1.0\nlistening on :8080\nready\n"
            for name in blue
        )
        assert logs("-n", "1") == "".join(f"==> pod/{name} container arxos (blue, 1.0) <==\nready\n" for name in blue)
        every = logs("--all-colors")
        assert every.count("(blue, 1.0) <==") == 2 and every.count("(green, 1.1) <==") == 2
        assert every.index("(blue, 1.0)") < every.index("(green, 1.1)")
