"""Backups: time and size of taking one and of restoring it, for the seed's objects plus a 50 MB
database dump, plain and encrypted, kept in a folder, in S3 (SeaweedFS) and in Azure Blob
(Azurite) on this machine.

The objects are what the Kubernetes target exports of the seed's staging environment
(examples/arxos: its templates) once a version runs and is live: Deployment, HPA,
PodDisruptionBudget, Services, NetworkPolicies, ConfigMaps and the Secrets' names, from the API
emulator; the dump is SQL text with random values, as compressible
as a real pg_dump's plain format roughly is. "backup" is ``StoredBackups.save`` (gather, digest,
archive, encrypt, upload, index, retention); "restore" is ``target_part`` on a fresh instance
(list, download, decrypt, check every digest, hand back the target's files), what a restore
does before it applies anything. Servers on loopback: network costs are not in these figures.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import log, run_alone

NAME = "backup"
DUMP_BYTES = 50 * 1024 * 1024
TABLES = ("orders", "customers", "payments", "shipments")
EXAMPLE = Path(__file__).resolve().parent.parent / "examples/arxos/arx-infra/deploy/deployment_config.yaml"


def write_dump(path: Path, size: int) -> None:
    """SQL inserts with random values: compressible like real rows, never the same line twice."""
    rng = random.Random(42)
    with path.open("w", encoding="utf-8") as out:
        written = 0
        while written < size:
            table = rng.choice(TABLES)
            line = (
                f"INSERT INTO {table} (id, customer, amount, status, created_at) VALUES "
                f"({rng.randrange(10**9)}, 'customer-{rng.randrange(10**6):06d}', {rng.randrange(10**7) / 100:.2f}, "
                f"'{rng.choice(('paid', 'pending', 'refunded', 'shipped'))}', "
                f"'2026-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d} {rng.randrange(24):02d}:"
                f"{rng.randrange(60):02d}:{rng.randrange(60):02d}');\n"
            )
            out.write(line)
            written += len(line)


def seed_export() -> Any:
    """What the Kubernetes target exports of examples/arxos's staging environment with 1.0 running."""
    import dataclasses

    from arxdeploy.config import load
    from arxdeploy.domain.states import Color
    from arxdeploy.targets.kubernetes.spec import spec_from_config
    from arxdeploy.targets.kubernetes.target import KubernetesTarget
    from arxdeploy.testing.kube import KubeEmulator

    loaded = load(EXAMPLE, {})
    spec = spec_from_config(loaded.config, base_dir=loaded.base_dir)
    with (
        KubeEmulator(ready_delay=0.1) as kube,
        KubernetesTarget(spec=dataclasses.replace(spec, kubeconfig=kube.kubeconfig)) as target,
    ):
        target.start_color(environment="staging", color=Color.BLUE, version="1.0", replicas=2)
        deadline = time.monotonic() + 60
        while not all(r.running for r in target.inspect(environment="staging").colors[Color.BLUE].replicas):
            if time.monotonic() > deadline:
                raise TimeoutError("the emulator did not make blue ready")
            time.sleep(0.1)
        target.switch(environment="staging", color=Color.BLUE)
        return target.export(environment="staging")


@contextmanager
def places(stack: ExitStack, folder: Path) -> Iterator[dict[str, Callable[[], Any]]]:
    """A fresh storage of each kind per call."""
    from arxdeploy.backup.storage.azure import AzureBlobStorage
    from arxdeploy.backup.storage.local import FolderStorage
    from arxdeploy.backup.storage.s3 import S3Storage
    from arxdeploy.testing.objectstores import azurite, seaweedfs

    s3 = stack.enter_context(seaweedfs())
    os.environ.update(s3.env())  # boto3's credential chain
    azure = stack.enter_context(azurite())
    counter = iter(range(10**6))
    yield {
        "folder": lambda: FolderStorage(folder / f"backups-{next(counter)}"),
        "s3": lambda: S3Storage(bucket=s3.new_place(), endpoint_url=s3.endpoint),
        "azure": lambda: AzureBlobStorage(container=azure.new_place(), account_url=None, environ=azure.env()),
    }


def measure(quick: bool) -> dict[str, Any]:
    from pyrage import x25519

    from arxdeploy.backup.contents import ConfigCopy
    from arxdeploy.backup.crypto import Opener
    from arxdeploy.backup.stored import Rules, Sources, StoredBackups
    from arxdeploy.clock import SystemClock
    from arxdeploy.domain.events import Deployment
    from arxdeploy.domain.states import Color
    from arxdeploy.testing.store import MemoryStore

    repeats = 2 if quick else 5
    key = x25519.Identity.generate()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="arx-bench-backup-") as tmp, ExitStack() as stack:
        folder = Path(tmp)
        log("backup: the seed's objects from the emulator, and a 50 MB dump")
        export = seed_export()
        dump = folder / "arxos.sql"
        write_dump(dump, DUMP_BYTES // (10 if quick else 1))
        objects_bytes = sum(len(data) for data in export.files.values())
        with places(stack, folder) as storages:
            for kind, make in storages.items():
                for sealed in (False, True):
                    name = f"{kind}-{'encrypted' if sealed else 'plain'}"
                    log(f"backup: {name}")
                    storage = make()

                    def backups(storage: Any = storage, sealed: bool = sealed) -> StoredBackups:
                        return StoredBackups(
                            storage=storage,
                            service="arxos",
                            target="kubernetes",
                            clock=SystemClock(),
                            sources=Sources(
                                config=ConfigCopy(b"{}\n"),
                                store=MemoryStore(),
                                mask=lambda data: data,
                                dumps=lambda d, f: {"arxos.sql": dump},
                            ),
                            rules=Rules(keep=100, recipients=(str(key.to_public()),) if sealed else ()),
                            opener=lambda: Opener([key]),
                        )

                    saves, restores, sizes = [], [], []
                    for n in range(repeats):
                        now = datetime.now(UTC)
                        d = Deployment(
                            f"{now:%Y%m%d-%H%M%S}-{n:04x}",
                            "arxos",
                            "staging",
                            "1.1",
                            "1.0",
                            Color.GREEN,
                            Color.BLUE,
                            now,
                        )
                        start = time.perf_counter()
                        info = backups().save(deployment=d, export=export)
                        saves.append(time.perf_counter() - start)
                        sizes.append(info.size)
                        start = time.perf_counter()
                        back = backups().target_part(backup_id=d.id)
                        restores.append(time.perf_counter() - start)
                        assert back.files == dict(export.files)
                    results[name] = {
                        "backup_s": _summary(saves),
                        "restore_s": _summary(restores),
                        "stored_bytes": int(statistics.median(sizes)),
                    }
    return {
        "repeats": repeats,
        "objects": len(export.files),
        "objects_bytes": objects_bytes,
        "dump_bytes": DUMP_BYTES // (10 if quick else 1),
        "results": results,
    }


def _summary(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3), "max": round(max(values), 3)}


def headline(figures: dict[str, Any]) -> str:
    r = figures["results"]
    parts = [f"{name}: {v['backup_s']['median']}s / {v['restore_s']['median']}s" for name, v in r.items()]
    return "backup / restore medians: " + ", ".join(parts)


if __name__ == "__main__":
    run_alone(sys.modules[__name__])
