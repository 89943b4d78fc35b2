"""Backups: time and size of taking one and of restoring it, for the seed's objects plus a real
database of about 50 MB dumped, plain and encrypted, kept in a folder, in S3 (SeaweedFS) and in
Azure Blob (Azurite) on this machine.

The objects are what the Kubernetes target exports of the seed's staging environment
(examples/arxos: its templates) once a version runs and is live: Deployment, HPA,
PodDisruptionBudget, Services, NetworkPolicies, ConfigMaps and the Secrets' names, from the API
emulator. The database is a throwaway PostgreSQL server (tests/fixtures/postgres.py) with one
table of orders, filled until ``pg_dump -Fc`` of it is about 50 MB; examples/arxos's own scripts
dump and restore it, run as arxdeploy runs them (``arxdeploy.database``: a private copy, the
PG* variables, a process group). "backup" is ``StoredBackups.save`` (the dump script, gather,
digest, archive, encrypt, upload, index, retention); "restore" is what ``backup restore
--with-database`` does before and at its switch, on a fresh instance: ``target_part`` (list,
download, decrypt, check every digest, hand back the target's files) and ``restore_database``
(the same again for the dump, then the restore script: pg_restore --clean in one transaction).
Servers on loopback: network costs are not in these figures.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.fixtures: the throwaway PostgreSQL

from common import log, run_alone

NAME = "backup"
DUMP_BYTES = 50 * 1024 * 1024  # what pg_dump -Fc of the table should come to, about
ROWS = 800_000  # orders: ~6.6 MB of pg_dump -Fc per 100,000 on this machine's PostgreSQL 15
EXAMPLE = Path(__file__).resolve().parent.parent / "examples/arxos/arx-infra/deploy/deployment_config.yaml"
SCRIPTS = EXAMPLE.parent / "scripts"
FILL = """
CREATE TABLE orders (id bigint PRIMARY KEY, customer text NOT NULL, amount numeric(10,2) NOT NULL,
                     status text NOT NULL, created_at timestamptz NOT NULL, note text NOT NULL);
INSERT INTO orders
SELECT g, 'customer-' || lpad((random() * 1e6)::int::text, 6, '0'), round((random() * 1e5)::numeric, 2),
       (ARRAY['paid', 'pending', 'refunded', 'shipped'])[1 + (random() * 3)::int],
       now() - random() * interval '365 days', md5(random()::text) || ' ' || md5(random()::text)
FROM generate_series(1, {rows}) g;
"""


@contextmanager
def database(rows: int) -> Iterator[Any]:
    """A throwaway PostgreSQL server and a database of the app's own on it, with ``rows`` orders."""
    from tests.fixtures.database import app_database
    from tests.fixtures.postgres import postgres_bindir, throwaway_cluster

    bindir = postgres_bindir()
    if bindir is None:
        raise RuntimeError("no PostgreSQL server installed: apt-get install postgresql (make install-test as root)")
    with throwaway_cluster(bindir) as url, app_database(url) as db:
        db.execute("DROP TABLE orders")
        db.execute(FILL.format(rows=rows))
        db.execute("VACUUM ANALYZE orders")
        yield db


def count_orders(db: Any) -> int:
    import psycopg

    with psycopg.connect(**db.connection_args()) as conn:
        return int(conn.execute("SELECT count(*) FROM orders").fetchone()[0])  # type: ignore[index]


def database_scripts(db: Any, cwd: Path) -> Any:
    """The example's scripts as arxdeploy runs them, with the database's PG* variables."""
    from arxdeploy.database import DatabaseScripts, Script

    def script(key: str, name: str) -> Script:
        return Script(f"backup.database.{key}", f"scripts/{name}", (SCRIPTS / name).read_bytes())

    return DatabaseScripts(
        backup_script=script("backup_script", "backup_database.sh"),
        restore_script=script("restore_script", "restore_database.sh"),
        timeout=timedelta(minutes=30),
        cwd=cwd,
        environ={**os.environ, **db.env},
        mask=lambda text: text,
    )


