"""Fixtures for the Kubernetes target: the seed's config as a ``KubeSpec``, a target in its own namespace.

The cluster (the emulator, once per session, or a real one) is ``tests/conftest.py``'s ``cluster``.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from lightkube.resources.core_v1 import Namespace

from arxdeploy.backup.contents import ConfigCopy
from arxdeploy.backup.storage.local import FolderStorage
from arxdeploy.backup.stored import Rules, Sources, StoredBackups
from arxdeploy.clock import SystemClock
from arxdeploy.config import LoadedConfig
from arxdeploy.domain.events import Deployment
from arxdeploy.domain.states import Color
from arxdeploy.ports import Export
from arxdeploy.targets.kubernetes.spec import KubeSpec, spec_from_config
from arxdeploy.targets.kubernetes.target import KubernetesTarget
from arxdeploy.testing.store import MemoryStore
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
def backups(tmp_path: Path) -> StoredBackups:
    """Backups in a folder, as the bootstrap keeps them by default."""
    return folder_backups(tmp_path / "backups")


def folder_backups(folder: Path, **rules: Any) -> StoredBackups:
    config = ConfigCopy(resolved=b"{}\n")
    return StoredBackups(
        storage=FolderStorage(folder),
        service="arxos",
        target="kubernetes",
        clock=SystemClock(),
        sources=Sources(config=config, store=MemoryStore(), mask=lambda data: data),
        rules=Rules(**rules),
    )


def kept_by(backups: StoredBackups) -> Callable[[str], list[Mapping[str, Any]]]:
    """What the bootstrap hands a ``KubernetesTarget``: the facts of an environment's kept backups."""
    return lambda environment: [b.facts for b in backups.kept(environment=environment)]


def save(backups: StoredBackups, export: Export, environment: str = "staging") -> str:
    """Keep ``export`` as the backup of a deployment (made up here); returns its id."""
    now = datetime.now(UTC)
    d = Deployment(
        f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}", "arxos", environment, "0", None, Color.BLUE, None, now
    )
    return backups.save(deployment=d, export=export).id


def forget(backups: StoredBackups, backup_id: str, environment: str = "staging") -> None:
    """Delete a backup, as retention does."""
    for part in backups.storage.list(f"arxos/{environment}/{backup_id}."):
        backups.storage.delete(part.key)


@pytest.fixture
def target(k8s_spec: KubeSpec, cluster: Cluster, backups: StoredBackups) -> Iterator[KubernetesTarget]:
    with KubernetesTarget(spec=k8s_spec, kept=kept_by(backups)) as made:
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
