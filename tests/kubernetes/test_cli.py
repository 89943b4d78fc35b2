"""The CLI on a Kubernetes target: render offline, and the wiring to a cluster (the emulator)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from arxdeploy.cli.main import cli
from arxdeploy.testing.kube import KubeEmulator
from tests.fixtures.kube import SEED_K8S


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
        assert logs.exit_code == 2 and "kubectl logs" in logs.stderr


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
        assert [(b["deployment_id"], b["intact"]) for b in json.loads(backups.stdout)] == [
            (back["id"], True),
            (second["id"], True),
            (first["id"], True),
        ]
        [row] = [r for r in run("status")["environments"] if r["environment"] == "staging"]
        assert (row["live_version"], row["health"]["status"]) == ("1.0", "healthy")


def test_k8s_diff_on_an_empty_cluster_lists_every_object_as_new(tmp_path: Path) -> None:
    with KubeEmulator() as kube:
        config = write(tmp_path, kube.kubeconfig)
        result = CliRunner().invoke(cli, ["-c", str(config), "k8s", "diff", "--env", "staging", "--version", "1.0"])
        assert result.exit_code == 0, result.output
        assert "+ new object" in result.stdout and "arxos-blue" in result.stdout
        assert kube.objects("deployments", "arxos-staging") == []  # a diff writes nothing


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
