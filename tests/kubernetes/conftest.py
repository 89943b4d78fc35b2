"""Fixtures for the Kubernetes target: the seed's config as a ``KubeSpec``, a target in its own namespace.

The cluster (the emulator, once per session, or a real one) is ``tests/conftest.py``'s ``cluster``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from lightkube.resources.core_v1 import Namespace

from arxdeploy.config import LoadedConfig
from arxdeploy.targets.kubernetes.spec import KubeSpec, spec_from_config
from arxdeploy.targets.kubernetes.target import KubernetesTarget
from tests.fixtures.kube import Cluster, load_seed, own_namespace


@pytest.fixture
def seed(tmp_path: Path) -> LoadedConfig:
    return load_seed(tmp_path)


@pytest.fixture
def spec(seed: LoadedConfig) -> KubeSpec:
    return spec_from_config(seed.config, base_dir=seed.base_dir)


@pytest.fixture
def k8s_spec(spec: KubeSpec, cluster: Cluster, request: pytest.FixtureRequest) -> KubeSpec:
    """The seed's spec in a namespace of this test's own, so tests never see each other."""
    return own_namespace(spec, cluster, request.node.nodeid)


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
