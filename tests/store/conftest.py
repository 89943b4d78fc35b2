"""Store fixtures: one contract, every implementation.

The PostgreSQL cases use ARXDEPLOY_TEST_POSTGRES_URL when it is set (e.g.
``postgresql+psycopg://postgres@127.0.0.1:5439/arx_test``); otherwise, when a PostgreSQL server
is installed (``/usr/lib/postgresql/*/bin/initdb``), a throwaway cluster started for the session.
Without either they skip, except under CI as root, where they fail: CI must exercise PostgreSQL.
Each test gets its own schema.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from arxdeploy.ports import Store
from arxdeploy.testing.store import MemoryStore

POSTGRES_ENV = "ARXDEPLOY_TEST_POSTGRES_URL"
POSTGRES_INSTALLS = Path("/usr/lib/postgresql")  # Debian: <version>/bin/{initdb,pg_ctl,...}
DATABASE = "arx_test"
DEADLINE = 30.0  # seconds the throwaway cluster may take to start or stop


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a PostgreSQL database for the whole session."""
    if url := os.environ.get(POSTGRES_ENV):
        yield url
        return
    bindir = _postgres_bindir()
    if bindir is None:
        reason = (
            f"no PostgreSQL server: set {POSTGRES_ENV}, or install the server (apt-get install postgresql;"
            " scripts/install-test-deps.sh does when run as root)"
        )
        if os.environ.get("CI", "").lower() == "true" and os.geteuid() == 0:
            pytest.fail(f"CI must run the store tests on PostgreSQL; {reason}", pytrace=False)
        pytest.skip(reason)
    with _throwaway_cluster(bindir) as url:
        yield url


def _postgres_bindir() -> Path | None:
    """The bin directory of the newest installed PostgreSQL server, if any."""
    found = [p.parent for p in POSTGRES_INSTALLS.glob("*/bin/initdb") if p.parent.parent.name.isdigit()]
    return max(found, key=lambda bindir: int(bindir.parent.name), default=None)


