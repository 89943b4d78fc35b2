"""Tables of the SQL store. Migrations (``migrations/versions``) must produce exactly this."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from arxdeploy.store.common import require_aware

# Fixed-width ISO text: "2025-01-31T12:00:00.000000+00:00".
_ISO_WIDTH = 32


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out: ``timestamptz`` on PostgreSQL, ISO text elsewhere.

    SQLite has no time type; fixed-width UTC text sorts in time order, so ``ORDER BY`` and
    ``expires_at <= :now`` compare correctly there too.
    """

    impl = String(_ISO_WIDTH)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(DateTime(timezone=True))
        return dialect.type_descriptor(String(_ISO_WIDTH))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        utc = require_aware(value).astimezone(UTC)
        return utc if dialect.name == "postgresql" else utc.isoformat(timespec="microseconds")

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
        assert isinstance(parsed, datetime)
        return parsed.astimezone(UTC)


metadata = MetaData()

deployments = Table(
    "deployments",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("service", String(200), nullable=False),
    Column("environment", String(200), nullable=False),
    Column("version", String(200), nullable=False),
    Column("previous_version", String(200)),
    Column("new_color", String(16), nullable=False),
    Column("old_color", String(16)),
    Column("kind", String(16), nullable=False),
    Column("requested_by", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("git_ref", Text),
    Column("git_sha", String(64)),
    Column("actor", Text),
    Column("run_url", Text),
    Column("critical", Boolean, nullable=False),
    Column("needs_approval", Boolean, nullable=False),
    Column("monitor", Boolean, nullable=False),
    Column("reconcile_first", Boolean, nullable=False, server_default=false()),
    Column("from_backup", String(128)),
    Column("created_at", UtcDateTime, nullable=False),
    # A cache of fold(events).state for listing; the event log stays the truth.
    Column("state", String(32), nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_deployments_service_env_created", "service", "environment", "created_at"),
)

events = Table(
    "events",
    metadata,
    Column("deployment_id", String(64), ForeignKey("deployments.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("type", String(64), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("payload", Text, nullable=False),  # Event.to_json(): old fields survive upgrades
    PrimaryKeyConstraint("deployment_id", "seq", name="pk_events"),
    Index("ix_events_type_at", "type", "at"),
)

locks = Table(
    "locks",
    metadata,
    Column("service", String(200), nullable=False),
    Column("environment", String(200), nullable=False),
    Column("deployment_id", String(64), nullable=False),
    Column("owner", Text, nullable=False),
    Column("host", Text, nullable=False),
    Column("pid", Integer, nullable=False),
    Column("acquired_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("service", "environment", name="pk_locks"),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("email", String(320), nullable=False),
    Column("secret_sha256", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("revoked_at", UtcDateTime),
    Column("github", String(100)),
    Column("role", String(16), nullable=False, server_default="approver"),
    Column("expires_at", UtcDateTime),
)
