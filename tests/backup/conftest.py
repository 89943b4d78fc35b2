"""Backups on every storage: a folder, S3 (SeaweedFS) and Azure Blob (Azurite), each real.

``place`` runs a test once per storage, with a bucket or container of its own; ``backups()``
makes a ``StoredBackups`` on it as the bootstrap would, with a fake record and a manual clock.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest

from arxdeploy.backup.contents import ConfigCopy, DumpHook, RestoreHook
from arxdeploy.backup.crypto import Opener
from arxdeploy.backup.storage import Storage
from arxdeploy.backup.storage.azure import AzureBlobStorage
from arxdeploy.backup.storage.local import FolderStorage
from arxdeploy.backup.storage.s3 import S3Storage
from arxdeploy.backup.stored import Rules, Sources, StoredBackups
from arxdeploy.domain.events import Deployment, Event
from arxdeploy.domain.states import Color
from arxdeploy.redact import Redactor
from arxdeploy.testing.clock import ManualClock
from arxdeploy.testing.store import MemoryStore

SERVICE = "arxos"
SECRET = "hunter2-the-db-password"  # a value the config took from ${VAR}: never in a backup


@dataclass
class Place:
    """One storage under test, and how to reach it with other credentials or through a proxy."""

    kind: str
    make: Callable[..., Storage]  # keyword overrides: endpoint (a URL), secret (a wrong one)
    endpoint: str = ""  # the server's, for a proxy to stand in front of
    clock: ManualClock = field(default_factory=ManualClock)
    store: MemoryStore = field(default_factory=MemoryStore)

    @property
    def storage(self) -> Storage:
        return self.make()

    def backups(
        self,
        *,
        keep: int = 20,
        max_age: timedelta | None = None,
        recipients: tuple[str, ...] = (),
        opener: Opener | None = None,
        dumps: DumpHook | None = None,
        restore_dumps: RestoreHook | None = None,
        storage: Storage | None = None,
    ) -> StoredBackups:
        config = ConfigCopy(
            resolved=b'{"service": "arxos", "store_url": "postgresql://app:***@db/arx"}\n',
            files={"scripts/check_db.sh": b"#!/bin/sh\nexit 0\n"},
        )
        return StoredBackups(
            storage=storage or self.storage,
            service=SERVICE,
            target="kubernetes",
            clock=self.clock,
            sources=Sources(config=config, store=self.store, mask=Redactor([SECRET]).data, dumps=dumps),
            rules=Rules(keep=keep, max_age=max_age, recipients=recipients),
            opener=lambda: opener,
            restore_dumps=restore_dumps,
        )

    def deployment(self, environment: str = "staging", *, live: str | None = "1.0") -> Deployment:
        """A deployment recorded in the store (its reason carries the secret), as the engine makes them."""
        now = self.clock.now()
        d = Deployment(
            id=f"{now:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}",
            service=SERVICE,
            environment=environment,
            version="1.1",
            previous_version=live,
            new_color=Color.GREEN,
            old_color=Color.BLUE if live else None,
            created_at=now,
            reason=f"password rotated to {SECRET}",
        )
        self.store.create(deployment=d, events=[Event("state", now, {"state": "requested", "note": SECRET})])
        self.clock.advance(timedelta(minutes=1))
        return d


@pytest.fixture(params=["folder", "s3", "azure"])
def place(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Place]:
    if request.param == "folder":
        yield Place("folder", lambda **_: FolderStorage(tmp_path / "backups"))
    elif request.param == "s3":
        server = request.getfixturevalue("s3_server")
        bucket = server.new_place()
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)  # boto3's chain reads the process's environment

        def s3(endpoint: str | None = None, secret: str | None = None) -> Storage:
            if secret:
                monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
            return S3Storage(bucket=bucket, prefix="team/", endpoint_url=endpoint or server.endpoint)

        yield Place("s3", s3, endpoint=server.endpoint)
    else:
        server = request.getfixturevalue("azure_server")
        container = server.new_place()

        def azure(endpoint: str | None = None, secret: str | None = None) -> Storage:
            environ: Mapping[str, str] = server.env(key=secret)
            if endpoint:
                text = environ["AZURE_STORAGE_CONNECTION_STRING"].replace(f"http://127.0.0.1:{server.port}", endpoint)
                environ = {"AZURE_STORAGE_CONNECTION_STRING": text}
            return AzureBlobStorage(container=container, prefix="team/", account_url=None, environ=environ)

        yield Place("azure", azure, endpoint=f"http://127.0.0.1:{server.port}")
