"""A deploy that found nothing live brings the recorded version back first: part of its route.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # A plain ADD COLUMN (SQLite and PostgreSQL both have it): a batch copy of the table would
    # trip the events' foreign key on SQLite.
    op.add_column("deployments", sa.Column("reconcile_first", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.drop_column("reconcile_first")
