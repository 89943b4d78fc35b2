"""Whole deployments on the emulator keeping their backups in a folder, in S3 (SeaweedFS) and in
Azure Blob (Azurite): a restore brings back exactly the backup it names, and a backup storage
that is down fails a deployment before anything in the namespace changes.

Each storage runs once plain or encrypted (S3 sealed with age; the local-target suite runs the
other way round), the restore with the private key given as a person restoring would.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from lightkube.resources.apps_v1 import Deployment
from pyrage import x25519

from arxdeploy.backup.crypto import Opener
from arxdeploy.backup.storage.azure import AzureBlobStorage
from arxdeploy.backup.storage.s3 import S3Storage
from arxdeploy.backup.stored import StoredBackups
from arxdeploy.domain.states import Color, State
from arxdeploy.engine.run import Engine
from arxdeploy.targets.kubernetes.target import KubernetesTarget
from arxdeploy.testing.kube.resources import RESOURCES
from tests.drive import deploy, restore
from tests.fixtures.kube import Cluster
from tests.support import free_port, wait_until

from .conftest import folder_backups, kept_by
from .test_engine import ENV, PLAN, engine  # noqa: F401 - a fixture, on the backups below

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("ARXDEPLOY_TEST_KUBECONFIG")), reason="needs the emulator's service proxy backends"
)

KEY = x25519.Identity.generate()


@pytest.fixture(params=[("folder", False), ("s3", True), ("azure", False)], ids=["folder", "s3-encrypted", "azure"])
def backups(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StoredBackups:
    """The engine's backups (this module's own: the conftest keeps them in a folder only)."""
    kind, sealed = request.param
    made = folder_backups(tmp_path / "backups", recipients=(str(KEY.to_public()),) if sealed else ())
    if kind == "s3":
        server = request.getfixturevalue("s3_server")
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        made.storage = S3Storage(bucket=server.new_place(), prefix="k8s/", endpoint_url=server.endpoint)
    elif kind == "azure":
        server = request.getfixturevalue("azure_server")
        made.storage = AzureBlobStorage(container=server.new_place(), account_url=None, environ=server.env())
    made.opener = lambda: Opener([KEY])  # where the restore runs, the key is given
    return made


def image_of(target: KubernetesTarget, color: Color) -> str:
    found = target.connection.client.get(Deployment, f"arxos-{color.value}", namespace=target.spec.namespace_for(ENV))
    assert found.spec is not None and found.spec.template.spec is not None
    return str(found.spec.template.spec.containers[0].image)


@pytest.fixture
def moved(target: KubernetesTarget, backups: StoredBackups) -> Iterator[KubernetesTarget]:
    """The same namespace, from a config whose image moved to another registry since."""
    spec = replace(target.spec, image="registry.example/moved:{version}")
    with KubernetesTarget(spec=spec, kept=kept_by(backups)) as made:
        yield made


def test_a_restore_brings_back_exactly_the_backup_it_names(
    engine: Engine,  # noqa: F811 - the fixture imported above
    target: KubernetesTarget,
    moved: KubernetesTarget,
    backups: StoredBackups,
) -> None:
    deploy(engine, plan=PLAN, version="1.0")
    older, _ = deploy(engine, plan=PLAN, version="1.1")  # its backup: 1.0 from the first registry
    later = replace(engine, target=moved)
    assert deploy(later, plan=PLAN, version="1.0")[1].state is State.SUCCEEDED  # rendered from the moved config
    newer, _ = deploy(later, plan=PLAN, version="1.1")  # its backup: 1.0 from the moved registry
    assert {b.id for b in backups.kept(environment=ENV) if "1.0" in b.versions} >= {older.id, newer.id}
    assert all(b.encrypted == bool(backups.rules.recipients) for b in backups.kept(environment=ENV))

    back, view = restore(later, plan=PLAN, backup=older.id, version="1.0")
    assert view.state is State.SUCCEEDED, view.failure
    state = target.inspect(environment=ENV)
    assert state.live_version == "1.0" and state.live_color is not None
    # What that backup saved, not the newer one (moved), nor the config (moved too).
    assert image_of(target, state.live_color) == "ghcr.io/arxos/arxos-backend:1.0"
    assert back.from_backup == older.id


def test_a_backup_storage_that_is_down_fails_the_deployment_before_the_namespace_changes(
    engine: Engine,  # noqa: F811 - the fixture imported above
    target: KubernetesTarget,
    backups: StoredBackups,
    cluster: Cluster,
) -> None:
    if not isinstance(backups.storage, S3Storage | AzureBlobStorage):
        pytest.skip("a folder has no endpoint to lose")
    kube = cluster.need_emulator()
    ns = target.spec.namespace_for(ENV)
    deploy(engine, plan=PLAN, version="1.0")
    wait_until(lambda: all(_rolled_out(d) for d in kube.objects("deployments", ns)), what="the rollout")
    before = _footprint(kube, ns)

    down = f"http://127.0.0.1:{free_port()}"
    if isinstance(backups.storage, S3Storage):
        backups.storage = S3Storage(bucket=backups.storage.bucket, prefix="k8s/", endpoint_url=down)
    else:
        environ = {
            "AZURE_STORAGE_CONNECTION_STRING": f"AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint={down}/x;"
        }
        backups.storage = AzureBlobStorage(container="gone", account_url=None, environ=environ)
    _, view = deploy(engine, plan=PLAN, version="1.1")
    assert view.state is State.FAILED
    assert view.failure is not None and view.failure.step == "backup" and "cannot reach" in view.failure.reason
    assert _footprint(kube, ns) == before  # not one object written, created or deleted
    assert target.inspect(environment=ENV).live_version == "1.0"


def _footprint(kube: Any, ns: str) -> dict[tuple[str, str], str]:
    return {
        (resource.plural, obj["metadata"]["name"]): str(obj["metadata"]["resourceVersion"])
        for resource in RESOURCES
        if resource.namespaced
        for obj in kube.objects(resource.plural, ns)
    }


def _rolled_out(deployment: dict[str, Any]) -> bool:
    status, wanted = deployment.get("status") or {}, deployment["spec"]["replicas"]
    observed = status.get("observedGeneration") == deployment["metadata"]["generation"]
    return observed and {status.get(k, 0) for k in ("replicas", "updatedReplicas", "availableReplicas")} == {wanted}
