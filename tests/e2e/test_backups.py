"""`arxdeploy backup list|show|verify|restore` on the local target, with backups kept in a folder,
in S3 (SeaweedFS) and in Azure Blob (Azurite): real deploys, real commands, real servers.

Each storage runs once encrypted or plain (the folder and Azure sealed with age, S3 plain; the
Kubernetes suite runs the other way round). The deploying commands never get the private key:
only verify and restore do, as a person restoring would.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from pyrage import x25519

from arxdeploy.backup.storage import Storage
from arxdeploy.backup.storage.azure import AzureBlobStorage
from arxdeploy.backup.storage.local import FolderStorage
from arxdeploy.backup.storage.s3 import S3Storage
from tests.fixtures.storage import S3Server
from tests.support import free_port

from .conftest import Service

pytestmark = pytest.mark.slow


@dataclass
class Kept:
    """Where a service keeps its backups: the config's lines, the variables, a way in for tampering."""

    yaml: str
    env: dict[str, str]
    storage: Callable[[], Storage]
    prefix: str = ""


def kept_in(kind: str, request: pytest.FixtureRequest, service: Service, monkeypatch: pytest.MonkeyPatch) -> Kept:
    if kind == "folder":
        return Kept("  storage: {type: local, path: kept}\n", {}, lambda: FolderStorage(service.folder / "kept"))
    if kind == "s3":
        server = request.getfixturevalue("s3_server")
        bucket = server.new_place()
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        text = f"  storage: {{type: s3, bucket: {bucket}, endpoint_url: '{server.endpoint}', prefix: ci/}}\n"
        return Kept(
            text,
            server.env(),
            lambda: S3Storage(bucket=bucket, prefix="ci/", endpoint_url=server.endpoint),
            prefix="ci/",
        )
    server = request.getfixturevalue("azure_server")
    container = server.new_place()
    return Kept(
        f"  storage: {{type: azure_blob, container: {container}}}\n",
        server.env(),
        lambda: AzureBlobStorage(container=container, account_url=None, environ=server.env()),
    )


@pytest.mark.parametrize(("kind", "sealed"), [("folder", True), ("s3", False), ("azure", True)])
def test_backups_are_kept_listed_verified_restored_and_refused_when_damaged(
    service: Service, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, kind: str, sealed: bool
) -> None:
    key = x25519.Identity.generate()
    kept = kept_in(kind, request, service, monkeypatch)
    encryption = f"  encryption: true\n  recipients: ['{key.to_public()}']\n" if sealed else ""
    with service.config.open("a", encoding="utf-8") as config:
        config.write(f"backup:\n  keep: 2\n{encryption}{kept.yaml}")
    service.env.update(kept.env)
    for version in ("v1", "v2"):
        done = service.run("deploy", "--env", "staging", "--version", version)
        assert done.returncode == 0, done.stdout + done.stderr
    history = service.json("history")
    second, first = history[0]["id"], history[1]["id"]
    assert not (service.state_dir / "backups").exists() or kind == "folder"

    listed = service.json("backup", "list")
    assert [(b["deployment_id"], b["live_version"], b["encrypted"]) for b in listed] == [
        (second, "v1", sealed),
        (first, None, sealed),
    ]
    shown = service.json("backup", "show", second)
    assert (shown["live_version"], shown["live_color"], shown["versions"]) == ("v1", "blue", ["v1"])

    if sealed:  # without the private key, verify and restore say which variable to give
        for command in ("verify", "restore"):
            refused = service.run("backup", command, second)
            assert refused.returncode == 2, refused.stdout + refused.stderr
            assert "is encrypted" in refused.stderr and "ARXDEPLOY_BACKUP_IDENTITY" in refused.stderr
        assert len(service.json("history")) == 2  # the refused restore recorded nothing
        service.env["ARXDEPLOY_BACKUP_IDENTITY"] = str(key)
    verified = service.json("backup", "verify", second)
    assert verified["intact"] is True and "target/environment.json" in verified["files"]
    assert {"config/resolved.json", "history/deployments.json"} <= set(verified["files"])

    done = service.run("backup", "restore", second, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    restored = json.loads(done.stdout)
    assert (restored["kind"], restored["version"], restored["state"]) == ("restore", "v1", "succeeded")
    assert restored["reason"] == f"restore of backup {second}"
    assert service.served_version() == "v1"
    # The restore took a backup of its own; with keep: 2 the oldest went.
    assert [b["deployment_id"] for b in service.json("backup", "list")] == [restored["id"], second]

    # A flipped byte in the stored archive: verify names it, restore refuses before recording anything.
    storage = kept.storage()
    archive = f"e2e-api/staging/{second}.tar.gz" + (".age" if sealed else "")
    data = bytearray(storage.read(archive) or b"")
    data[len(data) // 2] ^= 0x01
    storage.put(archive, bytes(data))
    checked = service.run("backup", "verify", second)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert f"{second}.tar.gz" in checked.stderr and "does not match the index" in checked.stderr
    count = len(service.json("history"))
    refused = service.run("backup", "restore", second)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "damaged" in refused.stderr
    assert len(service.json("history")) == count and service.served_version() == "v1"


def test_a_backup_storage_that_is_down_fails_the_deploy_before_anything_changes(
    service: Service, s3_server: S3Server
) -> None:
    def keep_backups_in(storage: str) -> None:
        text = service.config.read_text(encoding="utf-8").split("backup:")[0]
        service.config.write_text(f"{text}backup:\n  storage: {storage}\n", encoding="utf-8")

    service.env.update(s3_server.env())
    keep_backups_in("{type: local}")
    assert service.run("deploy", "--env", "staging", "--version", "v1").returncode == 0
    before = service.json("status")["environments"], service.replica_pids()
    keep_backups_in(f"{{type: s3, bucket: nowhere, endpoint_url: 'http://127.0.0.1:{free_port()}'}}")  # nobody there

    done = service.run("deploy", "--env", "staging", "--version", "v2", "--json")
    assert done.returncode == 1, done.stdout + done.stderr
    failed = json.loads(done.stdout)
    assert failed["state"] == "failed" and failed["failure"]["step"] == "backup"
    assert "cannot reach" in failed["failure"]["reason"]
    assert [s["step"] for s in failed["steps"]] == ["validate", "security", "backup", "cleanup"]
    assert service.served_version() == "v1"
    # What runs is what ran: the same replicas, the same live color; only the record has news.
    (row,), pids = service.json("status")["environments"], service.replica_pids()
    ((was,), pids_before) = before
    assert {k: v for k, v in row.items() if k != "last_deployment"} == {
        k: v for k, v in was.items() if k != "last_deployment"
    }
    assert pids == pids_before and pids
