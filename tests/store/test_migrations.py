"""Schema management: fresh databases, older databases, and a cheap open when up to date."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from arxdeploy.domain.events import entered, note
from arxdeploy.domain.states import State
from arxdeploy.errors import StoreError
from arxdeploy.store import migrate, sql
from arxdeploy.store.schema import metadata
from arxdeploy.store.sql import SqlStore
from tests.store.helpers import at, deployment


def _alembic(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrate.MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url)
    return config


def test_head_constant_matches_the_migration_scripts() -> None:
    assert ScriptDirectory.from_config(_alembic("sqlite://")).get_current_head() == migrate.HEAD


def test_a_fresh_file_another_opener_holds_is_waited_for_not_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another process opening the same fresh file holds its lock: SQLite refuses the switch to
    # WAL at once ("database is locked") instead of waiting busy_timeout. The open retries.
    path = tmp_path / "state.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("CREATE TABLE first_opener (x)")
    refused: list[float] = []

    def sleep(seconds: float) -> None:  # the retry's pause: the other opener finishes meanwhile
        refused.append(seconds)
        if other.in_transaction:
            other.execute("COMMIT")

    monkeypatch.setattr(sql, "time", SimpleNamespace(monotonic=time.monotonic, sleep=sleep))
    with SqlStore(f"sqlite:///{path}") as store:
        assert store.history(service="shop") == []
    other.close()
    assert refused, "the switch to WAL was never refused: this test no longer covers the retry"
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_fresh_file_gets_the_schema_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "state.db"

    SqlStore(f"sqlite:///{path}").close()

    db = sqlite3.connect(path)
    try:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"deployments", "events", "locks", "alembic_version"} <= tables
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [(migrate.HEAD,)]
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        db.close()


def test_migrations_produce_exactly_the_declared_schema(sql_url: str) -> None:
    SqlStore(sql_url).close()
    engine = create_engine(sql_url)
    try:
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    finally:
        engine.dispose()


def test_database_at_0001_opens_and_is_usable(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    command.upgrade(_alembic(url), "0001")
    # Rows as the 0001-era code wrote them.
    created = entered(State.VALIDATING, at(1))
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO deployments VALUES ('old000000001', 'shop', 'production', 'v2', 'v1', 'green', 'blue',"
                " 'deploy', 'ana@laptop', 'release', 'main', '0123abcd', 0, 0, 1,"
                " '2025-03-01T12:00:00.000000+00:00', 'validating', '2025-03-01T12:00:01.000000+00:00')"
            )
        )
        conn.execute(
            text("INSERT INTO events VALUES ('old000000001', 1, 'state', '2025-03-01T12:00:01.000000+00:00', :p)"),
            {"p": json.dumps(created.to_json())},
        )
    engine.dispose()

    with SqlStore(url) as store:
        # Columns added since 0001 read as unknown.
        old = dataclasses.replace(deployment("old000000001"), actor=None, run_url=None)
        assert store.get(deployment_id="old000").deployment == old
        store.append(deployment_id="old000000001", events=[note("after upgrade", at(2)), entered(State.FAILED, at(3))])
        assert store.events(deployment_id="old000000001")[0] == created
        assert [s.state for s in store.history(service="shop")] == [State.FAILED]


def test_tokens_from_before_roles_become_approvers_that_never_expire(sql_url: str) -> None:
    from arxdeploy.domain.roles import Role
    from arxdeploy.ports import TokenRecord

    SqlStore(sql_url).close()
    engine = create_engine(sql_url)
    try:
        with engine.begin() as conn:  # back to 0005 (the downgrade works too), then a token as it was written
            config = _alembic("sqlite://")  # the connection is what counts
            config.attributes["connection"] = conn
            command.downgrade(config, "0005")
            assert {c["name"] for c in inspect(conn).get_columns("tokens")} == {
                "id",
                "email",
                "secret_sha256",
                "created_at",
                "created_by",
                "revoked_at",
                "github",
            }
            conn.execute(
                text(
                    "INSERT INTO tokens (id, email, secret_sha256, created_at, created_by, github)"
                    " VALUES ('3f9a2c1b7e04', 'bo@example.com', :digest, :at, 'ops', 'bo-gh')"
                ),
                {
                    "digest": "0" * 64,
                    "at": at(1) if conn.dialect.name == "postgresql" else at(1).isoformat(timespec="microseconds"),
                },
            )
    finally:
        engine.dispose()

    with SqlStore(sql_url) as store:
        assert store.tokens() == [
            TokenRecord("3f9a2c1b7e04", "bo@example.com", "0" * 64, at(1), "ops", github="bo-gh", role=Role.APPROVER)
        ]
        assert store.tokens()[0].expires_at is None


def test_database_from_a_newer_arxdeploy_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    SqlStore(url).close()
    db = sqlite3.connect(tmp_path / "state.db")
    with db:
        db.execute("UPDATE alembic_version SET version_num = '9999'")
    db.close()

    with pytest.raises(StoreError) as caught:
        SqlStore(url)

    assert caught.value.hint and "newer arxdeploy" in caught.value.hint


def test_opening_an_up_to_date_store_does_not_run_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    SqlStore(url).close()
    probe = (
        "import sys, time\n"
        "from arxdeploy.store.sql import SqlStore\n"
        "t = time.perf_counter(); SqlStore(sys.argv[1]).close(); ms = (time.perf_counter() - t) * 1000\n"
        "print('alembic' in sys.modules, round(ms, 1))\n"
    )

    out = subprocess.run([sys.executable, "-c", probe, url], capture_output=True, text=True, check=True, timeout=60)

    imported, _ms = out.stdout.split()
    assert imported == "False"


def test_store_package_and_memory_store_do_not_import_sqlalchemy() -> None:
    probe = (
        "import sys, arxdeploy.store, arxdeploy.store.common, arxdeploy.testing.store\n"
        "print('sqlalchemy' in sys.modules)"
    )

    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)

    assert out.stdout.strip() == "False"


def test_database_errors_become_store_errors_saying_what_failed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    with SqlStore(url) as store:
        store.create(deployment=deployment("d1a2b3c4d5e6"), events=[])
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE events"))
        engine.dispose()

        with pytest.raises(StoreError, match="could not read the events of deployment d1a2b3c4d5e6") as caught:
            store.events(deployment_id="d1a2b3c4d5e6")

    assert isinstance(caught.value.__cause__, Exception)
    assert caught.value.hint and "reachable and writable" in caught.value.hint


def test_unusable_locations_raise_store_errors(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")

    with pytest.raises(StoreError, match="cannot open the store"):
        SqlStore(f"sqlite:///{tmp_path / 'a-file' / 'state.db'}")
    with pytest.raises(StoreError, match="invalid store URL"):
        SqlStore("not a url")


def test_unreachable_postgres_raises_a_store_error_with_a_hint() -> None:
    pytest.importorskip("psycopg", reason="the PostgreSQL driver is optional")
    with pytest.raises(StoreError, match="could not open the store") as caught:
        SqlStore("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=5")
    assert caught.value.hint and "reachable" in caught.value.hint


def test_sqlite_connections_are_configured(tmp_path: Path) -> None:
    with SqlStore(f"sqlite:///{tmp_path / 'state.db'}") as store:
        engine = store._engine  # white-box: the pragmas are set per connection
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert inspect(conn).get_foreign_keys("events")[0]["referred_table"] == "deployments"