def seed_export() -> Any:
    """What the Kubernetes target exports of examples/arxos's staging environment with 1.0 running."""
    import dataclasses

    from pyrage import x25519

    from arxdeploy.config import load
    from arxdeploy.domain.states import Color
    from arxdeploy.targets.kubernetes.spec import spec_from_config
    from arxdeploy.targets.kubernetes.target import KubernetesTarget
    from arxdeploy.testing.kube import KubeEmulator

    # The example seals its backups for a key its workflow gives in a variable: any key will do here.
    loaded = load(EXAMPLE, {"ARXDEPLOY_BACKUP_RECIPIENT": str(x25519.Identity.generate().to_public())})
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
    from arxdeploy.domain.states import Color, Kind
    from arxdeploy.testing.store import MemoryStore

    repeats = 1 if quick else 3
    rows = ROWS // (10 if quick else 1)
    key = x25519.Identity.generate()
    results: dict[str, Any] = {}
    dump_sizes: list[int] = []
    with tempfile.TemporaryDirectory(prefix="arx-bench-backup-") as tmp, ExitStack() as stack:
        folder = Path(tmp)
        log("backup: the seed's objects from the emulator")
        export = seed_export()
        objects_bytes = sum(len(data) for data in export.files.values())
        log(f"backup: a PostgreSQL database of {rows:,} orders")
        db = stack.enter_context(database(rows))
        server = _server_version(db)
        scripts = database_scripts(db, folder)
        timed: dict[str, float] = {}

        def dump(d: Deployment, into: Path) -> dict[str, Path]:
            start = time.perf_counter()
            dumps = scripts.dump(d, into)
            timed["dump"] = time.perf_counter() - start
            dump_sizes.append(sum(path.stat().st_size for path in dumps.values()))
            return dumps

        def restore(d: Deployment, dumps: Any, backup: Any) -> str:
            start = time.perf_counter()
            line = scripts.restore(d, dumps, backup)
            timed["restore"] = time.perf_counter() - start
            return str(line)

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
                                dumps=dump,
                            ),
                            rules=Rules(keep=100, recipients=(str(key.to_public()),) if sealed else ()),
                            opener=lambda: Opener([key]),
                            restore_dumps=restore,
                        )

                    saves, dumps_s, restores, pg_restores, sizes = [], [], [], [], []
                    for n in range(repeats):
                        now = datetime.now(UTC)
                        d = Deployment(
                            f"{now:%Y%m%d-%H%M%S}-{n:04x}", "arxos", "staging", "1.1", "1.0",
                            Color.GREEN, Color.BLUE, now,
                        )  # fmt: skip
                        start = time.perf_counter()
                        info = backups().save(deployment=d, export=export)
                        saves.append(time.perf_counter() - start)
                        dumps_s.append(timed["dump"])
                        sizes.append(info.size)
                        back = replace(d, id=f"{now:%Y%m%d-%H%M%S}-{n + 0x100:04x}", kind=Kind.RESTORE, version="1.0")
                        start = time.perf_counter()
                        fresh = backups()
                        part = fresh.target_part(backup_id=d.id)
                        fresh.restore_database(backup_id=d.id, deployment=back)
                        restores.append(time.perf_counter() - start)
                        pg_restores.append(timed["restore"])
                        assert part.files == dict(export.files) and count_orders(db) == rows
                    results[name] = {
                        "backup_s": _summary(saves),
                        "of_which_dump_s": _summary(dumps_s),
                        "restore_s": _summary(restores),
                        "of_which_pg_restore_s": _summary(pg_restores),
                        "stored_bytes": int(statistics.median(sizes)),
                    }
    return {
        "repeats": repeats,
        "objects": len(export.files),
        "objects_bytes": objects_bytes,
        "database_rows": rows,
        "dump_bytes": int(statistics.median(dump_sizes)),
        "dump": f"pg_dump --format=custom by examples/arxos's backup_database.sh (PostgreSQL {server})",
        "results": results,
    }


def _server_version(db: Any) -> str:
    import psycopg

    with psycopg.connect(**db.connection_args()) as conn:
        return str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]


def _summary(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 3), "min": round(min(values), 3), "max": round(max(values), 3)}


def headline(figures: dict[str, Any]) -> str:
    r = figures["results"]
    parts = [f"{name}: {v['backup_s']['median']}s / {v['restore_s']['median']}s" for name, v in r.items()]
    return f"backup / restore medians with a {figures['dump_bytes'] / 1e6:.0f} MB pg_dump: " + ", ".join(parts)


if __name__ == "__main__":
    run_alone(sys.modules[__name__])
