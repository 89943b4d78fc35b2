"""A Kubernetes deployment in CI refuses state that would die with the runner (issue: state that
outlives the runner): a record in SQLite or backups in a folder on the runner's disk exit 2 before
anything is recorded or sent to the cluster, naming the setting to add; backups off the runner, or
``single_runner: true``, go ahead. The local target in CI stays allowed: there the runner is the host."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from arxdeploy.cli.main import cli
from arxdeploy.config import load
from arxdeploy.config.runner import runner_state_problems
from arxdeploy.testing.kube import KubeEmulator
from tests.fixtures.storage import S3Server

from .test_cli import FAST, write

STATE_DIR = ".arxdeploy"


def configured(tmp_path: Path, kube: KubeEmulator, extra: str = "") -> Path:
    config = write(tmp_path, kube.kubeconfig)
    text = config.read_text().replace("monitoring_duration: 5m", "monitoring_duration: 500ms")
    config.write_text(text.split("health_checks:")[0] + FAST + extra)
    return config


def invoke(config: Path, *args: str, ci: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Result:
    for name, value in ci.items():
        monkeypatch.setenv(name, value)
    return CliRunner().invoke(cli, ["-c", str(config), *args])


def deployed_in_ci(
    tmp_path: Path, app_url: str, extra: str, ci: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deploy in CI with ``extra`` in the config succeeds."""
    with KubeEmulator(ready_delay=0.1) as kube:
        for service in ("arxos", "arxos-preview"):
            kube.register_service_backend("arxos-staging", service, app_url)
        config = configured(tmp_path, kube, extra)
        done = invoke(
            config, "deploy", "--env", "staging", "--version", "1.0", "--json", ci=ci, monkeypatch=monkeypatch
        )
        assert done.exit_code == 0, done.output
        assert json.loads(done.stdout)["state"] == "succeeded"


def writes(kube: KubeEmulator) -> list[str]:
    return [call for call in kube.calls if not call.startswith("GET ")]


@pytest.mark.parametrize("ci", [{"GITHUB_ACTIONS": "true"}, {"CI": "true"}], ids=["github-actions", "ci"])
@pytest.mark.parametrize(
    "command",
    [("deploy", "--env", "staging", "--version", "1.0"), ("rollback", "--env", "staging")],
    ids=["deploy", "rollback"],
)
def test_in_ci_backups_in_a_folder_on_the_runner_are_refused_before_anything_is_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ci: dict[str, str], command: tuple[str, ...]
) -> None:
    with KubeEmulator() as kube:
        config = configured(tmp_path, kube)
        kube.reset_calls()
        done = invoke(config, *command, ci=ci, monkeypatch=monkeypatch)

        assert done.exit_code == 2, done.output
        variable = next(iter(ci))
        assert (
            "backup.storage.type: is local, so backups are written to this runner: "
            f"`{command[0]}` runs in CI ({variable} is set)" in done.output
        )
        assert "backup.storage.type: s3" in done.output and "single_runner: true" in done.output
        assert str(config) in done.output
        assert writes(kube) == []  # nothing recorded in the cluster, nothing applied


def test_in_ci_a_record_in_sqlite_is_named_with_its_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with KubeEmulator() as kube:
        config = configured(tmp_path, kube)
        text = config.read_text()
        config.write_text(f"store_url: sqlite:///{tmp_path}/record.db\n" + text)
        done = invoke(config, "deploy", "--env", "staging", "--version", "1.0", ci={"CI": "1"}, monkeypatch=monkeypatch)

        assert done.exit_code == 2, done.output
        assert f"{config}:1: store_url: keeps the deployment record in SQLite on this runner" in done.output
        assert "remove store_url (the record then lives in the cluster)" in done.output
        assert writes(kube) == []


def test_in_ci_backups_off_the_runner_let_the_deployment_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, app_url: str, s3_server: S3Server
) -> None:
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    bucket = s3_server.new_place()
    storage = f"backup:\n  storage: {{type: s3, bucket: {bucket}, endpoint_url: '{s3_server.endpoint}'}}\n"
    deployed_in_ci(tmp_path, app_url, storage, {"GITHUB_ACTIONS": "true"}, monkeypatch)
    assert not (tmp_path / STATE_DIR / "backups").exists()  # nothing kept on the runner
    assert not (tmp_path / STATE_DIR / "state.db").exists()


def test_single_runner_says_the_runner_keeps_its_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, app_url: str
) -> None:
    deployed_in_ci(tmp_path, app_url, "single_runner: true\n", {"CI": "true"}, monkeypatch)


def test_reading_commands_in_ci_are_not_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with KubeEmulator() as kube:
        config = configured(tmp_path, kube)
        done = invoke(config, "status", ci={"GITHUB_ACTIONS": "true"}, monkeypatch=monkeypatch)
        assert done.exit_code == 0, done.output


def test_the_local_target_in_ci_keeps_its_state_on_the_machine(tmp_path: Path) -> None:
    config = tmp_path / "deployment_config.yaml"
    config.write_text(
        "service: api\ntarget: {type: local, local: {command: ['true']}}\nenvironments: {staging: {replicas: 1}}\n"
    )
    loaded = load(config, {})
    assert runner_state_problems(loaded, "deploy", "GITHUB_ACTIONS") == []
    assert runner_state_problems(loaded, "deploy", None) == []
