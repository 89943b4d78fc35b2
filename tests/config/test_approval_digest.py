"""What an approval is bound to: the resolved config and every file it points at."""

from __future__ import annotations

from pathlib import Path

from arxdeploy.config import load
from arxdeploy.config.snapshot import take

CONFIG = """\
service: arxos
target:
  type: kubernetes
  kubernetes: {image: "${IMAGE}:{version}", manifests: k8s}
environments:
  production: {replicas: 3}
health_checks:
  custom_checks: [{name: db, script: check.sh}]
"""


def test_the_digest_changes_with_a_template_a_script_or_an_environment_value(tmp_path: Path) -> None:
    (tmp_path / "deployment_config.yaml").write_text(CONFIG)
    (tmp_path / "k8s" / "production").mkdir(parents=True)
    template = tmp_path / "k8s" / "production" / "deployment.yaml"
    template.write_text("kind: Deployment\n")
    (tmp_path / "check.sh").write_text("#!/bin/sh\nexit 0\n")

    def digest(image: str = "ghcr.io/arxos/api") -> str:
        return take(load(tmp_path / "deployment_config.yaml", {"IMAGE": image})).digest

    first = digest()
    assert digest() == first  # stable
    assert digest("ghcr.io/evil/api") != first  # a ${VAR} the config reads
    template.write_text("kind: Deployment\nspec: {replicas: 30}\n")
    second = digest()
    assert second != first  # a manifest template
    (tmp_path / "check.sh").write_text("#!/bin/sh\nexit 0 # changed\n")
    assert digest() != second  # a check script
