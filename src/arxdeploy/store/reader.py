"""The record of a SQLite store, read with the standard library: what read-only commands use.

`status`, `history`, `show`, `logs`, `approvals` and `backup list|show` only read. SQLAlchemy
takes longer to import than the rest of such a command, so they read the file through
``sqlite3`` instead, with ``PRAGMA query_only``: a command that only reads cannot write the
record either. The queries are the ``SqlStore``'s, written out; the rows become records through
the same functions (``store.common``), and the store contract suite runs against this reader.
It is used only when the file's schema is current; otherwise the command opens the
``SqlStore``, which migrates it.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

from arxdeploy.domain.events import Deployment, Event
from arxdeploy.domain.states import State
from arxdeploy.errors import StoreError
from arxdeploy.ports import LiveRelease, LockHolder, Summary, TokenRecord
from arxdeploy.store.common import (
    MIN_PREFIX,
    decode_event,
    holder_of,
    live_of,
    pick,
    summary_of,
    token_of,
    unknown_id,
)

BUSY_TIMEOUT_MS = 5000
_TERMINAL = tuple(s.value for s in State if s.terminal)


class SqliteReader:
    """``arxdeploy.ports.Store`` for reading; every write raises StoreError."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._mutex = threading.Lock()  # one connection, any thread
        try:
            self._conn = sqlite3.connect(
                path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA query_only = ON")
        except sqlite3.Error as exc:
            raise StoreError(f"could not open the store ({path}): {exc}") from exc

    @classmethod
    def open(cls, path: Path, head: str) -> SqliteReader | None:
        """A reader of ``path`` if its schema is at revision ``head``; None otherwise (missing
        file, older or newer schema: the SqlStore then migrates or explains)."""
        if not path.is_file():
            return None
        reader = cls(path)
        try:
            revision = reader._one("SELECT version_num FROM alembic_version", ())
        except StoreError:
            revision = None
        if revision is None or revision["version_num"] != head:
            reader.close()
            return None
        return reader

    def close(self) -> None:
        self._conn.close()

    def __repr__(self) -> str:
        return f"SqliteReader({str(self.path)!r})"

    # --- reads ------------------------------------------------------------------------------

    def get(self, *, deployment_id: str) -> Summary:
        prefix = len(deployment_id) >= MIN_PREFIX
        rows = self._all(
            "SELECT * FROM deployments WHERE id = ? OR (? AND substr(id, 1, ?) = ?)",
            (deployment_id, prefix, len(deployment_id), deployment_id),
        )
        by_id = {row["id"]: row for row in rows}
        return summary_of(by_id[pick(deployment_id, list(by_id))])

    def events(self, *, deployment_id: str) -> list[Event]:
        rows = self._all("SELECT payload FROM events WHERE deployment_id = ? ORDER BY seq", (deployment_id,))
        if not rows and self._one("SELECT id FROM deployments WHERE id = ?", (deployment_id,)) is None:
            raise unknown_id(deployment_id)
        return [decode_event(row["payload"]) for row in rows]

    def history(self, *, service: str, environment: str | None = None, limit: int = 20) -> list[Summary]:
        where, values = "service = ?", [service]
        if environment is not None:
            where, values = "service = ? AND environment = ?", [service, environment]
        rows = self._all(
            f"SELECT * FROM deployments WHERE {where} ORDER BY created_at DESC, id DESC LIMIT ?",
            (*values, max(limit, 0)),
        )
        return [summary_of(row) for row in rows]

    def unfinished(self, *, service: str, environment: str) -> list[Summary]:
        marks = ", ".join("?" for _ in _TERMINAL)
        rows = self._all(
            "SELECT * FROM deployments WHERE service = ? AND environment = ? "
            f"AND state NOT IN ({marks}) ORDER BY created_at, id",
            (service, environment, *_TERMINAL),
        )
        return [summary_of(row) for row in rows]

    def live(self, *, service: str, environment: str) -> LiveRelease | None:
        row = self._one(
            "SELECT e.deployment_id, e.payload FROM events e JOIN deployments d ON d.id = e.deployment_id "
            "WHERE d.service = ? AND d.environment = ? AND e.type = 'switched' "
            "ORDER BY e.at DESC, d.created_at DESC, e.seq DESC LIMIT 1",
            (service, environment),
        )
        return live_of(row["deployment_id"], decode_event(row["payload"])) if row else None

    def lock_holder(self, *, service: str, environment: str) -> LockHolder | None:
        row = self._one("SELECT * FROM locks WHERE service = ? AND environment = ?", (service, environment))
        return holder_of(row) if row else None

    def tokens(self) -> list[TokenRecord]:
        return [token_of(row) for row in self._all("SELECT * FROM tokens ORDER BY created_at, id", ())]

    # --- writes: never from a command that only reads ---------------------------------------

    def create(self, *, deployment: Deployment, events: Sequence[Event]) -> None:
        self._refuse("record a deployment")

    def append(self, *, deployment_id: str, events: Sequence[Event]) -> None:
        self._refuse("append events")

    def acquire_lock(self, *, service: str, environment: str, holder: LockHolder) -> LockHolder:
        self._refuse("take a lock")

    def renew_lock(self, *, service: str, environment: str, holder: LockHolder, expires_at: datetime) -> bool:
        self._refuse("renew a lock")

    def release_lock(self, *, service: str, environment: str, holder: LockHolder) -> None:
        self._refuse("release a lock")

    def break_lock(self, *, service: str, environment: str, holder: LockHolder) -> bool:
        self._refuse("break a lock")

    def add_token(self, *, token: TokenRecord) -> None:
        self._refuse("add a token")

    def add_first_admin(self, *, token: TokenRecord) -> bool:
        self._refuse("add a token")

    def revoke_token(self, *, token_id: str, at: datetime) -> bool:
        self._refuse("revoke a token")

    # --- plumbing ---------------------------------------------------------------------------

    def _all(self, sql: str, values: Sequence[Any]) -> list[sqlite3.Row]:
        try:
            with self._mutex:
                return self._conn.execute(sql, values).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"could not read the store ({self.path}): {exc}") from exc

    def _one(self, sql: str, values: Sequence[Any]) -> sqlite3.Row | None:
        rows = self._all(sql, values)
        return rows[0] if rows else None

    def _refuse(self, doing: str) -> NoReturn:
        raise StoreError(f"cannot {doing}: this command only reads the record ({self.path})")
