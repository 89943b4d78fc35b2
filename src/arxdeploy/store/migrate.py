"""Bring a database's schema up to date, cheaply when it already is.

Every CLI command opens the store, so the common case (schema current) costs one SELECT;
Alembic is imported and run only when the database is behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from arxdeploy.errors import StoreError

if TYPE_CHECKING:
    from sqlalchemy import Engine

# The newest revision in migrations/versions; a test checks they agree.
HEAD = "0007"
MIGRATIONS = Path(__file__).with_name("migrations")
# Serializes concurrent first opens of a PostgreSQL database (any constant works).
_PG_MIGRATION_LOCK = 0x61727864


def current_revision(engine: Engine) -> str | None:
    """The revision stamped in the database, or None for a fresh one."""
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError, ProgrammingError

    with engine.connect() as conn:
        try:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except (OperationalError, ProgrammingError):
            # No table yet (or an unusable database: upgrade() then reports the real error).
            return None


def ensure_current(engine: Engine) -> None:
    if current_revision(engine) != HEAD:
        upgrade(engine)


def upgrade(engine: Engine) -> None:
    from alembic import command
    from alembic.config import Config
    from alembic.util import CommandError
    from sqlalchemy import text

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    with engine.connect() as conn:
        # BEGIN IMMEDIATE on SQLite: a second process opening a fresh file waits here for the
        # first to finish, then finds the schema current, instead of failing half-way.
        conn.execution_options(arxdeploy_begin="IMMEDIATE")
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
            config.attributes["connection"] = conn
            try:
                command.upgrade(config, "head")
            except CommandError as exc:
                # Typically "Can't locate revision": a newer arxdeploy migrated this database.
                raise StoreError(
                    f"cannot upgrade the store schema: {exc}",
                    hint="this database was likely written by a newer arxdeploy; upgrade arxdeploy",
                ) from exc
