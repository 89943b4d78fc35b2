"""The CLI on a Kubernetes target: render offline, and the wiring to a cluster (the emulator)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from arxdeploy.cli.main import cli
from arxdeploy.testing.kube import KubeEmulator

from .conftest import SEED_K8S


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
