"""A Kubernetes version of the seed config: service arxos, staging 2 / production 3 replicas."""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from lightkube.resources.core_v1 import Namespace

from arxdeploy.config import LoadedConfig, load
from arxdeploy.targets.kubernetes.spec import KubeSpec, spec_from_config
from arxdeploy.targets.kubernetes.target import KubernetesTarget
from arxdeploy.testing.kube import KubeEmulator

SEED_K8S = """\
service: arxos
target:
  type: kubernetes
  kubernetes:
    image: ghcr.io/arxos/arxos-backend:{version}
    container_port: 8080
environments:
  staging:
    branches: [develop]
    replicas: 2
    monitoring_duration: 5m
    resources: {requests: {cpu: 50m, memory: 64Mi}, limits: {cpu: 200m, memory: 256Mi}}
  production:
    branches: [main]
    replicas: 3
    monitoring_duration: 10m
    resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {cpu: 500m, memory: 512Mi}}
health_checks:
  endpoints: [/health, /api/health, /api/version, /api/metrics]
  interval: 2s
  timeout: 2s
  success_threshold: 2
  failure_threshold: 3
  progress_deadline: 5m
"""


def load_seed(tmp_path: Path, text: str = SEED_K8S) -> LoadedConfig:
    path = tmp_path / "deployment_config.yaml"
    path.write_text(text)
    return load(path, {})


@pytest.fixture
def seed(tmp_path: Path) -> LoadedConfig:
    return load_seed(tmp_path)


@pytest.fixture
def spec(seed: LoadedConfig) -> KubeSpec:
    return spec_from_config(seed.config, base_dir=seed.base_dir)


# --- a cluster: the emulator, or a real one through ARXDEPLOY_TEST_KUBECONFIG ----------------


@dataclass
class Cluster:
    kubeconfig: Path
    kube: KubeEmulator | None  # None on a real cluster: emulator-only assertions are skipped

    def need_emulator(self) -> KubeEmulator:
        if self.kube is None:
            pytest.skip("needs the emulator (pod behaviours, call counts)")
        return self.kube


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    real = os.environ.get("ARXDEPLOY_TEST_KUBECONFIG")
    if real:
        yield Cluster(kubeconfig=Path(real), kube=None)
        return
    with KubeEmulator(ready_delay=0.1, crash_period=0.2) as kube:
        yield Cluster(kubeconfig=kube.kubeconfig, kube=kube)


@pytest.fixture
def k8s_spec(spec: KubeSpec, cluster: Cluster, request: pytest.FixtureRequest) -> KubeSpec:
    """The seed's spec in a namespace of this test's own, so tests never see each other."""
    test_id = hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:8]
    spec = replace(spec, namespace=f"{{service}}-{{environment}}-{test_id}", kubeconfig=cluster.kubeconfig)
    if cluster.kube is None:
        # A real cluster pulls real images: one that answers 200 on /health at this port.
        image = os.environ.get("ARXDEPLOY_TEST_IMAGE")
        if not image:
            pytest.skip("set ARXDEPLOY_TEST_IMAGE (and ARXDEPLOY_TEST_PORT) to run against a real cluster")
        spec = replace(spec, image=image, container_port=int(os.environ.get("ARXDEPLOY_TEST_PORT", "8080")))
    return spec


@pytest.fixture
def target(k8s_spec: KubeSpec, tmp_path: Path, cluster: Cluster) -> Iterator[KubernetesTarget]:
    with KubernetesTarget(spec=k8s_spec, state_dir=tmp_path / "state") as made:
        yield made
        if cluster.kube is None:  # a real cluster keeps what it is given: clean up
            for environment in k8s_spec.environments:
                with contextlib.suppress(Exception):
                    made.connection.client.delete(Namespace, k8s_spec.namespace_for(environment))


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def app_url() -> Iterator[str]:
    """A stand-in for the app behind the Services: answers 200 on every path."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
