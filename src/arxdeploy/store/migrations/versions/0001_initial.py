"""Initial schema: deployments, their event log, and the environment locks.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Times are ISO text in fixed-width UTC on SQLite (sorts in time order) and ``timestamptz``
on PostgreSQL; see ``UtcDateTime`` in arxdeploy/store/schema.py.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def _time() -> sa.types.TypeEngine[Any]:
    return sa.String(32).with_variant(sa.DateTime(timezone=True), "postgresql")


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("service", sa.String(200), nullable=False),
        sa.Column("environment", sa.String(200), nullable=False),
        sa.Column("version", sa.String(200), nullable=False),
        sa.Column("previous_version", sa.String(200)),
        sa.Column("new_color", sa.String(16), nullable=False),
        sa.Column("old_color", sa.String(16)),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("git_ref", sa.Text),
        sa.Column("git_sha", sa.String(64)),
        sa.Column("critical", sa.Boolean, nullable=False),
        sa.Column("needs_approval", sa.Boolean, nullable=False),
        sa.Column("monitor", sa.Boolean, nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("updated_at", _time(), nullable=False),
    )
    op.create_index("ix_deployments_service_env_created", "deployments", ["service", "environment", "created_at"])
    op.create_table(
        "events",
        sa.Column("deployment_id", sa.String(64), sa.ForeignKey("deployments.id"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("at", _time(), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("deployment_id", "seq", name="pk_events"),
    )
    op.create_index("ix_events_type_at", "events", ["type", "at"])
    op.create_table(
        "locks",
        sa.Column("service", sa.String(200), nullable=False),
        sa.Column("environment", sa.String(200), nullable=False),
        sa.Column("deployment_id", sa.String(64), nullable=False),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("host", sa.Text, nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("acquired_at", _time(), nullable=False),
        sa.Column("expires_at", _time(), nullable=False),
        sa.PrimaryKeyConstraint("service", "environment", name="pk_locks"),
    )


def downgrade() -> None:
    op.drop_table("locks")
    op.drop_table("events")
    op.drop_table("deployments")