@contextlib.contextmanager
def _throwaway_cluster(bindir: Path) -> Iterator[str]:
    """Start a private cluster in a temporary directory; stop and delete it afterwards."""
    # initdb and postgres refuse to run as root: then the cluster belongs to the postgres user.
    as_postgres = os.geteuid() == 0
    root = Path(tempfile.mkdtemp(prefix="arx-pg-"))  # short: socket paths are limited to ~100 bytes
    data, sockets, log = root / "data", root / "sockets", root / "server.log"
    sockets.mkdir()
    if as_postgres:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root)
            raise RuntimeError("running as root, but there is no 'postgres' user to own the test cluster") from None
        for path in (root, sockets):
            os.chown(path, owner.pw_uid, owner.pw_gid)

    def pg(tool: str, *args: str) -> None:
        command = [str(bindir / tool), *args]
        if as_postgres:
            command = (
                ["runuser", "-u", "postgres", "--", *command]
                if shutil.which("runuser")
                else ["su", "-s", "/bin/sh", "postgres", "-c", shlex.join(command)]
            )
        done = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=DEADLINE + 10, check=False)
        if done.returncode != 0:
            server_log = log.read_text(errors="replace")[-4000:] if log.exists() else ""
            raise RuntimeError(
                f"{shlex.join(command)} exited with {done.returncode}:\n{done.stdout}{done.stderr}{server_log}"
            )

    try:
        pg("initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "-N")
        for attempt in range(3):  # the free port may be taken before the server binds it: pick another
            port = _free_port()
            options = f"-p {port} -c fsync=off -c listen_addresses=127.0.0.1 -k {shlex.quote(str(sockets))}"
            log.unlink(missing_ok=True)
            try:
                pg("pg_ctl", "start", "-D", str(data), "-l", str(log), "-o", options, "-w", "-t", str(int(DEADLINE)))
                break
            except RuntimeError as error:
                if attempt == 2 or "Address already in use" not in str(error):
                    raise
        _create_database(port)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/{DATABASE}"
    finally:
        try:
            _stop(data, pg)
        finally:
            shutil.rmtree(root, ignore_errors=True)


def _stop(data: Path, pg: Callable[..., None]) -> None:
    """Stop the server if one runs (also a half-started one), forcefully if it will not stop."""
    pidfile = data / "postmaster.pid"
    for mode in ("fast", "immediate"):
        if not pidfile.exists():
            return
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            pg("pg_ctl", "stop", "-D", str(data), "-m", mode, "-w", "-t", str(int(DEADLINE)))
    with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
        os.kill(int(pidfile.read_text().split()[0]), signal.SIGKILL)  # its backends follow it out


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _create_database(port: int) -> None:
    """Connect (retrying until the deadline: the server may still be coming up) and create the database."""
    import psycopg

    deadline = time.monotonic() + DEADLINE
    while True:
        try:
            with psycopg.connect(
                host="127.0.0.1", port=port, user="postgres", dbname="postgres", connect_timeout=5, autocommit=True
            ) as conn:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A URL whose connections see only a fresh schema, dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = postgres_server
    schema = f"arx_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'state' / 'state.db'}"


@pytest.fixture(params=["sqlite", "postgres", "cluster"])
def store_spec(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """One record that several processes open (tests.store.workers.open_store): a SQL URL, or this
    test's namespaces on the session's cluster."""
    if request.param == "cluster":
        from tests.store.workers import cluster_spec

        return cluster_spec(request.getfixturevalue("cluster").kubeconfig, request.node.nodeid)
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'state' / 'state.db'}"


@pytest.fixture(params=["memory", "sqlite", "postgres", "sqlite-reader", "cluster", "cluster-reader"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        yield MemoryStore()
        return
    if request.param.startswith("cluster"):
        yield from _cluster_store(request)
        return
    from arxdeploy.store.sql import SqlStore

    if request.param == "postgres":
        url = str(request.getfixturevalue("postgres_url"))
    else:
        url = f"sqlite:///{tmp_path / 'state' / 'state.db'}"
    sql = SqlStore(url)
    try:
        if request.param == "sqlite-reader":
            with ReadThrough(sql, tmp_path / "state" / "state.db") as store:
                yield store
        else:
            yield sql
    finally:
        sql.close()


def _cluster_store(request: pytest.FixtureRequest) -> Iterator[Store]:
    """The record in namespaces of this test's own on the session's cluster (the emulator)."""
    from tests.fixtures.kube import record_store

    kubeconfig = request.getfixturevalue("cluster").kubeconfig
    with record_store(kubeconfig, request.node.nodeid) as writer:
        if request.param == "cluster":
            yield writer
            return
        with record_store(kubeconfig, request.node.nodeid, read_only=True) as reader:
            yield cast(Store, Split(reader=reader, writer=writer))


class Split:
    """Reads through ``reader``, writes through ``writer``: the contract holds for what read-only
    commands see."""

    def __init__(self, *, reader: Store, writer: Store) -> None:
        self._reader = reader
        self._writer = writer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reader if name in READS else self._writer, name)


READS = {"get", "events", "history", "unfinished", "live", "lock_holder", "tokens"}


class ReadThrough:
    """Writes through the SqlStore, reads through the SqliteReader of the same file: the
    contract holds for what read-only commands see."""

    def __init__(self, writer: Store, path: Path) -> None:
        from arxdeploy.store import migrate
        from arxdeploy.store.reader import SqliteReader

        reader = SqliteReader.open(path, migrate.HEAD)
        assert reader is not None, "the schema is current: the reader must open it"
        self._reader = reader
        self._writer = writer

    def __enter__(self) -> Store:
        return cast(Store, self)

    def __exit__(self, *exc: object) -> None:
        self._reader.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reader if name in READS else self._writer, name)
