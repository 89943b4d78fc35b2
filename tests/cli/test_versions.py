"""Versions the local target cannot hand on to the app are refused before anything happens.

The Kubernetes rules (a label value and an image tag) are tested in tests/kubernetes.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from arxdeploy.cli.main import cli
from arxdeploy.targets.local.client import check_version as check_local_version

SEED = Path(__file__).parents[1] / "config" / "fixtures" / "seed.yaml"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), env={"ARXDEPLOY_CONFIG": None})
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("version", ["-rf", "1.2 beta", "1.2\nforged log line", "", "x" * 129])
def test_a_version_the_local_target_cannot_hand_on_is_refused_before_anything_happens(
    tmp_path: Path, version: str
) -> None:
    config = tmp_path / "deployment_config.yaml"
    config.write_text(SEED.read_text())
    code, _, err = run("-c", str(config), "deploy", "--env", "staging", f"--version={version}")
    assert code == 2, err
    assert f"version {version!r} cannot be deployed" in err
    assert "not starting with '-'" in err
    code, out, _ = run("-c", str(config), "history", "--json")
    assert (code, json.loads(out)) == (0, [])  # nothing recorded, no runtime started


@pytest.mark.parametrize("version", ["1.2.0+build5", "release/1.2", "v1.2.0", "2f3a9c1d7e0b"])
def test_the_local_target_takes_versions_kubernetes_would_not(version: str) -> None:
    check_local_version(version)  # one argument of the command line: no shell, no label, no tag
