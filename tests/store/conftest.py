"""Store fixtures: one contract, every implementation.

The PostgreSQL cases use the session's server (``postgres_server`` in tests/conftest.py); each
test gets its own schema.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from arxdeploy.ports import Store
from arxdeploy.testing.store import MemoryStore


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
        from tests.fixtures.kube import forget_namespaces
        from tests.store.workers import cluster_spec

        cluster = request.getfixturevalue("cluster")
        request.addfinalizer(lambda: forget_namespaces(cluster, request.node.nodeid))
        return cluster_spec(cluster.kubeconfig, request.node.nodeid)
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
    from tests.fixtures.kube import forget_namespaces, record_store

    cluster = request.getfixturevalue("cluster")
    request.addfinalizer(lambda: forget_namespaces(cluster, request.node.nodeid))
    kubeconfig = cluster.kubeconfig
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
