"""The SQLite reader of read-only commands: current schemas only, and never a write."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from arxdeploy.errors import StoreError
from arxdeploy.store import migrate
from arxdeploy.store.reader import SqliteReader
from arxdeploy.store.sql import SqlStore
from tests.store.helpers import deployment, holder


def test_a_missing_file_or_an_old_schema_is_left_to_the_sql_store(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    assert SqliteReader.open(path, migrate.HEAD) is None
    assert not path.exists()  # opening nothing created nothing
    SqlStore(f"sqlite:///{path}").close()
    assert SqliteReader.open(path, "0001") is None  # another revision: the SqlStore migrates or explains
    reader = SqliteReader.open(path, migrate.HEAD)
    assert reader is not None
    reader.close()


def test_the_reader_refuses_every_write_and_cannot_write_the_file(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with SqlStore(f"sqlite:///{path}") as store:
        store.create(deployment=deployment("dep000000001"), events=[])
    reader = SqliteReader.open(path, migrate.HEAD)
    assert reader is not None
    try:
        with pytest.raises(StoreError, match="this command only reads"):
            reader.create(deployment=deployment("dep000000002"), events=[])
        with pytest.raises(StoreError, match="this command only reads"):
            reader.acquire_lock(service="shop", environment="production", holder=holder("dep000000002", acquired=0))
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            reader._conn.execute("DELETE FROM deployments")  # query_only, below our own methods too
        assert [s.deployment.id for s in reader.history(service="shop")] == ["dep000000001"]
    finally:
        reader.close()
