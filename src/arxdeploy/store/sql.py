"""The Store on SQL: a SQLite file shared by several processes, or PostgreSQL.

Every method is one short transaction. On SQLite, writes start with ``BEGIN IMMEDIATE`` so
that concurrent writers queue on ``busy_timeout`` instead of failing when a read lock would
need upgrading; on PostgreSQL, row locks and unique keys do the same job.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Self

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from arxdeploy.domain.events import Deployment, Event
from arxdeploy.domain.roles import Role
from arxdeploy.domain.states import State
from arxdeploy.errors import StoreError
from arxdeploy.ports import LiveRelease, LockHolder, Summary, TokenRecord
from arxdeploy.store import migrate
from arxdeploy.store.common import (
    MIN_PREFIX,
    already_exists,
    decode_event,
    encode_event,
    holder_of,
    last_state,
    live_of,
    pick,
    require_aware,
    summary_of,
    token_of,
    unknown_id,
)
from arxdeploy.store.schema import deployments, locks

# Methods take arguments named ``events``, hence another name for that table.
from arxdeploy.store.schema import events as event_log
from arxdeploy.store.schema import tokens as tokens_table

BUSY_TIMEOUT_MS = 5000
# Serializes first-admin bootstraps on PostgreSQL (any constant, distinct from the migrations').
_PG_FIRST_ADMIN_LOCK = 0x61727874
_BEGIN_MODES = frozenset({"DEFERRED", "IMMEDIATE"})


class SqlStore:
    """``arxdeploy.ports.Store`` on SQLAlchemy. Opening brings the schema up to date."""

    def __init__(self, url: str) -> None:
        try:
            parsed = make_url(url)
        except SQLAlchemyError as exc:
            raise StoreError(f"invalid store URL {url!r}: {exc}") from exc
        self.url = parsed.render_as_string(hide_password=True)
        self._engine = _engine(parsed)
        try:
            with self._guard("open the store"):
                migrate.ensure_current(self._engine)
        except BaseException:
            self._engine.dispose()
            raise

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SqlStore({self.url!r})"

    # --- deployments and events ----------------------------------------------------------

    def create(self, *, deployment: Deployment, events: Sequence[Event]) -> None:
        require_aware(deployment.created_at, "created_at")
        payloads = [encode_event(e) for e in events]
        with self._write(f"record deployment {deployment.id}") as conn:
            try:
                conn.execute(
                    insert(deployments).values(
                        **_deployment_row(deployment),
                        state=last_state(events) or State.REQUESTED,
                        updated_at=events[-1].at if events else deployment.created_at,
                    )
                )
            except IntegrityError as exc:
                raise already_exists(deployment.id) from exc
            _insert_events(conn, deployment.id, 1, events, payloads)

    def append(self, *, deployment_id: str, events: Sequence[Event]) -> None:
        payloads = [encode_event(e) for e in events]
        with self._write(f"append events to deployment {deployment_id}") as conn:
            if not events:
                if not _exists(conn, deployment_id):
                    raise unknown_id(deployment_id)
                return
            values: dict[str, Any] = {"updated_at": events[-1].at}
            if (state := last_state(events)) is not None:
                values["state"] = state
            # The UPDATE goes first: it takes the row (PostgreSQL) or write (SQLite) lock, so
            # concurrent appenders queue here and number their events contiguously.
            updated = conn.execute(update(deployments).where(deployments.c.id == deployment_id).values(values))
            if updated.rowcount != 1:
                raise unknown_id(deployment_id)
            last = conn.execute(
                select(func.coalesce(func.max(event_log.c.seq), 0)).where(event_log.c.deployment_id == deployment_id)
            ).scalar_one()
            _insert_events(conn, deployment_id, int(last) + 1, events, payloads)

    def get(self, *, deployment_id: str) -> Summary:
        d = deployments
        match = d.c.id == deployment_id
        if len(deployment_id) >= MIN_PREFIX:
            match = match | d.c.id.startswith(deployment_id, autoescape=True)
        with self._read(f"read deployment {deployment_id}") as conn:
            rows = conn.execute(select(d).where(match)).all()
        # LIKE ignores case on SQLite: keep only exact prefix matches, as elsewhere.
        by_id = {row.id: row for row in rows if row.id.startswith(deployment_id)}
        return summary_of(by_id[pick(deployment_id, list(by_id))]._asdict())

    def events(self, *, deployment_id: str) -> list[Event]:
        with self._read(f"read the events of deployment {deployment_id}") as conn:
            payloads = (
                conn.execute(
                    select(event_log.c.payload)
                    .where(event_log.c.deployment_id == deployment_id)
                    .order_by(event_log.c.seq)
                )
                .scalars()
                .all()
            )
            if not payloads and not _exists(conn, deployment_id):
                raise unknown_id(deployment_id)
        return [decode_event(p) for p in payloads]

    def history(self, *, service: str, environment: str | None = None, limit: int = 20) -> list[Summary]:
        d = deployments
        query = select(d).where(d.c.service == service)
        if environment is not None:
            query = query.where(d.c.environment == environment)
        query = query.order_by(d.c.created_at.desc(), d.c.id.desc()).limit(max(limit, 0))
        with self._read(f"list deployments of {service}") as conn:
            return [summary_of(row._asdict()) for row in conn.execute(query)]

    def unfinished(self, *, service: str, environment: str) -> list[Summary]:
        d = deployments
        query = (
            select(d)
            .where(d.c.service == service, d.c.environment == environment)
            .where(d.c.state.not_in([s.value for s in State if s.terminal]))
            .order_by(d.c.created_at, d.c.id)
        )
        with self._read(f"list unfinished deployments of {service}/{environment}") as conn:
            return [summary_of(row._asdict()) for row in conn.execute(query)]

    def live(self, *, service: str, environment: str) -> LiveRelease | None:
        d, e = deployments, event_log
        query = (
            select(e.c.deployment_id, e.c.payload)
            .select_from(e.join(d, d.c.id == e.c.deployment_id))
            .where(d.c.service == service, d.c.environment == environment, e.c.type == "switched")
            .order_by(e.c.at.desc(), d.c.created_at.desc(), e.c.seq.desc())
            .limit(1)
        )
        with self._read(f"find the live release of {service}/{environment}") as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return live_of(row.deployment_id, decode_event(row.payload))

    # --- locks ---------------------------------------------------------------------------

    def acquire_lock(self, *, service: str, environment: str, holder: LockHolder) -> LockHolder:
        require_aware(holder.acquired_at, "acquired_at")
        require_aware(holder.expires_at, "expires_at")
        key = _lock_key(service, environment)
        for _ in range(3):  # a holder can vanish between our failed insert and our read
            with self._write(f"take the lock on {service}/{environment}") as conn:
                conn.execute(delete(locks).where(key, locks.c.expires_at <= holder.acquired_at))
                try:
                    # A savepoint keeps the transaction usable on PostgreSQL after a conflict.
                    with conn.begin_nested():
                        ours = {"service": service, "environment": environment, **_holder_row(holder)}
                        conn.execute(insert(locks).values(ours))
                    return holder
                except IntegrityError:
                    pass  # someone else holds a live lease: report them
                row = conn.execute(select(locks).where(key)).first()
                if row is not None:
                    return holder_of(row._asdict())
        raise StoreError(f"could not take or read the lock on {service}/{environment}: it kept changing; retry")

    def renew_lock(self, *, service: str, environment: str, holder: LockHolder, expires_at: datetime) -> bool:
        require_aware(expires_at, "expires_at")
        with self._write(f"renew the lock on {service}/{environment}") as conn:
            result = conn.execute(
                update(locks).where(*_exactly(service, environment, holder)).values(expires_at=expires_at)
            )
            return result.rowcount == 1

    def release_lock(self, *, service: str, environment: str, holder: LockHolder) -> None:
        with self._write(f"release the lock on {service}/{environment}") as conn:
            conn.execute(delete(locks).where(*_exactly(service, environment, holder)))

    def break_lock(self, *, service: str, environment: str, holder: LockHolder) -> bool:
        require_aware(holder.acquired_at, "acquired_at")
        with self._write(f"break the lock on {service}/{environment}") as conn:
            result = conn.execute(delete(locks).where(*_exactly(service, environment, holder)))
            return result.rowcount == 1

    def lock_holder(self, *, service: str, environment: str) -> LockHolder | None:
        with self._read(f"read the lock on {service}/{environment}") as conn:
            row = conn.execute(select(locks).where(_lock_key(service, environment))).first()
            return holder_of(row._asdict()) if row is not None else None

    # --- tokens ----------------------------------------------------------------------------

    def add_token(self, *, token: TokenRecord) -> None:
        with self._write(f"add token {token.id}") as conn:
            _insert_token(conn, token)

    def add_first_admin(self, *, token: TokenRecord) -> bool:
        at = require_aware(token.created_at, "created_at")
        t = tokens_table
        with self._write(f"add token {token.id}") as conn:
            if conn.dialect.name == "postgresql":
                # SQLite's BEGIN IMMEDIATE already serializes writers; here, two first admins at once
                # would both find none without this lock (held until the transaction ends).
                conn.execute(select(func.pg_advisory_xact_lock(_PG_FIRST_ADMIN_LOCK)))
            active = select(t.c.id).where(
                t.c.role == Role.ADMIN.value,
                t.c.revoked_at.is_(None),
                t.c.expires_at.is_(None) | (t.c.expires_at > at),
            )
            if conn.execute(active.limit(1)).first() is not None:
                return False
            _insert_token(conn, token)
            return True

    def tokens(self) -> list[TokenRecord]:
        with self._read("list tokens") as conn:
            rows = conn.execute(select(tokens_table).order_by(tokens_table.c.created_at, tokens_table.c.id))
            return [token_of(row._asdict()) for row in rows]

    def revoke_token(self, *, token_id: str, at: datetime) -> bool:
        with self._write(f"revoke token {token_id}") as conn:
            result = conn.execute(
                update(tokens_table)
                .where(tokens_table.c.id == token_id, tokens_table.c.revoked_at.is_(None))
                .values(revoked_at=require_aware(at, "at"))
            )
            return result.rowcount == 1

    # --- plumbing ------------------------------------------------------------------------

    @contextmanager
    def _read(self, doing: str) -> Iterator[Connection]:
        with self._guard(doing), self._engine.connect() as conn:
            yield conn  # autobegins a deferred transaction: one consistent snapshot

    @contextmanager
    def _write(self, doing: str) -> Iterator[Connection]:
        with self._guard(doing), self._engine.connect() as conn:
            conn.execution_options(arxdeploy_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    @contextmanager
    def _guard(self, doing: str) -> Iterator[None]:
        """Translate SQLAlchemy errors at this boundary into StoreError saying what to do."""
        try:
            yield
        except SQLAlchemyError as exc:
            detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            hint = None
            if isinstance(exc, OperationalError):
                if "locked" in detail or "busy" in detail:
                    hint = (
                        "another process kept the database busy for more than 5 s;"
                        " retry, and look for a stuck arxdeploy process"
                    )
                else:
                    hint = f"check that the database is reachable and writable: {self.url}"
            raise StoreError(f"could not {doing} ({self.url}): {detail}", hint=hint) from exc


def _engine(url: URL) -> Engine:
    try:
        if url.get_backend_name() != "sqlite":
            return create_engine(url, pool_pre_ping=True)
        database = url.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url)
    except ImportError as exc:
        raise StoreError(
            f"no database driver for {url.drivername!r}: {exc}",
            hint="for PostgreSQL: pip install 'psycopg[binary]'",
        ) from exc
    except (SQLAlchemyError, OSError) as exc:
        raise StoreError(f"cannot open the store at {url.render_as_string(hide_password=True)}: {exc}") from exc
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # We emit BEGIN ourselves (_sqlite_begin): the sqlite3 module's implicit one is deferred
    # and skips SELECTs, which breaks both snapshots and write-lock ordering.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    _use_wal(cursor)
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()


def _use_wal(cursor: Any) -> None:
    """WAL, so readers never block the writer. The mode belongs to the file: it is set once, by
    whichever process opens a fresh file first. That change takes a lock that the busy handler
    does not wait for, so two processes opening a fresh file at once retry until one has made it."""
    import sqlite3

    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _sqlite_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get("arxdeploy_begin", "DEFERRED")
    assert mode in _BEGIN_MODES
    conn.exec_driver_sql(f"BEGIN {mode}")


def _insert_token(conn: Connection, token: TokenRecord) -> None:
    require_aware(token.created_at, "created_at")
    try:
        conn.execute(insert(tokens_table).values(**{**dataclasses.asdict(token), "role": token.role.value}))
    except IntegrityError as exc:
        raise StoreError(f"token {token.id} already exists") from exc


def _exists(conn: Connection, deployment_id: str) -> bool:
    return conn.execute(select(deployments.c.id).where(deployments.c.id == deployment_id)).first() is not None


def _insert_events(
    conn: Connection, deployment_id: str, first: int, batch: Sequence[Event], payloads: list[str]
) -> None:
    if batch:
        conn.execute(
            insert(event_log),
            [
                {"deployment_id": deployment_id, "seq": first + i, "type": e.type, "at": e.at, "payload": p}
                for i, (e, p) in enumerate(zip(batch, payloads, strict=True))
            ],
        )


def _deployment_row(d: Deployment) -> dict[str, Any]:
    return {
        "id": d.id,
        "service": d.service,
        "environment": d.environment,
        "version": d.version,
        "previous_version": d.previous_version,
        "new_color": d.new_color.value,
        "old_color": d.old_color.value if d.old_color else None,
        "kind": d.kind.value,
        "requested_by": d.requested_by,
        "reason": d.reason,
        "git_ref": d.git_ref,
        "git_sha": d.git_sha,
        "actor": d.actor,
        "run_url": d.run_url,
        "critical": d.critical,
        "needs_approval": d.route.needs_approval,
        "monitor": d.route.monitor,
        "reconcile_first": d.route.reconcile_first,
        "from_backup": d.from_backup,
        "created_at": d.created_at,
    }


def _lock_key(service: str, environment: str) -> ColumnElement[bool]:
    return (locks.c.service == service) & (locks.c.environment == environment)


def _exactly(service: str, environment: str, h: LockHolder) -> list[ColumnElement[bool]]:
    """This very holder: a recovery holds the same deployment id as the process it replaced."""
    return [
        _lock_key(service, environment),
        locks.c.deployment_id == h.deployment_id,
        locks.c.host == h.host,
        locks.c.pid == h.pid,
        locks.c.acquired_at == require_aware(h.acquired_at, "acquired_at"),
    ]


def _holder_row(h: LockHolder) -> dict[str, Any]:
    return {
        "deployment_id": h.deployment_id,
        "owner": h.owner,
        "host": h.host,
        "pid": h.pid,
        "acquired_at": h.acquired_at,
        "expires_at": h.expires_at,
    }


__all__ = ["SqlStore"]
